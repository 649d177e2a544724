"""Trust benchmark: `sextant bench trust` (also part of `make bench`).

1. Attestations per second, mined, on the embedded py-evm chain and on anvil (a real local node, `make anvil`):
   N decisions attested (signed record + journal row, on the calling thread), then the worker mines them in order.
   Also the cost of `attest()` itself, the only part that runs on the engine's thread (median, p99).
2. Trading latency while attesting: the engine benchmark's quote → order-leaves-the-node path (1,000 quotes/s),
   alone, then with an attestor mining on the embedded chain the whole time, as the engine runs it: in a child
   process (trust/link.py). For the record, also with the attestor in the engine's own process, the design
   this replaced: py-evm's Python then competes for the engine's GIL.
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

from sextant.trust.attestor import Attestor
from sextant.trust.chain import Chain

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
ANVIL = REPO_ROOT / ".tools" / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
ANVIL_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # anvil's default account 0


def decision(index: int) -> dict:
    return {"intent_id": f"bench-{index}", "quantity": 1.0, "entry_price": 60_000.0, "multiplier": 0.01,
            "realized_pnl": (index % 7 - 3) * 0.25, "closed_at_ns": 1_767_225_600_000_000_000 + index}


def attest_rate(connect: Callable[[], Chain], count: int) -> tuple[float, float, float]:
    """(mined per second, attest() median µs, attest() p99 µs)."""
    with tempfile.TemporaryDirectory() as folder:
        attestor = Attestor(Path(folder), connect)
        attestor.setup(["momentum-01", "mean-reversion-01"])
        calls = []
        started = time.perf_counter()
        for index in range(count):
            began = time.perf_counter_ns()
            attestor.attest(("momentum-01", "mean-reversion-01")[index % 2], decision(index),
                            instrument="BTC-USDT-SWAP.OKX", strategy="bench")
            calls.append(time.perf_counter_ns() - began)
        attestor.start()
        if not attestor.flush(600):
            raise RuntimeError(f"attestations still pending: {attestor.journal.counts()}")
        elapsed = time.perf_counter() - started
        attestor.close()
    calls_us = np.array(calls) / 1e3
    return count / elapsed, float(np.median(calls_us)), float(np.percentile(calls_us, 99))


def anvil_rate(count: int) -> tuple[float, float, float] | None:
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
        return attest_rate(lambda: Chain.connect(url, ANVIL_KEY), count)
    finally:
        node.kill()
        node.wait()


def attest_forever(stop: object) -> None:
    """Keep an attestor on the embedded chain mining until `stop` (an Event) is set."""
    import os

    if multiprocessing_child():
        os.nice(19)  # as trust/link.py's attestor process does
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


def multiprocessing_child() -> bool:
    import multiprocessing

    return multiprocessing.parent_process() is not None


def latency_while_attesting(seconds: float) -> dict[str, np.ndarray]:
    import multiprocessing

    sys.path.insert(0, str(BENCH_DIR))
    import engine_bench  # the same measurement as `sextant bench engine`

    def measure() -> np.ndarray:  # as the engine bench runs it: with low-latency idle where the host allows it
        return engine_bench.measure(seconds, 100.0, low_latency_idle=True)[:, engine_bench.VENUE_COLUMN]

    results = {"alone": measure()}
    context = multiprocessing.get_context("spawn")
    for name, start in (("child process", lambda stop: context.Process(target=attest_forever, args=(stop,))),
                        ("same process", lambda stop: threading.Thread(target=attest_forever, args=(stop,)))):
        stop = context.Event() if name == "child process" else threading.Event()
        worker = start(stop)
        worker.start()
        time.sleep(3.0)  # deployed and mining
        try:
            results[name] = measure()
        finally:
            stop.set()
            worker.join(30)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(f"\nattestations ({args.count} decisions; attest() is what the engine thread pays)")
    rate, p50, p99 = attest_rate(lambda: Chain.embedded_chain(7), args.count)
    print(f"  embedded py-evm   {rate:>7.1f} mined/s   attest() median {p50:>6.0f} µs  p99 {p99:>6.0f} µs")
    on_anvil = anvil_rate(args.count)
    if on_anvil is None:
        print("  anvil             not installed (make anvil)")
    else:
        print(f"  anvil             {on_anvil[0]:>7.1f} mined/s   attest() median {on_anvil[1]:>6.0f} µs  p99 "
              f"{on_anvil[2]:>6.0f} µs")
    runs = latency_while_attesting(args.seconds)
    alone_p99 = float(np.percentile(runs["alone"], 99))
    print("\nquote → order leaves the node, 1,000 quotes/s (µs)            median      p99")
    for name, label in (("alone", "no attestation"), ("child process", "attestor mining, child process (engine)"),
                        ("same process", "attestor mining, same process (replaced)")):
        values = runs[name]
        print(f"  {label:<52}{np.median(values):>8.0f} {np.percentile(values, 99):>8.0f}"
              + ("" if name == "alone" else f"   p99 ×{np.percentile(values, 99) / alone_p99:.2f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
