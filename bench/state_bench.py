"""Shared-memory state layer benchmark: `sextant bench state` (also part of `make bench`).

Cross-process, as the bridge and the swarm will use it: a writer process publishes ContextWindow records as fast
as it can while this process (the reader) measures
  * hot-field read latency from njit (batches of 32 reads timed with the cycle counter, per read) and from
    Python (each call timed with perf_counter_ns, which adds its own ~40 ns);
  * snapshot latency from Python;
  * torn reads: snapshots the seqlock accepted whose checksum or write number is wrong (must be 0);
then ring publish rates, from njit and from Python (typed message → msgpack → slot).
Baseline for the Python read: a pure-Python seqlock prototype's 0.44 µs p50 on this machine
(docs/shared-memory.md#benchmark).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from numba import njit

from sextant.state import messages
from sextant.state.context import OFFSET_MID, ContextReader
from sextant.state.layout import CONTEXT_RECORD_SIZE
from sextant.state.ring import EventRingWriter, ring_publish
from sextant.state.stress import cycles_per_ns, time_hot_reads, verify_in_place, verify_snapshots

RESEARCH_PYTHON_SEQLOCK_P50_NS = 440.0  # docs/shared-memory.md#benchmark: 64 B, writer busy


def percentile(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q))


@njit(nogil=True)
def _publish_loop(buf: np.ndarray, slot_count: int, slot_size: int, payload: np.ndarray, count: int) -> int:
    last = 0
    for index in range(count):
        last = ring_publish(buf, slot_count, slot_size, 6, 0, index, payload, payload.shape[0], index)
    return last


def start_writer(path: Path) -> subprocess.Popen[str]:
    writer = subprocess.Popen([sys.executable, "-m", "sextant.state.stress", "writer", str(path), "900"],
                              stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    line = writer.stdout.readline().strip()
    if line != "ready":
        writer.kill()
        raise RuntimeError(f"writer process failed to start: {line!r}")
    return writer


def measure(snapshots: int, in_place: int, python_reads: int, batches: int) -> dict[str, float]:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="sextant-bench-") as folder:
        path = Path(folder) / "context.mmap"
        ratio = cycles_per_ns()
        writer = start_writer(path)
        started = time.perf_counter()
        try:
            reader = ContextReader(path)
            cycles = np.zeros(batches, np.uint64)
            time_hot_reads(reader.buffer, OFFSET_MID, 32, cycles[:10])
            time_hot_reads(reader.buffer, OFFSET_MID, 32, cycles)
            per_read_ns = cycles.astype(np.float64) / 32 / ratio
            results["njit_read_p50_ns"] = percentile(per_read_ns, 50)
            results["njit_read_p99_ns"] = percentile(per_read_ns, 99)

            clock = time.perf_counter_ns
            samples = np.empty(python_reads, np.float64)
            for index in range(python_reads):
                start = clock()
                reader.mid  # noqa: B018 - the read is the measurement
                samples[index] = clock() - start
            results["py_read_p50_ns"] = percentile(samples, 50)
            results["py_read_p99_ns"] = percentile(samples, 99)

            count = max(1000, python_reads // 10)
            snap = np.empty(count, np.float64)
            for index in range(count):
                start = clock()
                reader.snapshot()
                snap[index] = clock() - start
            results["py_snapshot_p50_ns"] = percentile(snap, 50)
            results["py_snapshot_p99_ns"] = percentile(snap, 99)

            out = np.zeros(CONTEXT_RECORD_SIZE, np.uint8)
            verify_snapshots(reader.buffer, 1, out)
            verify_in_place(reader.buffer, 1)
            start_s = time.perf_counter()
            torn, _empty, backwards, distinct = verify_snapshots(reader.buffer, snapshots, out)
            results["snapshot_check_s"] = time.perf_counter() - start_s
            results["snapshots"] = snapshots
            results["torn"] = torn
            results["backwards"] = backwards
            results["distinct_writes_seen"] = distinct
            results["torn_in_place"] = verify_in_place(reader.buffer, in_place)
            results["in_place_checks"] = in_place
            reader.close()
        finally:
            writer.terminate()
            writer.wait(timeout=10)
        results["writer_busy_s"] = time.perf_counter() - started

        ring_path = Path(folder) / "events.mmap"
        ring = EventRingWriter(ring_path)
        payload = np.frombuffer(messages.encode(_sample_fill()), np.uint8).copy()
        buf = ring.buffer
        _publish_loop(buf, ring.slot_count, ring.slot_size, payload, 10)
        n = 2_000_000 if batches > 50_000 else 500_000
        start_s = time.perf_counter()
        _publish_loop(buf, ring.slot_count, ring.slot_size, payload, n)
        results["njit_publish_per_s"] = n / (time.perf_counter() - start_s)

        fill = _sample_fill()
        m = 200_000 if batches > 50_000 else 50_000
        per_call = np.empty(m, np.float64)
        clock = time.perf_counter_ns
        start_s = time.perf_counter()
        for index in range(m):
            t0 = clock()
            ring.publish(fill)
            per_call[index] = clock() - t0
        results["py_publish_per_s"] = m / (time.perf_counter() - start_s)
        results["py_publish_p50_ns"] = percentile(per_call, 50)
        results["py_publish_p99_ns"] = percentile(per_call, 99)
        ring.close()
    return results


def _sample_fill() -> messages.OrderFilled:
    return messages.OrderFilled(client_order_id="O-20261125-000001-001-SWARM-1", venue_order_id="SANDBOX-1-001",
                                intent_id="momentum-01-000042", instrument="BTC-USDT-SWAP.OKX", side="BUY",
                                fill_price=60001.2, fill_quantity=1.0, slippage_bps=0.8, commission=0.3,
                                liquidity="TAKER", position_after=1.0)


def report(results: dict[str, float]) -> bool:
    rows = [
        ("hot-field read, njit (per read)", results["njit_read_p50_ns"], results["njit_read_p99_ns"], "ns", 50.0, "≤"),
        ("hot-field read, Python", results["py_read_p50_ns"], results["py_read_p99_ns"], "ns", 1000.0, "≤"),
        ("snapshot, Python (2.7 KB record)", results["py_snapshot_p50_ns"], results["py_snapshot_p99_ns"], "ns",
         None, ""),
        ("EventRing publish, Python (per call)", results["py_publish_p50_ns"], results["py_publish_p99_ns"], "ns",
         None, ""),
    ]
    print(f"\nContextWindow, cross-process, writer busy ({CONTEXT_RECORD_SIZE} B record) — pid {os.getpid()} reads")
    print(f"{'measure':<40} {'median':>10} {'p99':>10}  {'target':>12}  verdict")
    ok = True
    for name, p50, p99, unit, target, sign in rows:
        verdict = ""
        target_text = ""
        if target is not None:
            passed = p50 <= target
            ok &= passed
            verdict = "PASS" if passed else f"MISS by {p50 - target:.0f} {unit}"
            target_text = f"{sign} {target:.0f} {unit}"
        print(f"{name:<40} {p50:>8.1f}{unit} {p99:>8.1f}{unit}  {target_text:>12}  {verdict}")
    ratio = results["py_read_p50_ns"] / RESEARCH_PYTHON_SEQLOCK_P50_NS
    print(f"  Python read vs research pure-Python seqlock baseline (440 ns p50): {ratio:.2f}x")
    torn_ok = results["torn"] == 0 and results["torn_in_place"] == 0 and results["backwards"] == 0
    ok &= torn_ok
    print(f"torn reads: {int(results['torn'])} in {int(results['snapshots']):,} snapshots "
          f"({results['snapshots'] / results['snapshot_check_s'] / 1e6:.2f} M/s, "
          f"{int(results['distinct_writes_seen']):,} distinct writes seen), {int(results['torn_in_place'])} in "
          f"{int(results['in_place_checks']):,} in-place checks, {int(results['backwards'])} going backwards  "
          f"{'PASS' if torn_ok else 'FAIL'}")
    njit_rate, py_rate = results["njit_publish_per_s"], results["py_publish_per_s"]
    print(f"\n{'ring publish rate':<40} {'rate':>14}  {'target':>12}  verdict")
    for name, rate, target in (("EventRing publish, njit", njit_rate, 1e6),
                               ("EventRing publish, Python (typed)", py_rate, 2e5)):
        passed = rate >= target
        ok &= passed
        print(f"{name:<40} {rate / 1e6:>11.2f} M/s  {'≥ ' + format(target / 1e6, '.1f') + ' M/s':>12}  "
              f"{'PASS' if passed else 'MISS by ' + format((target - rate) / 1e3, '.0f') + ' k/s'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sextant bench state", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--snapshots", type=int, default=5_000_000, help="snapshots to verify (default 5M)")
    parser.add_argument("--quick", action="store_true", help="smaller samples (1M snapshots), for `make run`")
    parser.add_argument("--json", action="store_true", help="also print the raw results as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        results = measure(snapshots=min(args.snapshots, 1_000_000), in_place=100_000, python_reads=50_000,
                          batches=20_000)
    else:
        results = measure(snapshots=args.snapshots, in_place=300_000, python_reads=200_000, batches=100_000)
    ok = report(results)
    if args.json:
        print(json.dumps(results))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
