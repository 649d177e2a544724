"""Cross-process stress and latency probes for the ContextWindow, shared by the test suite and `sextant bench`.

    python -m sextant.state.stress writer PATH SECONDS        # publish as fast as possible, print "ready"
    python -m sextant.state.stress reader PATH SNAPSHOTS CHECKS   # verify, print one JSON line

The writer fills every word of each record with values derived from the write number, so two different writes
never share a word; the checksum (stamped by `seqlock_publish`) and `write_seq` then expose any snapshot that mixes
two writes. A torn read is a snapshot the seqlock accepted whose checksum or write number is wrong.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from numba import njit

from sextant.state.context import ContextReader, ContextWriter
from sextant.state.layout import CONTEXT_RECORD_SIZE, OFFSET_SEQUENCE
from sextant.state.memory import JIT_OPTIONS, cycle_counter, drop_jit_cache_of_another_layout, load_u64, store_u64
from sextant.state.seqlock import (
    OFFSET_CHECKSUM,
    OFFSET_WRITE_SEQ,
    RECORD_WORDS,
    record_checksum,
    seqlock_publish,
    seqlock_read_f64,
    seqlock_snapshot,
    seqlock_verify_in_place,
)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@njit(**JIT_OPTIONS)
def _word_salt(word: int) -> np.uint64:
    return np.uint64(word) * np.uint64(0x2545F4914F6CDD1D)  # unsigned: wrap-around is defined


@njit(**JIT_OPTIONS)
def _fill(record: np.ndarray, write: int) -> None:
    """Every word encodes the write number, differently per word: word = write * GOLDEN ^ salt(word)."""
    base = np.uint64(write) * _GOLDEN
    for word in range(2, RECORD_WORDS):
        store_u64(record, 8 * word, base ^ _word_salt(word))


@njit(**JIT_OPTIONS)
def verify_in_place(buf: np.ndarray, count: int) -> int:
    """Check the live record in place `count` times; returns how many accepted records failed their checksum."""
    torn = 0
    for _ in range(count):
        sequence, intact = seqlock_verify_in_place(buf)
        if sequence != 0 and not intact:
            torn += 1
    return torn


@njit(**JIT_OPTIONS)
def write_burst(buf: np.ndarray, record: np.ndarray, count: int, now_ns: int) -> int:
    """Publish `count` distinct records back to back. Returns the last write number."""
    last = 0
    for _ in range(count):
        _fill(record, np.int64(load_u64(buf, OFFSET_SEQUENCE) >> np.uint64(1)) + 1)
        last = seqlock_publish(buf, record, now_ns)
    return last


@njit(**JIT_OPTIONS)
def verify_snapshots(buf: np.ndarray, count: int, out: np.ndarray) -> tuple[int, int, int, int]:
    """Take `count` snapshots. Returns (torn, empty, backwards, distinct_sequences_seen)."""
    torn = 0
    empty = 0
    backwards = 0
    distinct = 0
    previous = 0
    for _ in range(count):
        sequence = seqlock_snapshot(buf, out)
        if sequence == 0:
            empty += 1
            continue
        if record_checksum(out, 0) != load_u64(out, OFFSET_CHECKSUM) or \
                np.int64(load_u64(out, OFFSET_WRITE_SEQ)) != sequence:
            torn += 1
        if sequence < previous:
            backwards += 1
        elif sequence > previous:
            distinct += 1
        previous = sequence
    return torn, empty, backwards, distinct


drop_jit_cache_of_another_layout(verify_snapshots)


@njit(**JIT_OPTIONS)
def time_hot_reads(buf: np.ndarray, offset: int, batch: int, cycles: np.ndarray) -> float:
    """Time `len(cycles)` batches of `batch` consistent float reads, in CPU cycles per batch."""
    total = 0.0
    for index in range(cycles.shape[0]):
        start: int = cycle_counter()  # type: ignore[call-arg]  # an intrinsic: numba supplies typingctx
        for _ in range(batch):
            total += seqlock_read_f64(buf, offset)
        cycles[index] = cycle_counter() - start
    return total


@njit(**JIT_OPTIONS)
def _cycles_now() -> np.uint64:
    return cycle_counter()  # type: ignore[call-arg]  # as above


def cycles_per_ns(sample_s: float = 0.2) -> float:
    """Calibrate the cycle counter against the monotonic clock."""
    _cycles_now()  # compile (or load) before the window opens, so compile time is not counted as time
    start_ns, start_cycles = time.perf_counter_ns(), int(_cycles_now())
    time.sleep(sample_s)
    return (int(_cycles_now()) - start_cycles) / (time.perf_counter_ns() - start_ns)


def run_writer(path: str, seconds: float) -> None:
    writer = ContextWriter(path, "STRESS-TEST.SIM")
    record = np.zeros(CONTEXT_RECORD_SIZE, np.uint8)
    buf = writer.buffer  # write_burst is the engine's commit without the field updates
    write_burst(buf, record, 1, time.time_ns())
    print("ready", flush=True)
    deadline = time.monotonic() + seconds
    writes = 0
    while time.monotonic() < deadline:
        write_burst(buf, record, 20_000, time.time_ns())
        writes += 20_000
    print(json.dumps({"writes": writes, "seconds": seconds}), flush=True)
    writer.close()


def run_reader(path: str, snapshots: int, in_place_checks: int) -> None:
    reader = ContextReader(path)
    out = np.zeros(CONTEXT_RECORD_SIZE, np.uint8)
    verify_snapshots(reader.buffer, 1, out)
    verify_in_place(reader.buffer, 1)
    start = time.perf_counter()
    torn, empty, backwards, distinct = verify_snapshots(reader.buffer, snapshots, out)
    middle = time.perf_counter()
    torn_in_place = verify_in_place(reader.buffer, in_place_checks)
    end = time.perf_counter()
    print(json.dumps({"snapshots": snapshots, "torn": int(torn), "empty": int(empty), "backwards": int(backwards),
                      "distinct": int(distinct), "snapshot_seconds": middle - start,
                      "in_place_checks": in_place_checks, "torn_in_place": int(torn_in_place),
                      "in_place_seconds": end - middle}), flush=True)


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4) or argv[0] not in ("writer", "reader"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "writer":
        run_writer(argv[1], float(argv[2]))
    else:
        run_reader(argv[1], int(argv[2]), int(argv[3]) if len(argv) == 4 else 200_000)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
