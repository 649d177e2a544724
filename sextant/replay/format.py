"""The scene format (docs/scene-format.md): one directory per session.

    metadata.json    versions, seed, config (no secrets), instrument, start and stop times, counts
    quotes.arrow     the market data: ts_event, ts_init, bid, ask, bid_size, ask_size, slot (one row per quote; slot:
                     the instrument's ContextWindow slot, in the order of metadata's "instruments")
    context.arrow    ContextWindow snapshots: wall_ns, ts_ns, sequence, record (the raw record bytes)
    events.arrow     every engine event: seq, ts_ns, kind, payload (msgpack, as on the EventRing)
    commands.arrow   every command the engine received: ts_ns, kind, payload
    decisions.arrow  the ContextWindow record each intent was decided on: intent_id, context_hash (keccak-256 of the
                     record, as its decision record names it), record; absent from scenes recorded before it was

The four tables are Arrow IPC streams, written one record batch per second: a standard columnar format any Arrow
reader opens (pyarrow, polars, DuckDB, Nautilus' own Arrow tooling), appended without rewriting, and readable up
to the last complete batch if the writer died mid-write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute

from sextant.state.layout import CONTEXT_DTYPE, CONTEXT_RECORD_SIZE, LAYOUT_VERSION, instrument_view_dtype

FORMAT_NAME = "sextant-scene"
FORMAT_VERSION = 2  # 2: quotes carry their instrument's slot (a portfolio's scene)
METADATA_FILE = "metadata.json"

QUOTES_SCHEMA = pa.schema([("ts_event", pa.uint64()), ("ts_init", pa.uint64()), ("bid", pa.float64()),
                           ("ask", pa.float64()), ("bid_size", pa.float64()), ("ask_size", pa.float64()),
                           ("slot", pa.uint8())])
CONTEXT_SCHEMA = pa.schema([("wall_ns", pa.uint64()), ("ts_ns", pa.uint64()), ("sequence", pa.uint64()),
                            ("record", pa.binary(CONTEXT_RECORD_SIZE))])
EVENTS_SCHEMA = pa.schema([("seq", pa.uint64()), ("ts_ns", pa.uint64()), ("kind", pa.uint16()),
                           ("payload", pa.binary())])
COMMANDS_SCHEMA = pa.schema([("ts_ns", pa.uint64()), ("kind", pa.uint16()), ("payload", pa.binary())])
DECISIONS_SCHEMA = pa.schema([("intent_id", pa.string()), ("context_hash", pa.binary(32)),
                              ("record", pa.binary(CONTEXT_RECORD_SIZE))])

TABLES: dict[str, pa.Schema] = {"quotes": QUOTES_SCHEMA, "context": CONTEXT_SCHEMA, "events": EVENTS_SCHEMA,
                                "commands": COMMANDS_SCHEMA, "decisions": DECISIONS_SCHEMA}
OPTIONAL_TABLES = frozenset({"decisions"})  # absent from scenes recorded before it was: read as empty


class SceneError(Exception):
    """A scene cannot be read: the message names the file and what is wrong with it."""


def table_path(scene: Path, name: str) -> Path:
    return scene / f"{name}.arrow"


def read_table(scene: Path, name: str) -> pa.Table:
    """A table of a scene, up to its last complete batch (a writer that died mid-batch loses only that batch)."""
    path = table_path(scene, name)
    schema = TABLES[name]
    if not path.exists() and name in OPTIONAL_TABLES:
        return schema.empty_table()
    if not path.exists():
        raise SceneError(f"{path}: missing; is {scene} a scene directory (docs/scene-format.md)?")
    batches = []
    with pa.OSFile(str(path), "rb") as source:
        try:
            reader = pa.ipc.open_stream(source)
        except pa.ArrowInvalid as error:
            if path.stat().st_size == 0:
                return schema.empty_table()
            raise SceneError(f"{path}: not an Arrow IPC stream ({error})") from error
        if not reader.schema.equals(schema):
            raise SceneError(f"{path}: columns {reader.schema.names} are not the {name} table's {schema.names}")
        while True:
            try:
                batches.append(reader.read_next_batch())
            except StopIteration:
                break
            except (pa.ArrowInvalid, OSError):
                break  # a torn last batch: everything before it stands
    return pa.Table.from_batches(batches, schema=schema)


def read_metadata(scene: Path) -> dict[str, Any]:
    path = scene / METADATA_FILE
    try:
        metadata = json.loads(path.read_text())
    except FileNotFoundError:
        raise SceneError(f"{path}: missing; is {scene} a scene directory (docs/scene-format.md)?") from None
    except json.JSONDecodeError as error:
        raise SceneError(f"{path}: not valid JSON ({error})") from error
    if metadata.get("format") != FORMAT_NAME or metadata.get("format_version") != FORMAT_VERSION:
        raise SceneError(f"{path}: format {metadata.get('format')!r} v{metadata.get('format_version')}, expected "
                         f"{FORMAT_NAME!r} v{FORMAT_VERSION}")
    if metadata.get("context_layout_version") != LAYOUT_VERSION:
        raise SceneError(f"{path}: recorded with ContextWindow layout v{metadata.get('context_layout_version')}, "
                         f"this build reads v{LAYOUT_VERSION}")
    return metadata


@dataclass(frozen=True, slots=True)
class ContextRows:
    wall_ns: Any  # numpy arrays
    ts_ns: Any
    sequence: Any
    records: Any  # structured array of whole records (CONTEXT_DTYPE)

    def instrument(self, slot: int = 0) -> Any:
        """The records as instrument `slot`'s (layout.instrument_view_dtype), without a copy. Index the whole
        records, then view: a copy of a view keeps only its own fields, not the other instruments' slots."""
        return self.records.view(instrument_view_dtype(slot))


def read_context(scene: Path) -> ContextRows:
    import numpy as np

    table = read_table(scene, "context")
    raw = b"".join(table.column("record").to_pylist()) if table.num_rows else b""
    records = np.frombuffer(raw, CONTEXT_DTYPE) if raw else np.zeros(0, CONTEXT_DTYPE)
    return ContextRows(table.column("wall_ns").to_numpy(), table.column("ts_ns").to_numpy(),
                       table.column("sequence").to_numpy(), records)


def read_quotes(scene: Path) -> pa.Table:
    """A one-instrument scene's quotes; a portfolio's scene (quotes of several slots) is refused with the reason."""
    table = read_table(scene, "quotes")
    if table.num_rows and pa.compute.max(table.column("slot")).as_py() > 0:
        raise SceneError(f"{scene}: a portfolio's scene (quotes of several instruments); this reads one instrument's")
    return table


def read_decisions(scene: Path) -> dict[bytes, tuple[str, bytes]]:
    """The records intents were decided on, by their keccak-256: (intent id, record bytes)."""
    table = read_table(scene, "decisions")
    return {context_hash: (intent_id, record) for intent_id, context_hash, record in zip(
        table.column("intent_id").to_pylist(), table.column("context_hash").to_pylist(),
        table.column("record").to_pylist(), strict=True)}
