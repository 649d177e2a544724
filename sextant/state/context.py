"""ContextWriter and ContextReader: the engine's live market state, over an mmap seqlock double buffer.

The engine owns one ContextWriter. It updates fields of its private record (`writer.record["mid"] = ...`,
`writer.push_trace(...)`), then `commit()` publishes the whole record atomically. Any number of readers, in any
process, take consistent snapshots or read single hot fields without ever blocking the writer.
"""

from __future__ import annotations

import os
import platform
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, SupportsInt

import numpy as np

from sextant.state import seqlock
from sextant.state.bus import Bus, ContextCommitted
from sextant.state.layout import (
    ACCOUNT_DTYPE,
    CONTEXT_DTYPE,
    CONTEXT_LAYOUT_HASH,
    CONTEXT_MAGIC,
    CONTEXT_RECORD_SIZE,
    HEADER_SIZE,
    INSTRUMENT_BYTES,
    MAX_INSTRUMENTS,
    OFFSET_SEQUENCE,
    OFFSET_WRITER_PID,
    TRACE_SLOTS,
    Autonomy,
    CrewAgent,
    CrewState,
    CrewTask,
    EStopState,
    TraceKind,
    TradingState,
    field_offset,
    instrument_view_dtype,
)
from sextant.state.memory import store_heartbeat
from sextant.state.shm import FileSpec, MappedFile, create, open_readonly

CONTEXT_SPEC = FileSpec(magic=CONTEXT_MAGIC, record_size=CONTEXT_RECORD_SIZE, record_count=2,
                        layout_hash=CONTEXT_LAYOUT_HASH, layout_name="field")

# Python-level hot reads use struct.unpack_from on the mmap instead of calling into numba, because a numba call
# with an array argument costs more than the whole read. That path has no explicit fences, which is sound only
# where loads are never reordered with other loads: x86-64 is TSO, and each unpack_from is an opaque C call the
# compiler cannot move loads across. Elsewhere (aarch64) hot reads go through the fenced njit readers.
_LOADS_ARE_ORDERED = platform.machine().lower() in {"x86_64", "amd64", "i386", "i686", "x86"}
_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")


def encode_text(text: str, size: int, what: str = "text") -> np.ndarray:
    """ASCII `text` NUL padded to `size` bytes, as the record's text fields hold it."""
    raw = text.encode("ascii")
    if len(raw) > size:
        raise ValueError(f"{what} {text!r} is longer than {size} bytes")
    out = np.zeros(size, np.uint8)
    out[: len(raw)] = np.frombuffer(raw, np.uint8)
    return out


def encode_instrument(instrument_id: str) -> np.ndarray:
    return encode_text(instrument_id, INSTRUMENT_BYTES, "instrument id")


def decode_instrument(raw: np.ndarray) -> str:
    """A text field of the record (an instrument id, a currency or asset code)."""
    return bytes(raw).split(b"\0", 1)[0].decode("ascii", errors="replace")


class RecordFields:
    """Cached views of one record's fields, for hot paths: `fields.mid.item()` reads a field at a tenth of the cost
    of `float(record["mid"])` (a structured-scalar lookup by name), `fields.mid[0] = x` writes it. A scalar field
    is a shape-(1,) view, an array field its row (`fields.momentum[0]`, `fields.momentum.item(0)`). Views are made
    on first use. Over a record (np.void) they are read-only views of its memory, so they follow later writes to
    it; over a shape-(1,) structured array (ContextWriter.fields) they are writable."""

    def __init__(self, source: np.void | np.ndarray) -> None:
        # np.frombuffer keeps the record alive through the view's base
        self._array = np.frombuffer(source, source.dtype) if isinstance(source, np.void) else source

    def __getattr__(self, name: str) -> np.ndarray:
        if name.startswith("_"):
            raise AttributeError(name)
        view = self._array[name]
        if view.ndim > 1:
            view = view[0]
        setattr(self, name, view)  # later reads are plain attribute hits
        return view


class ContextWriter:
    """The single writer of a ContextWindow file."""

    def __init__(self, path: str | os.PathLike[str], instruments: str | Sequence[str] = (), *,
                 bus: Bus | None = None) -> None:
        """`instruments`: the ids of the instruments the engine trades, one slot each in this order."""
        ids = [instruments] if isinstance(instruments, str) else list(instruments)
        if len(ids) > MAX_INSTRUMENTS:
            raise ValueError(f"{len(ids)} instruments: a ContextWindow holds at most {MAX_INSTRUMENTS}")
        self._file: MappedFile = create(path, CONTEXT_SPEC)
        self._storage = np.zeros(1, CONTEXT_DTYPE)
        self._bytes = self._storage.view(np.uint8)
        # the account's section and the instrument slots, for numba kernels (ACCOUNT_DTYPE's note)
        self.account_storage: np.ndarray = self._storage.view(ACCOUNT_DTYPE)
        self.slots: np.ndarray = self._storage["instruments"][0]
        self._slot_views = [self._storage.view(instrument_view_dtype(slot)) for slot in range(MAX_INSTRUMENTS)]
        self._slot_fields = [RecordFields(view) for view in self._slot_views]
        # The pending record as the first instrument's (`slot(0)`): assigning its fields updates it. Another
        # instrument's fields are `slot(i)`'s; the account's are the same in every view.
        self.record: np.void = self._slot_views[0][0]
        self.fields = self._slot_fields[0]  # writable views of the same, for hot paths
        for slot in range(MAX_INSTRUMENTS):
            self.slots[slot]["slot_index"] = slot
        for slot, instrument_id in enumerate(ids):
            self.slots[slot]["instrument"] = encode_instrument(instrument_id)
        self.record["instrument_count"] = len(ids)
        # ContextCommitted after each commit, to whoever subscribed (the scene recorder, `sextant sim`'s summary)
        self.bus = bus or Bus()
        # commit_if_due's throttle (0: every call commits) and the time of the commit that last opened an interval
        self._interval_ns = 0
        self._due_from_ns = 0
        self.commit()

    @property
    def path(self) -> Path:
        return self._file.path

    @property
    def created_ns(self) -> int:
        """When this writer made its file: the engine instance readers see in the header (a restart is another)."""
        return int(self._file.header[0]["created_ns"])

    @property
    def buffer(self) -> np.ndarray:
        """The writable uint8 view of the file, for njit writers (`seqlock.seqlock_publish`)."""
        return self._file.buf

    @property
    def storage(self) -> np.ndarray:
        """The pending record as a shape-(1,) structured array, for njit writers (`rec = storage[0]; rec.mid = x`)."""
        return self._storage

    @property
    def sequence(self) -> int:
        """Records published so far."""
        return self.fields.write_seq.item()

    @property
    def instrument_count(self) -> int:
        return int(self.record["instrument_count"])

    def slot(self, slot: int) -> np.void:
        """The pending record as instrument `slot`'s (layout.instrument_view_dtype): its fields and the account's,
        writable."""
        return self._slot_views[slot][0]

    def slot_fields(self, slot: int) -> RecordFields:
        """Writable views of instrument `slot`'s fields and the account's, for hot paths."""
        return self._slot_fields[slot]

    def slot_storage(self, slot: int) -> np.ndarray:
        """The pending record as a shape-(1,) array of instrument `slot`'s view, for njit code that reads an
        instrument's and the account's fields together (`rec = storage[0]; rec.mid`)."""
        return self._slot_views[slot]

    def load(self, record: np.void) -> None:
        """Make `record` (a whole record, e.g. from a scene, in any of the layout's views) the pending record."""
        self._bytes[:] = np.frombuffer(record.tobytes(), np.uint8)

    def push_trace(self, kind: TraceKind | int, price: float, size: float, ts_ns: int, slot: int = 0) -> None:
        """Append one market event to instrument `slot`'s 64-event trace (published with the next commit)."""
        fields = self._slot_fields[slot]
        count = fields.trace_count.item()
        slot = count % TRACE_SLOTS
        fields.trace_kind[slot] = kind
        fields.trace_price[slot] = price
        fields.trace_size[slot] = size
        fields.trace_ts_ns[slot] = ts_ns
        fields.trace_count[0] = count + 1

    def throttle(self, interval_ns: int) -> None:
        """Make `commit_if_due` publish at most once per `interval_ns` of the commit clock (0: always). For a
        process whose readers all read the pending record (`sextant sim`): publishing is the per-quote cost there.
        The rule is the scene recorder's (`SceneRecorder.on_context`), so with the recorder's interval the scene
        keeps exactly the records it would keep if every call committed."""
        self._interval_ns = interval_ns
        self._due_from_ns = 0

    def commit_if_due(self, now_ns: int) -> bool:
        """`commit(now_ns)` unless the throttle's interval since the last commit that opened one has not passed.
        Returns whether it committed."""
        if now_ns - self._due_from_ns < self._interval_ns:
            return False
        self.commit(now_ns)
        return True

    def commit(self, now_ns: int | None = None) -> int:
        """Publish the pending record. Returns its write number (the snapshot `sequence`)."""
        now = time.time_ns() if now_ns is None else now_ns
        if now - self._due_from_ns >= self._interval_ns:
            self._due_from_ns = now
        self.fields.wall_ns[0] = now
        sequence = int(seqlock.seqlock_publish(self._file.buf, self._bytes, now))
        if self.bus.has_subscribers(ContextCommitted):
            self.bus.publish(ContextCommitted(self._bytes, sequence, now, self.fields.ts_ns.item()))
        return sequence

    def heartbeat(self, now_ns: int | None = None) -> None:
        store_heartbeat(self._file.buf, time.time_ns() if now_ns is None else now_ns)

    def close(self) -> None:
        self._file.close()

    def remove(self) -> None:
        """Close and delete the file (if the path still holds this writer's): for a start that failed."""
        self._file.remove()


@dataclass(frozen=True, slots=True)
class ContextSnapshot:
    """One consistent ContextWindow record, seen as one instrument's (`slot`): `record` has the account's fields
    and that instrument's under their own names (layout.instrument_view_dtype). `at(slot)` sees another instrument
    in the same copy. `record` is a private copy; field access never touches shared memory."""

    sequence: int
    record: np.void
    heartbeat_ns: int
    slot: int = 0

    @staticmethod
    def of(sequence: int, raw: bytes | np.ndarray, heartbeat_ns: int, slot: int = 0) -> ContextSnapshot:
        """A snapshot of one record's bytes, as instrument `slot`'s."""
        return ContextSnapshot(sequence, np.frombuffer(raw, instrument_view_dtype(slot))[0], heartbeat_ns, slot)

    def __getitem__(self, name: str) -> Any:  # a scalar or an array, by field
        return self.record[name]

    def at(self, slot: int) -> ContextSnapshot:
        """The same record as instrument `slot`'s."""
        if slot == self.slot:
            return self
        return ContextSnapshot.of(self.sequence, self.record.tobytes(), self.heartbeat_ns, slot)

    @property
    def instrument(self) -> str:
        return decode_instrument(self.record["instrument"])

    @property
    def instrument_count(self) -> int:
        return int(self.record["instrument_count"])

    @property
    def instruments(self) -> list[str]:
        """The ids of the instruments in use, in slot order."""
        slots = np.frombuffer(self.record, CONTEXT_DTYPE)[0]["instruments"]  # the same bytes, no copy
        return [decode_instrument(slots[slot]["instrument"]) for slot in range(self.instrument_count)]

    @property
    def checksum_ok(self) -> bool:
        raw = np.frombuffer(self.record.tobytes(), np.uint8)
        return int(seqlock.record_checksum(raw, 0)) == int(self.record["checksum"])

    def trace(self) -> np.ndarray:
        """The retained market events, oldest first: a structured array (kind, price, size, ts_ns)."""
        return chronological_trace(self.record)

    def is_stale(self, max_age_s: float = 1.0, now_ns: int | None = None) -> bool:
        now = time.time_ns() if now_ns is None else now_ns
        return self.sequence == 0 or (now - self.heartbeat_ns) > max_age_s * 1e9

    def market_text(self) -> str:
        return render_market_text(self)


TRACE_DTYPE = np.dtype([("kind", "u1"), ("price", "<f8"), ("size", "<f8"), ("ts_ns", "<u8")])


def chronological_trace(record: np.void) -> np.ndarray:
    """Trace events in true chronological order, also after the ring has wrapped (the original's bug)."""
    count = int(record["trace_count"])
    retained = min(count, TRACE_SLOTS)
    first = count - retained
    slots = (np.arange(first, count) % TRACE_SLOTS).astype(np.int64)
    out = np.empty(retained, TRACE_DTYPE)
    out["kind"] = record["trace_kind"][slots]
    out["price"] = record["trace_price"][slots]
    out["size"] = record["trace_size"][slots]
    out["ts_ns"] = record["trace_ts_ns"][slots]
    return out


def _hot_field(name: str, unsigned: bool = False) -> property:
    """A property reading one field consistently from shared memory (see ContextReader.read_f64)."""
    offset = field_offset(name)
    if unsigned:
        return property(lambda self: self.read_u64(offset), doc=f"{name}, read live from shared memory")
    return property(lambda self: self.read_f64(offset), doc=f"{name}, read live from shared memory")


class ContextReader:
    """A read-only view of a ContextWindow file. Cheap to create; any number per process.

    Opening checks the file, and so do the liveness queries (`is_stale`, `heartbeat_age_s`, `writer_pid`). The
    seqlock reads (`snapshot`, `read_f64`, the hot fields) do not, to stay one copy: a long-lived reader calls
    `check_intact()` at its own bounded rate (the bridge, once per frame), so that a file truncated under it is a
    StateFileError and not a SIGBUS.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._file: MappedFile = open_readonly(path, CONTEXT_SPEC)
        self._mm = self._file.mm
        self._buf = self._file.buf

    @property
    def path(self) -> Path:
        return self._file.path

    @property
    def buffer(self) -> np.ndarray:
        """The raw uint8 view of the file, for njit readers (`sextant.state.seqlock.seqlock_read_f64` etc.)."""
        return self._buf

    def snapshot(self) -> ContextSnapshot:
        """A consistent copy of the last published record."""
        if not _LOADS_ARE_ORDERED:
            out = np.empty(CONTEXT_RECORD_SIZE, np.uint8)
            sequence = int(seqlock.seqlock_snapshot(self._buf, out))
            return ContextSnapshot.of(sequence, out, self.heartbeat_ns)
        # Same protocol as seqlock_snapshot; see _LOADS_ARE_ORDERED for why this is sound on x86-64.
        mm = self._mm
        while True:
            completed = _U64.unpack_from(mm, OFFSET_SEQUENCE)[0] >> 1
            base = HEADER_SIZE + (completed & 1) * CONTEXT_RECORD_SIZE
            copy = mm[base:base + CONTEXT_RECORD_SIZE]
            if _U64.unpack_from(mm, OFFSET_SEQUENCE)[0] - 2 * completed < 3:
                return ContextSnapshot.of(completed, copy, self.heartbeat_ns)

    @property
    def sequence(self) -> int:
        """Number of records published so far (0: the writer has not committed yet)."""
        return _U64.unpack_from(self._mm, OFFSET_SEQUENCE)[0] >> 1

    @property
    def heartbeat_ns(self) -> int:
        return self._file.heartbeat_ns

    @property
    def writer_pid(self) -> int:
        self._file.check_intact()
        return _U64.unpack_from(self._mm, OFFSET_WRITER_PID)[0]

    def check_intact(self) -> None:
        """Raise StateFileError if the file was truncated under this reader (see the class docstring)."""
        self._file.check_intact()

    def heartbeat_age_s(self, now_ns: int | None = None) -> float:
        self._file.check_intact()
        return ((time.time_ns() if now_ns is None else now_ns) - self.heartbeat_ns) / 1e9

    def is_stale(self, max_age_s: float = 1.0) -> bool:
        self._file.check_intact()
        return self.sequence == 0 or self.heartbeat_age_s() > max_age_s

    def read_f64(self, offset: int) -> float:
        """One float field (byte offset from `layout.field_offset`), consistent with a single write."""
        if not _LOADS_ARE_ORDERED:
            return float(seqlock.seqlock_read_f64(self._buf, offset))
        return self._read_ordered(_F64, offset)

    def read_u64(self, offset: int) -> int:
        """One unsigned 64-bit field, consistent with a single write."""
        if not _LOADS_ARE_ORDERED:
            return int(seqlock.seqlock_read_u64(self._buf, offset))
        return self._read_ordered(_U64, offset)

    def _read_ordered(self, field: struct.Struct, offset: int) -> Any:  # float or int, by `field`
        """The seqlock read of seqlock.py, through struct (see _LOADS_ARE_ORDERED)."""
        mm = self._mm
        while True:
            completed = _U64.unpack_from(mm, OFFSET_SEQUENCE)[0] >> 1
            value = field.unpack_from(mm, HEADER_SIZE + (completed & 1) * CONTEXT_RECORD_SIZE + offset)[0]
            if _U64.unpack_from(mm, OFFSET_SEQUENCE)[0] - 2 * completed < 3:
                return value

    # Hot fields: what the bridge and the agents read every frame or tick.
    mid = _hot_field("mid")
    bid = _hot_field("bid")
    ask = _hot_field("ask")
    spread_bps = _hot_field("spread_bps")
    position_size = _hot_field("position_size")
    unrealized_pnl = _hot_field("unrealized_pnl")
    risk_total = _hot_field("risk_total")
    ts_ns = _hot_field("ts_ns", unsigned=True)

    def close(self) -> None:
        self._file.close()


OFFSET_MID = field_offset("mid")

_TASK_TEXT: dict[CrewTask, str] = {
    CrewTask.IDLE: "idle",
    CrewTask.WATCHING_PRICE: "watching {value:,.7g}",  # 60,123.45 and 1.072195 alike
    CrewTask.MOMENTUM_SIGNAL: "momentum {value:+.5f}",
    CrewTask.FADING_ZSCORE: "fading z {value:+.2f}",
    CrewTask.RISK_NOMINAL: "hull nominal, U={value:.2f}",
    CrewTask.RISK_WARNING: "hull strain, U={value:.2f}",
    CrewTask.RISK_VETO: "veto, U={value:.2f}",
    CrewTask.HEDGING_DELTA: "hedging delta {value:+.2f}",
    CrewTask.ASKING_LLM: "asking L{value:.0f} model",
    CrewTask.LLM_BUDGET_SPENT: "LLM budget spent (${value:.2f}/h), rules only",
    CrewTask.COOLDOWN: "cooldown {value:.0f}s",
    CrewTask.TRADE_LIMIT: "trade limit reached ({value:.0f})",
    CrewTask.HALTED: "halted",
    CrewTask.WAITING_APPROVAL: "awaiting approval {value:.0f}s",
    CrewTask.HOLDING_FOR_CARD: "holds: a card waits {value:.0f}s",
    CrewTask.MOMENTUM_Z: "momentum z {value:+.2f}",
}


def render_crew_task(task: int, value: float) -> str:
    """The one-line task of a crew member, from its code and number."""
    try:
        return _TASK_TEXT[CrewTask(task)].format(value=value)
    except ValueError:
        return f"task {task} ({value:g})"


def validated_share(reproduced: int, answered: int) -> str:
    """The crew's decisions a validator re-ran and reproduced, of those it answered; empty before any answer."""
    if answered <= 0:
        return ""
    return f"validated {100 * reproduced // answered}% ({reproduced}/{answered})"


def crew_lines(snapshot: ContextSnapshot) -> list[tuple[str, str, str]]:
    """(agent, state, task) for each crew slot in use."""
    record = snapshot.record
    lines = []
    for slot in range(int(record["crew_count"])):
        agent = _enum_name(CrewAgent, record["crew_agent"][slot])
        state = _enum_name(CrewState, record["crew_state"][slot])
        task = render_crew_task(int(record["crew_task"][slot]), float(record["crew_task_value"][slot]))
        lines.append((agent, state, task))
    return lines


def _enum_name(enum: type[IntEnum], value: SupportsInt) -> str:
    try:
        return enum(int(value)).name
    except ValueError:
        return f"#{int(value)}"


def render_market_text(snapshot: ContextSnapshot) -> str:
    """The LLM-readable market line, rendered from the numbers (never the other way round)."""
    r = snapshot.record
    if snapshot.sequence == 0:
        return "No market data yet."
    position = float(r["position_size"])
    side = "FLAT" if position == 0 else ("LONG" if position > 0 else "SHORT")
    horizons = " ".join(
        f"{h:g}s:{m:+.5f}/{v:.1%}"
        for h, m, v in zip(r["horizon_s"], r["momentum"], r["volatility"], strict=True) if h > 0)
    parts = [
        f"{snapshot.instrument}",
        f"bid {float(r['bid']):.2f} x {float(r['bid_size']):.2f}",
        f"ask {float(r['ask']):.2f} x {float(r['ask_size']):.2f}",
        f"mid {float(r['mid']):.2f}",
        f"spread {float(r['spread_bps']):.2f}bps",
        f"momentum/vol {horizons}" if horizons else "momentum/vol n/a",
        f"sea {float(r['sea_state']):.2f}",
        (f"position {side} {abs(position):.2f} @ {float(r['entry_price']):.2f} uPnL {float(r['unrealized_pnl']):+.2f}"
         if position else "position FLAT"),
        f"rPnL {float(r['realized_pnl']):+.2f}",
        f"risk U={float(r['risk_total']):.3f}",
        f"state {_enum_name(TradingState, r['trading_state'])}/{_enum_name(EStopState, r['estop'])}",
        f"autonomy {_enum_name(Autonomy, r['autonomy'])}",
    ]
    return " | ".join(parts)
