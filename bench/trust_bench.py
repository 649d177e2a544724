"""Trust benchmark: `sextant bench trust` (also part of `make bench`).

1. Attestations per second, mined, on the embedded py-evm chain and on anvil (a real local node, `make anvil`):
   a burst of N decisions journaled (signed record + journal row, in the attestor's process), then the worker puts
   them on chain in order, one feedback at a time (batch 1) and BATCH at once (consecutive nonces, one JSON-RPC
   batch on anvil). Also the cost of `attest()` itself, and of what the engine's thread pays per decision: one
   append to the write-ahead file (trust/handoff.py), median and p99.
2. Trading latency while attesting: the engine benchmark's quote → order-leaves-the-node path (1,000 quotes/s),
   alone; while an attestor child process (as trust/link.py runs it) works through a burst of 1,000 decisions on
   the embedded chain, with how long the burst took to be on chain; and, for the record, with an attestor mining in
   the engine's own process, the design the child replaced: py-evm's Python then competes for the engine's GIL.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sextant.trust.attestor import BATCH, Attestor
from sextant.trust.chain import Chain
from sextant.trust.handoff import HANDOFF_FILE, HandoffWriter

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
ANVIL = REPO_ROOT / ".tools" / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
ANVIL_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # anvil's default account 0


def decision(index: int) -> dict:
    return {"intent_id": f"bench-{index}", "quantity": 1.0, "entry_price": 60_000.0, "multiplier": 0.01,
            "realized_pnl": (index % 7 - 3) * 0.25, "closed_at_ns": 1_767_225_600_000_000_000 + index}


def attest_rate(connect: Callable[[], Chain], count: int, batch: int) -> tuple[float, float, float]:
    """(mined per second over the burst, attest() median µs, attest() p99 µs)."""
    with tempfile.TemporaryDirectory() as folder:
        attestor = Attestor(Path(folder), connect, batch=batch)
        attestor.setup(["momentum-01", "mean-reversion-01"])
        calls = []
        started = time.perf_counter()
        for index in range(count):
            began = time.perf_counter_ns()
            attestor.attest(("momentum-01", "mean-reversion-01")[index % 2], decision(index),
                            instrument="BTC-USDT-SWAP.OKX", strategy="bench")
            calls.append(time.perf_counter_ns() - began)
        attestor.start()
        if not attestor.flush(1800):
            raise RuntimeError(f"attestations still pending: {attestor.journal.counts()}")
        elapsed = time.perf_counter() - started
        attestor.close()
    calls_us = np.array(calls) / 1e3
    return count / elapsed, float(np.median(calls_us)), float(np.percentile(calls_us, 99))


def handoff_cost(count: int) -> tuple[float, float]:
    """What the engine's thread pays to hand a closed decision over: one append to the write-ahead file, as
    TrustLink.on_outcome makes it (median µs, p99 µs)."""
    with tempfile.TemporaryDirectory() as folder:
        writer = HandoffWriter(Path(folder) / HANDOFF_FILE)
        costs = []
        for index in range(count):
            entry = {"agent": "momentum-01", "outcome": decision(index), "instrument": "BTC-USDT-SWAP.OKX",
                     "strategy": "momentum", "decision": {}, "scene": ""}
            began = time.perf_counter_ns()
            writer.append(entry)
            costs.append(time.perf_counter_ns() - began)
        writer.close()
    costs_us = np.array(costs) / 1e3
    return float(np.median(costs_us)), float(np.percentile(costs_us, 99))


def anvil_rates(count: int, batches: tuple[int, ...]) -> list[tuple[float, float, float]] | None:
    binary = str(ANVIL) if ANVIL.exists() else shutil.which("anvil")
    if binary is None:
        return None
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    node = subprocess.Popen([binary, "--port", str(port), "--silent"], stdout=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                chain = Chain.connect(url, ANVIL_KEY)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        del chain
        return [attest_rate(lambda: Chain.connect(url, ANVIL_KEY), count, batch) for batch in batches]
    finally:
        node.kill()
        node.wait()


def attest_forever(stop: object) -> None:
    """Keep an attestor on the embedded chain mining until `stop` (an Event) is set."""
    with tempfile.TemporaryDirectory() as folder:
        attestor = Attestor(Path(folder), lambda: Chain.embedded_chain(1))
        attestor.setup(["momentum-01"])
        attestor.start()
        index = 0
        while not stop.is_set():  # type: ignore[attr-defined]
            if len(attestor.journal.pending(50)) < 20:
                for _ in range(10):
                    attestor.attest("momentum-01", decision(index), instrument="BTC", strategy="bench")
                    index += 1
            time.sleep(0.01)
        attestor.close()


def attest_burst(go: object, done: object, count: int) -> None:
    """A child process as trust/link.py runs it (nice 10): deploy, wait for `go`, then journal a burst of `count`
    decisions and put them all on chain; put the seconds that took into `done` (a Queue)."""
    import os

    os.nice(10)
    with tempfile.TemporaryDirectory() as folder:
        attestor = Attestor(Path(folder), lambda: Chain.embedded_chain(1))
        attestor.setup(["momentum-01", "mean-reversion-01"])
        attestor.start()
        go.wait()  # type: ignore[attr-defined]
        started = time.perf_counter()
        for index in range(count):
            attestor.attest(("momentum-01", "mean-reversion-01")[index % 2], decision(index), instrument="BTC",
                            strategy="bench")
        drained = attestor.flush(1800)
        done.put(time.perf_counter() - started if drained else float("nan"))  # type: ignore[attr-defined]
        attestor.close()


def latency_while_attesting(seconds: float, burst: int) -> tuple[dict[str, np.ndarray], float]:
    """Quote → order latency alone, during a burst in a child, and beside an in-process miner; and the seconds the
    burst took to be on chain."""
    import multiprocessing

    sys.path.insert(0, str(BENCH_DIR))
    import engine_bench  # the same measurement as `sextant bench engine`

    def measure() -> np.ndarray:  # as the engine bench runs it: with low-latency idle where the host allows it
        return engine_bench.measure(seconds, 100.0, low_latency_idle=True)[:, engine_bench.VENUE_COLUMN]

    results = {"alone": measure()}
    context = multiprocessing.get_context("spawn")
    go, done = context.Event(), context.Queue()
    child = context.Process(target=attest_burst, args=(go, done, burst))
    child.start()
    time.sleep(5.0)  # spawned, imported, registries deployed
    go.set()
    try:
        results["burst"] = measure()
        burst_s = float(done.get(timeout=1800))
    finally:
        child.join(30)
    stop = threading.Event()
    miner = threading.Thread(target=attest_forever, args=(stop,))
    miner.start()
    time.sleep(3.0)  # deployed and mining
    try:
        results["same process"] = measure()
    finally:
        stop.set()
        miner.join(30)
    return results, burst_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="decisions in each burst")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    batches = (1, BATCH)
    print(f"\nattestations: a burst of {args.count:,} decisions, until all are on chain   mined/s"
          f"   attest() median    p99 (µs)")
    embedded = [attest_rate(lambda: Chain.embedded_chain(7), args.count, batch) for batch in batches]
    on_anvil = anvil_rates(args.count, batches)
    for chain, rates in (("embedded py-evm", embedded), ("anvil", on_anvil)):
        if rates is None:
            print(f"  {chain:<16} not installed (make anvil)")
            continue
        for batch, (rate, p50, p99) in zip(batches, rates, strict=True):
            ratio = f"  ×{rate / rates[0][0]:.2f}" if batch != batches[0] else ""
            print(f"  {chain:<16} {'one at a time' if batch == 1 else f'{batch} at once':<14}"
                  f"{rate:>24.1f}{p50:>18.0f}{p99:>9.0f}{ratio}")
    p50, p99 = handoff_cost(args.count)
    print(f"  the engine thread's hand-over (one write-ahead append)        median {p50:.1f} µs, p99 {p99:.1f} µs")
    runs, burst_s = latency_while_attesting(args.seconds, args.count)
    alone_p99 = float(np.percentile(runs["alone"], 99))
    print("\nquote → order leaves the node, 1,000 quotes/s (µs)            median      p99")
    for name, label in (("alone", "no attestation"),
                        ("burst", f"a burst of {args.count:,} attested by the child process"),
                        ("same process", "attestor mining, same process (replaced)")):
        values = runs[name]
        print(f"  {label:<52}{np.median(values):>8.0f} {np.percentile(values, 99):>8.0f}"
              + ("" if name == "alone" else f"   p99 ×{np.percentile(values, 99) / alone_p99:.2f}"))
    print(f"  the burst was all on chain (embedded) {burst_s:.1f} s after it came: "
          f"{args.count / burst_s:.0f} decisions/s, under the engine's load")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
