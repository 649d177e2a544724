"""EventRing (engine → bridge) and CommandRing (bridge → engine): single-writer, many-reader rings over mmap.

Message m (counting from 0) goes to slot m % N. The header's sequence word is the number of messages published.
Each slot has its own sequence word (see `layout.py`): 2m + 1 while message m is written, 2m + 2 once complete.

A reader owns its cursor (the next message number it wants) and never writes to the file. When it has fallen
more than N behind, every message older than the last N has certainly been overwritten: it skips them and adds
them to `lost`. A slot that turns out to hold a newer message, or changes while being copied, is one more lost
message. So `received + lost` always equals the number of messages published since the reader's start.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numba import njit

from sextant.state import messages
from sextant.state.layout import (
    COMMAND_RING_MAGIC,
    COMMAND_RING_SLOT_SIZE,
    COMMAND_RING_SLOTS,
    ESTOP_COMMAND_ID_SIZE,
    EVENT_RING_MAGIC,
    EVENT_RING_SLOT_SIZE,
    EVENT_RING_SLOTS,
    HEADER_DTYPE,
    HEADER_SIZE,
    MAGIC_NAMES,
    OFFSET_ESTOP_COMMAND_ID,
    OFFSET_ESTOP_REQUEST_NS,
    OFFSET_ESTOP_REQUESTS,
    OFFSET_SEQUENCE,
    RING_LAYOUT_HASH,
    SLOT_FLAG_RAW_PREFIX,
    SLOT_FLAG_TRUNCATED,
    SLOT_HEADER_SIZE,
)
from sextant.state.memory import (
    JIT_OPTIONS,
    drop_jit_cache_of_another_layout,
    fence_acquire,
    fence_release,
    load_acquire_u64,
    load_relaxed_u64,
    load_u64,
    store_heartbeat,
    store_relaxed_u64,
    store_release_u64,
    store_u64,
)
from sextant.state.shm import FileSpec, MappedFile, StateFileError, check_usable, create, open_readonly

_CURSOR_NEXT = 0
_CURSOR_LOST = 1


@njit(**JIT_OPTIONS)
def ring_publish(buf: np.ndarray, slot_count: int, slot_size: int, kind: int, flags: int, ts_ns: int,
                 payload: np.ndarray, length: int, now_ns: int) -> int:
    """Publish one message (payload[:length] must fit the slot). Returns its message number. Single writer."""
    number = np.int64(load_relaxed_u64(buf, OFFSET_SEQUENCE))
    base = HEADER_SIZE + (number % slot_count) * slot_size
    store_relaxed_u64(buf, base, 2 * number + 1)
    fence_release()
    store_u64(buf, base + 8, np.int64(kind) | (np.int64(flags) << 16) | (np.int64(length) << 32))
    store_u64(buf, base + 16, ts_ns)
    buf[base + SLOT_HEADER_SIZE:base + SLOT_HEADER_SIZE + length] = payload[:length]
    store_release_u64(buf, base, 2 * number + 2)
    store_release_u64(buf, OFFSET_SEQUENCE, number + 1)
    store_heartbeat(buf, now_ns)
    return number  # type: ignore[return-value]  # numba returns an int64 as a Python int


@njit(**JIT_OPTIONS)
def ring_drain(buf: np.ndarray, slot_count: int, slot_size: int, cursor: np.ndarray, out: np.ndarray,
               numbers: np.ndarray) -> int:
    """Copy up to len(out) complete messages, oldest first, into the rows of `out` (slot header + payload).

    `cursor` is int64[2]: the next message number, and the running count of lost messages. `numbers` receives
    each copied message's number. Returns how many rows were filled.
    """
    filled = 0
    while filled < out.shape[0]:
        published = np.int64(load_acquire_u64(buf, OFFSET_SEQUENCE))
        wanted = cursor[_CURSOR_NEXT]
        if wanted >= published:
            break
        if published - wanted > slot_count:
            cursor[_CURSOR_LOST] += published - slot_count - wanted
            wanted = published - slot_count
        base = HEADER_SIZE + (wanted % slot_count) * slot_size
        before = np.int64(load_acquire_u64(buf, base))
        if before == 2 * wanted + 2:
            length = np.int64(load_u64(buf, base + 8) >> np.uint64(32))
            copied = min(SLOT_HEADER_SIZE + length, slot_size)
            out[filled, :copied] = buf[base:base + copied]
            fence_acquire()
            if np.int64(load_relaxed_u64(buf, base)) == before:
                numbers[filled] = wanted
                filled += 1
                cursor[_CURSOR_NEXT] = wanted + 1
                continue
        # The writer lapped us on this slot: message `wanted` is gone.
        cursor[_CURSOR_LOST] += 1
        cursor[_CURSOR_NEXT] = wanted + 1
    return filled


@njit(**JIT_OPTIONS)
def ring_published(buf: np.ndarray) -> int:
    return np.int64(load_acquire_u64(buf, OFFSET_SEQUENCE))  # type: ignore[return-value]  # numba returns an int64 as a Python int


@njit(**JIT_OPTIONS)
def estop_latch_store(buf: np.ndarray, command_id: np.ndarray, length: int, ts_ns: int) -> None:
    """Latch one E-stop engage in the CommandRing header. The word counts twice the engages: odd while the id and
    time are being written (a seqlock, as the ContextWindow's), even once they are complete. Single writer."""
    word = np.int64(load_relaxed_u64(buf, OFFSET_ESTOP_REQUESTS))
    store_relaxed_u64(buf, OFFSET_ESTOP_REQUESTS, word + 1)
    fence_release()
    store_u64(buf, OFFSET_ESTOP_REQUEST_NS, ts_ns)
    buf[OFFSET_ESTOP_COMMAND_ID:OFFSET_ESTOP_COMMAND_ID + ESTOP_COMMAND_ID_SIZE] = 0
    buf[OFFSET_ESTOP_COMMAND_ID:OFFSET_ESTOP_COMMAND_ID + length] = command_id[:length]
    store_release_u64(buf, OFFSET_ESTOP_REQUESTS, word + 2)


@njit(**JIT_OPTIONS)
def estop_latch_word(buf: np.ndarray) -> int:
    """The latch word: twice the engages latched so far (plus one while the next is being written)."""
    return np.int64(load_acquire_u64(buf, OFFSET_ESTOP_REQUESTS))  # type: ignore[return-value]  # numba returns an int64 as a Python int


@njit(**JIT_OPTIONS)
def estop_latch_read(buf: np.ndarray, command_id: np.ndarray) -> tuple[int, int]:
    """(engages latched, the last one's time), with its id copied into `command_id`; retries while the writer is
    mid-write or laps the copy."""
    while True:
        before = np.int64(load_acquire_u64(buf, OFFSET_ESTOP_REQUESTS))
        if before % 2 == 0:
            ts_ns = np.int64(load_u64(buf, OFFSET_ESTOP_REQUEST_NS))
            command_id[:] = buf[OFFSET_ESTOP_COMMAND_ID:OFFSET_ESTOP_COMMAND_ID + ESTOP_COMMAND_ID_SIZE]
            fence_acquire()
            if np.int64(load_relaxed_u64(buf, OFFSET_ESTOP_REQUESTS)) == before:
                return before // 2, ts_ns  # type: ignore[return-value]  # numba returns an int64 as a Python int


drop_jit_cache_of_another_layout(estop_latch_read)


@dataclass(frozen=True, slots=True)
class EStopLatch:
    """What a CommandRing's E-stop latch holds: engages sent since the ring was created, and the last one's."""

    requests: int
    command_id: str
    ts_ns: int


@dataclass(frozen=True, slots=True)
class RingMessage[M: messages.Message]:
    """One message as a reader received it."""

    number: int  # position in the ring's history, from 0
    kind: int
    ts_ns: int
    truncated: bool  # fields were shortened to fit the slot (message still complete otherwise)
    message: M | None  # None when the payload could not be decoded; see `error`
    raw: bytes = b""  # the payload, kept when it could not be decoded
    error: str = ""

    @property
    def type_name(self) -> str:
        known = messages.TYPES_BY_KIND.get(self.kind)
        return known.__name__ if known else f"kind {self.kind}"


@dataclass(frozen=True, slots=True)
class _RingKind:
    magic: int
    base: type[messages.Message]
    default_slots: int
    default_slot_size: int

    def spec(self, slots: int | None = None, slot_size: int | None = None) -> FileSpec:
        """The file spec; a reader passes no geometry and takes the writer's from the header."""
        return FileSpec(magic=self.magic, record_size=slot_size or self.default_slot_size,
                        record_count=slots or self.default_slots, layout_hash=RING_LAYOUT_HASH, layout_name="slot",
                        fixed_geometry=False, min_record_size=SLOT_HEADER_SIZE + 8)


_EVENTS = _RingKind(EVENT_RING_MAGIC, messages.Event, EVENT_RING_SLOTS, EVENT_RING_SLOT_SIZE)
_COMMANDS = _RingKind(COMMAND_RING_MAGIC, messages.Command, COMMAND_RING_SLOTS, COMMAND_RING_SLOT_SIZE)
# What a reader checks a ring against (its geometry comes from the header): for `shm.check_usable`.
EVENT_RING_SPEC = _EVENTS.spec()
COMMAND_RING_SPEC = _COMMANDS.spec()


class _RingWriter[M: messages.Message]:
    _ring: _RingKind

    def __init__(self, path: str | os.PathLike[str], slots: int | None = None, slot_size: int | None = None) -> None:
        slot_count = self._ring.default_slots if slots is None else slots
        size = self._ring.default_slot_size if slot_size is None else slot_size
        if slot_count < 2:
            raise ValueError(f"a ring needs at least 2 slots, got {slot_count}")
        if size < SLOT_HEADER_SIZE + 32 or size % 8:
            raise ValueError(f"slot size must be a multiple of 8 and at least {SLOT_HEADER_SIZE + 32}, got {size}")
        self._file: MappedFile = create(path, self._ring.spec(slot_count, size))
        self.slot_count = slot_count
        self.slot_size = size
        self.capacity = size - SLOT_HEADER_SIZE
        # Load the publish kernel now (numba's cache: ~10 ms), on scratch memory of the same types (a payload from
        # bytes is read-only), rather than on the first message, which may be an intent on its way to an order.
        ring_publish(np.zeros(HEADER_SIZE + size, np.uint8), 1, size, 0, 0, 0, np.frombuffer(bytes(8), np.uint8), 0, 0)

    @property
    def path(self) -> Path:
        return self._file.path

    @property
    def published(self) -> int:
        return int(ring_published(self._file.buf))

    @property
    def buffer(self) -> np.ndarray:
        """The writable uint8 view of the file, for njit publishers (`ring_publish`)."""
        return self._file.buf

    def publish(self, message: M, ts_ns: int | None = None) -> int:
        """Publish a typed message; returns its number. A message too big for a slot is truncated, with a flag."""
        if not isinstance(message, self._ring.base):
            raise TypeError(f"{type(message).__name__} is not a {self._ring.base.__name__}; it does not belong on "
                            f"the {MAGIC_NAMES[self._ring.magic]}")
        fitted = messages.fit_to_capacity(message, self.capacity)
        flags = (SLOT_FLAG_TRUNCATED if fitted.truncated else 0) | (0 if fitted.decodable else SLOT_FLAG_RAW_PREFIX)
        return self.publish_raw(message.KIND, fitted.payload, flags=flags, ts_ns=ts_ns)

    def publish_raw(self, kind: int, payload: bytes, *, flags: int = 0, ts_ns: int | None = None) -> int:
        if len(payload) > self.capacity:
            raise ValueError(f"payload of {len(payload)} bytes exceeds the slot capacity of {self.capacity}")
        now = time.time_ns()
        array = np.frombuffer(payload, np.uint8)
        return int(ring_publish(self._file.buf, self.slot_count, self.slot_size, kind, flags,
                                now if ts_ns is None else ts_ns, array, len(payload), now))

    def heartbeat(self, now_ns: int | None = None) -> None:
        store_heartbeat(self._file.buf, time.time_ns() if now_ns is None else now_ns)

    def close(self) -> None:
        self._file.close()

    def remove(self) -> None:
        """Close and delete the file (if the path still holds this writer's): for a start that failed."""
        self._file.remove()


class _RingReader[M: messages.Message]:
    _ring: _RingKind

    def __init__(self, path: str | os.PathLike[str], start: Literal["oldest", "latest"] = "oldest",
                 batch: int = 64) -> None:
        self._file: MappedFile = open_readonly(path, self._ring.spec())
        header = self._file.header[0]
        self.slot_count = int(header["record_count"])
        self.slot_size = int(header["record_size"])
        published = int(ring_published(self._file.buf))
        first = max(0, published - self.slot_count) if start == "oldest" else published
        self._cursor = np.array([first, 0], np.int64)
        self._out = np.zeros((batch, self.slot_size), np.uint8)
        self._numbers = np.zeros(batch, np.int64)

    @property
    def path(self) -> Path:
        return self._file.path

    @property
    def lost(self) -> int:
        """Messages this reader will never see, because the writer overwrote them first. Exact."""
        return int(self._cursor[_CURSOR_LOST])

    @property
    def next_number(self) -> int:
        return int(self._cursor[_CURSOR_NEXT])

    @property
    def published(self) -> int:
        self._file.check_intact()
        return int(ring_published(self._file.buf))

    @property
    def heartbeat_ns(self) -> int:
        self._file.check_intact()
        return self._file.heartbeat_ns

    @property
    def writer_pid(self) -> int:
        self._file.check_intact()
        return int(self._file.header[0]["writer_pid"])

    def check_intact(self) -> None:
        """Raise StateFileError if the file was truncated under this reader: reading it would raise SIGBUS."""
        self._file.check_intact()

    def drain(self, max_messages: int | None = None) -> list[RingMessage[M]]:
        """Everything published since the last drain (up to `max_messages`), oldest first. Raises StateFileError,
        reading nothing, if the file was truncated under this reader."""
        self._file.check_intact()
        received: list[RingMessage[M]] = []
        batch = self._out.shape[0]
        while max_messages is None or len(received) < max_messages:
            rows = batch if max_messages is None else min(batch, max_messages - len(received))
            count = int(ring_drain(self._file.buf, self.slot_count, self.slot_size, self._cursor, self._out[:rows],
                                   self._numbers))
            for row in range(count):
                received.append(self._decode_row(row))
            if count < rows:
                break
        return received

    def _decode_row(self, row: int) -> RingMessage[M]:
        slot = self._out[row]
        meta = int(slot[8:16].view(np.uint64)[0])
        kind, flags, length = meta & 0xFFFF, (meta >> 16) & 0xFFFF, meta >> 32
        ts_ns = int(slot[16:24].view(np.uint64)[0])
        payload = slot[SLOT_HEADER_SIZE:SLOT_HEADER_SIZE + length].tobytes()
        number = int(self._numbers[row])
        truncated = bool(flags & SLOT_FLAG_TRUNCATED)
        if flags & SLOT_FLAG_RAW_PREFIX:
            return RingMessage(number, kind, ts_ns, True, None, payload,
                               "message was larger than a slot and could not be shortened; raw prefix kept")
        try:
            decoded = messages.decode(kind, payload)
        except messages.MessageDecodeError as error:
            return RingMessage(number, kind, ts_ns, truncated, None, payload, str(error))
        if not isinstance(decoded, self._ring.base):
            return RingMessage(number, kind, ts_ns, truncated, None, payload,
                               f"{type(decoded).__name__} does not belong on the {MAGIC_NAMES[self._ring.magic]}")
        return RingMessage(number, kind, ts_ns, truncated, decoded)  # type: ignore[arg-type]

    def close(self) -> None:
        self._file.close()


class EventRingWriter(_RingWriter[messages.Event]):
    _ring = _EVENTS


class EventRingReader(_RingReader[messages.Event]):
    _ring = _EVENTS


class CommandRingWriter(_RingWriter[messages.Command]):
    _ring = _COMMANDS

    def publish(self, message: messages.Command, ts_ns: int | None = None) -> int:
        """As every ring's publish; an E-stop engage is latched in the header first, so that no flood of later
        commands overwriting its slot can lose it."""
        if isinstance(message, messages.EStop) and message.engage:
            encoded = message.command_id.encode()[:ESTOP_COMMAND_ID_SIZE]
            estop_latch_store(self._file.buf, np.frombuffer(encoded, np.uint8).copy(), len(encoded),
                              time.time_ns() if ts_ns is None else ts_ns)
        return super().publish(message, ts_ns)


class CommandRingReader(_RingReader[messages.Command]):
    _ring = _COMMANDS

    def __init__(self, path: str | os.PathLike[str], start: Literal["oldest", "latest"] = "oldest",
                 batch: int = 64) -> None:
        super().__init__(path, start, batch)
        self._latched_id = np.zeros(ESTOP_COMMAND_ID_SIZE, np.uint8)

    @property
    def estop_requests(self) -> int:
        """E-stop engages latched in this ring so far: one load, cheap enough for every quote. Unchecked: call
        `check_intact()` first where the file may have been truncated (CommandRingFollower does)."""
        return int(estop_latch_word(self._file.buf)) // 2

    def estop_latch(self) -> EStopLatch:
        self._file.check_intact()
        requests, ts_ns = estop_latch_read(self._file.buf, self._latched_id)
        return EStopLatch(int(requests), self._latched_id.tobytes().rstrip(b"\0").decode(errors="replace"),
                          int(ts_ns))


@dataclass(frozen=True, slots=True)
class CommandBatch:
    """One drain of a CommandRing: the commands read, oldest first, and the message numbers the reader will never
    see (overwritten before it got to them), as inclusive (first, last) ranges."""

    received: list[RingMessage[messages.Command]]
    lost: list[tuple[int, int]]


class CommandRingFollower:
    """Reads a CommandRing that its writer (the bridge) may create after us, or re-create: looks for the file at
    most every `recheck_ns` and re-opens it when its header's `created_ns` changes.

    It checks the file's size before every read. A ring truncated or otherwise broken under it is let go (its
    reads then return nothing, `last_error` says why), never a crash; it is followed again once a valid ring is
    at the path. The same ring, if it comes back whole, is resumed where it was left, so nothing is read twice."""

    def __init__(self, path: str | os.PathLike[str], *, start: Literal["oldest", "latest"] = "oldest",
                 recheck_ns: int = 1_000_000_000) -> None:
        check_usable(path, COMMAND_RING_SPEC)  # a path the bridge could never create its ring at is refused now
        self._path = Path(path)
        self._start = start
        self._recheck_ns = recheck_ns
        self._reader: CommandRingReader | None = None
        self._created_ns = 0
        self._resume_at = 0  # the next message number of the ring last let go (its created_ns is _created_ns)
        self._next_check = 0
        self.last_error = ""  # why the last ring was let go or could not be opened; "" while all is well

    @property
    def created_ns(self) -> int:
        """The followed ring's creation time; 0 before there is one. Changes when the bridge re-creates it; while a
        broken ring is let go, it stays that ring's (its latch counts on where it was)."""
        return self._created_ns

    @property
    def estop_requests(self) -> int:
        reader = self._intact_reader()
        return reader.estop_requests if reader is not None else 0

    def estop_latch(self) -> EStopLatch | None:
        reader = self._intact_reader()
        return reader.estop_latch() if reader is not None else None

    def drain(self, max_messages: int | None = None) -> list[RingMessage[messages.Command]]:
        return self.drain_batch(max_messages).received

    def drain_batch(self, max_messages: int | None = None) -> CommandBatch:
        """Up to `max_messages` commands (the rest wait in the ring for the next drain), and what was lost."""
        now = time.time_ns()
        if now >= self._next_check:
            self._next_check = now + self._recheck_ns
            self._reopen_if_replaced()
        reader = self._intact_reader()
        if reader is None:
            return CommandBatch([], [])
        expected = reader.next_number
        try:
            received = reader.drain(max_messages)
        except StateFileError as error:
            self._let_go(str(error))
            return CommandBatch([], [])
        lost: list[tuple[int, int]] = []
        for message in received:
            if message.number > expected:
                lost.append((expected, message.number - 1))
            expected = message.number + 1
        if reader.next_number > expected:  # lapped after the last message it could read
            lost.append((expected, reader.next_number - 1))
        return CommandBatch(received, lost)

    def _intact_reader(self) -> CommandRingReader | None:
        reader = self._reader
        if reader is None:
            return None
        try:
            reader.check_intact()
        except StateFileError as error:
            self._let_go(str(error))
            return None
        return reader

    def _let_go(self, why: str) -> None:
        if self._reader is not None:
            self._resume_at = self._reader.next_number
        self.last_error = why
        self.close()

    def _reopen_if_replaced(self) -> None:
        try:
            with open(self._path, "rb") as handle:
                header = handle.read(HEADER_SIZE)
        except OSError:
            return
        created = int(np.frombuffer(header, HEADER_DTYPE)[0]["created_ns"]) if len(header) == HEADER_SIZE else 0
        if created == 0 or (self._reader is not None and created == self._created_ns):
            return
        try:
            reader = CommandRingReader(self._path, start=self._start)
        except StateFileError as error:
            self.last_error = str(error)
            return
        if created == self._created_ns:  # the ring let go, whole again: on from where it was
            reader._cursor[_CURSOR_NEXT] = min(self._resume_at, reader.published)  # drains count any gap as lost
        self.close()
        self._reader, self._created_ns, self.last_error = reader, created, ""

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
