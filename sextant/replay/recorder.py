"""SceneRecorder: writes a running engine's session as a scene (docs/scene-format.md).

The engine thread only appends rows to in-memory lists (a lock held for an append); a background thread turns
them into one Arrow record batch per table each second and appends it to the files. Recording therefore never
waits on the disk, and a crash loses at most the last second. ContextWindow snapshots are kept at most every
`context_interval_s` of the engine's clock (wall time live, simulated time in a sim): a replay needs no more.
"""

from __future__ import annotations

import json
import platform
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
from eth_utils import keccak

from sextant.replay.format import FORMAT_NAME, FORMAT_VERSION, METADATA_FILE, TABLES, table_path
from sextant.state import messages
from sextant.state.bus import CommandRead, ContextCommitted, EventPublished, QuoteEncoded
from sextant.state.layout import CONTEXT_RECORD_SIZE, LAYOUT_VERSION


class SceneRecorder:
    def __init__(self, directory: str | Path, metadata: dict[str, Any], *, context_interval_s: float = 0.05,
                 flush_interval_s: float = 1.0) -> None:
        self.directory = Path(directory)
        self._metadata = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
                          "context_layout_version": LAYOUT_VERSION, "context_record_size": CONTEXT_RECORD_SIZE,
                          "python": platform.python_version(), **metadata}
        self._context_interval_ns = int(context_interval_s * 1e9)
        self._flush_interval_s = flush_interval_s
        self._lock = threading.Lock()
        self._rows: dict[str, list[tuple]] = {name: [] for name in TABLES}
        self._counts: dict[str, int] = dict.fromkeys(TABLES, 0)
        self._last_context_ns = 0
        self._writers: dict[str, pa.ipc.RecordBatchStreamWriter] = {}
        self._files: dict[str, pa.OSFile] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []

    # ------------------------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._metadata["started_ns"] = time.time_ns()
        self._write_metadata()
        for name, schema in TABLES.items():
            self._files[name] = pa.OSFile(str(table_path(self.directory, name)), "wb")
            # zstd: a ContextWindow record is mostly zeros and repeats; compressed, a scene stays small.
            self._writers[name] = pa.ipc.new_stream(self._files[name], schema,
                                                    options=pa.ipc.IpcWriteOptions(compression="zstd"))
        self._thread = threading.Thread(target=self._run, name="sextant-recorder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._flush()
        for name in TABLES:
            if name in self._writers:
                self._writers[name].close()
                self._files[name].close()
        self._writers.clear()
        self._metadata["stopped_ns"] = time.time_ns()
        self._metadata["rows"] = dict(self._counts)
        if self.errors:
            self._metadata["errors"] = self.errors[-10:]
        self._write_metadata()

    def _write_metadata(self) -> None:
        path = self.directory / METADATA_FILE
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(self._metadata, indent=2, sort_keys=True, default=str))
        temporary.replace(path)

    def _run(self) -> None:
        while not self._stop.wait(self._flush_interval_s):
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            taken = {name: rows for name, rows in self._rows.items() if rows}
            for name in taken:
                self._rows[name] = []
        for name, rows in taken.items():
            writer = self._writers.get(name)
            if writer is None:
                continue
            try:
                columns = list(zip(*rows, strict=True))
                batch = pa.record_batch([pa.array(column, type=field.type) for column, field in
                                         zip(columns, TABLES[name], strict=True)], schema=TABLES[name])
                writer.write_batch(batch)
                self._files[name].flush()
                self._counts[name] += len(rows)
            except (pa.ArrowException, OSError) as error:  # a full disk must not stop the engine
                self.errors.append(f"{name}: {error}")

    # ------------------------------------------------------------------------------------------- hooks

    def _append(self, name: str, row: tuple) -> None:
        with self._lock:
            self._rows[name].append(row)

    def on_quote(self, quote: QuoteEncoded) -> None:
        self._append("quotes", (quote.ts_event, quote.ts_init, quote.bid, quote.ask, quote.bid_size, quote.ask_size,
                                quote.slot))

    def on_context(self, committed: ContextCommitted) -> None:
        """Each ContextWindow commit, with the committed record's bytes; keeps one per interval."""
        if committed.wall_ns - self._last_context_ns < self._context_interval_ns:
            return
        self._last_context_ns = committed.wall_ns
        self._append("context", (committed.wall_ns, committed.ts_ns, committed.sequence, committed.record.tobytes()))

    def on_decision(self, intent_id: str, record: bytes) -> None:
        """The ContextWindow record an intent was decided on, whole: a validator re-runs the agent on it (the
        periodic snapshots may not hold that moment)."""
        self._append("decisions", (intent_id, keccak(record), record))

    def on_event(self, published: EventPublished) -> None:
        event = published.event
        self._append("events", (published.seq, published.ts_ns, event.KIND, messages.encode(event)))

    def on_command(self, read: CommandRead) -> None:
        received = read.received
        payload = received.raw if received.message is None else messages.encode(received.message)
        self._append("commands", (received.ts_ns, received.kind, payload or b""))
