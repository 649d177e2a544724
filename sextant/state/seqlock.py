"""The ContextWindow's seqlock over a double buffer, in numba njit.

Protocol. The sequence word S (header offset 64) counts completed writes c as S = 2c, and S = 2c + 1 while
write c + 1 is in progress. Write n goes to buffer n & 1, so the buffer of the last completed write is never the
one being written: readers do not wait for a writer, they only retry when the writer laps them.

    writer (single)                               reader (any number, any process)
    c = S >> 1                                    s1 = load_acquire(S); c = s1 >> 1
    store_relaxed(S, 2c + 1)                      copy buffer[c & 1]
    fence_release     # odd S before the payload  fence_acquire     # the copy before the re-check
    write buffer[(c + 1) & 1]                     s2 = load_relaxed(S)
    store_release(S, 2c + 2)  # payload before S  valid iff s2 - 2c < 3

Why `s2 - 2c < 3`: buffer c & 1 is next written by write c + 2, which starts by storing S = 2c + 3. Any s2 below
that means the copy came from a buffer nobody touched while we read it.

Each record carries `write_seq` (= the write number) and a checksum of everything after the checksum word, so a
torn read is detectable independently of the protocol; the stress test counts exactly those.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit

from sextant.state.layout import (
    CONTEXT_RECORD_SIZE,
    HEADER_SIZE,
    OFFSET_SEQUENCE,
    field_offset,
)
from sextant.state.memory import (
    JIT_OPTIONS,
    drop_jit_cache_of_another_layout,
    fence_acquire,
    fence_release,
    load_acquire_u64,
    load_f64,
    load_relaxed_u64,
    load_u64,
    store_heartbeat,
    store_relaxed_u64,
    store_release_u64,
    store_u64,
)

RECORD_SIZE = CONTEXT_RECORD_SIZE
RECORD_WORDS = CONTEXT_RECORD_SIZE // 8
OFFSET_CHECKSUM = field_offset("checksum")
OFFSET_WRITE_SEQ = field_offset("write_seq")

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


@njit(**JIT_OPTIONS)
def record_checksum(record: np.ndarray, start: int) -> np.uint64:
    """FNV-1a over the 64-bit words of one record, skipping the checksum word itself."""
    h = _FNV_OFFSET
    for word in range(1, RECORD_WORDS):
        h = (h ^ load_u64(record, start + 8 * word)) * _FNV_PRIME
    return h


@njit(**JIT_OPTIONS)
def seqlock_publish(buf: np.ndarray, record: np.ndarray, now_ns: int) -> int:
    """Publish `record` (uint8, one record) as the next write. Stamps write_seq and checksum into `record`.

    Returns the write number. Single writer only.
    """
    # Sequence arithmetic is in int64 (numba turns mixed int64/uint64 arithmetic into float64); 2**62 writes
    # would take a century at a billion writes a second.
    completed = np.int64(load_relaxed_u64(buf, OFFSET_SEQUENCE) >> np.uint64(1))
    write = completed + 1
    store_u64(record, OFFSET_WRITE_SEQ, write)
    store_u64(record, OFFSET_CHECKSUM, record_checksum(record, 0))
    store_relaxed_u64(buf, OFFSET_SEQUENCE, 2 * completed + 1)
    fence_release()
    base = HEADER_SIZE + (write & 1) * RECORD_SIZE
    buf[base:base + RECORD_SIZE] = record
    store_release_u64(buf, OFFSET_SEQUENCE, 2 * write)
    store_heartbeat(buf, now_ns)
    return write  # type: ignore[return-value]  # numba returns an int64 as a Python int


@njit(**JIT_OPTIONS)
def seqlock_snapshot(buf: np.ndarray, out: np.ndarray) -> int:
    """Copy the last completed record into `out` (uint8, one record). Returns its write number, 0 if none yet."""
    while True:
        completed = np.int64(load_acquire_u64(buf, OFFSET_SEQUENCE) >> np.uint64(1))
        base = HEADER_SIZE + (completed & 1) * RECORD_SIZE
        out[:RECORD_SIZE] = buf[base:base + RECORD_SIZE]
        fence_acquire()
        if np.int64(load_relaxed_u64(buf, OFFSET_SEQUENCE)) - 2 * completed < 3:
            return completed  # type: ignore[return-value]  # numba returns an int64 as a Python int


def _make_field_reader(load: Callable[..., Any], doc: str) -> Callable[[np.ndarray, int], Any]:
    @njit(**JIT_OPTIONS)
    def read_field(buf: np.ndarray, offset: int) -> float | int:  # float or uint64, by `load`
        while True:
            completed = np.int64(load_acquire_u64(buf, OFFSET_SEQUENCE) >> np.uint64(1))
            value = load(buf, HEADER_SIZE + (completed & 1) * RECORD_SIZE + offset)
            fence_acquire()
            if np.int64(load_relaxed_u64(buf, OFFSET_SEQUENCE)) - 2 * completed < 3:
                return value

    read_field.__doc__ = doc
    return read_field


seqlock_read_f64: Callable[[np.ndarray, int], float] = _make_field_reader(
    load_f64, "One float field of the last completed record, read consistently (offset: `layout.field_offset`).")
seqlock_read_u64: Callable[[np.ndarray, int], int] = _make_field_reader(
    load_u64, "One 64-bit unsigned field of the last completed record, read consistently.")


@njit(**JIT_OPTIONS)
def seqlock_read_f64_pair(buf: np.ndarray, offset_a: int, offset_b: int) -> tuple[float, float]:
    """Two float fields from the same record (e.g. mid and position), never from two different writes."""
    while True:
        completed = np.int64(load_acquire_u64(buf, OFFSET_SEQUENCE) >> np.uint64(1))
        base = HEADER_SIZE + (completed & 1) * RECORD_SIZE
        a = load_f64(buf, base + offset_a)
        b = load_f64(buf, base + offset_b)
        fence_acquire()
        if np.int64(load_relaxed_u64(buf, OFFSET_SEQUENCE)) - 2 * completed < 3:
            return a, b


@njit(**JIT_OPTIONS)
def seqlock_read_words(buf: np.ndarray, offsets: np.ndarray, out: np.ndarray) -> int:
    """Several 64-bit fields (byte offsets) of one record, read in place with no copy of the record.

    The agents' multi-field read (`out.view(np.float64)` for float fields). Returns the record's write number.
    Only loads happen between the two sequence loads here, so without the acquire ordering LLVM is free to merge
    them into one; the stress test's in-place check relies on exactly this reader to prove the fences matter.
    """
    while True:
        completed = np.int64(load_acquire_u64(buf, OFFSET_SEQUENCE) >> np.uint64(1))
        base = HEADER_SIZE + (completed & 1) * RECORD_SIZE
        for index in range(offsets.shape[0]):
            out[index] = load_u64(buf, base + offsets[index])
        fence_acquire()
        if np.int64(load_relaxed_u64(buf, OFFSET_SEQUENCE)) - 2 * completed < 3:
            return completed  # type: ignore[return-value]  # numba returns an int64 as a Python int


@njit(**JIT_OPTIONS)
def seqlock_verify_in_place(buf: np.ndarray) -> tuple[int, bool]:
    """Check the live record's checksum without copying it. Returns (write number, checksum matches).

    An integrity probe for monitoring and the stress test. Only loads happen between the two sequence loads, so
    without the acquire ordering LLVM may merge those two loads into one and accept a record the writer is
    rewriting: the unfenced stress test proves exactly that.
    """
    while True:
        completed = np.int64(load_acquire_u64(buf, OFFSET_SEQUENCE) >> np.uint64(1))
        base = HEADER_SIZE + (completed & 1) * RECORD_SIZE
        computed = record_checksum(buf, base)
        stored = load_u64(buf, base + OFFSET_CHECKSUM)
        fence_acquire()
        if np.int64(load_relaxed_u64(buf, OFFSET_SEQUENCE)) - 2 * completed < 3:
            return completed, computed == stored  # type: ignore[return-value]  # numba returns an int64 as a Python int


drop_jit_cache_of_another_layout(seqlock_verify_in_place)
