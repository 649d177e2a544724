"""Autoresearch throughput: `sextant bench research` (also part of `make bench`).

On the default `sextant research` data (400k quotes of the seeded market model: three 100k-quote selection windows
and a 100k-quote holdout), all five families, seeded proposals:

1. Evaluation alone, per hypothesis on the three selection windows: Nautilus' BacktestEngine (each timed, median and
   p99) against the screen (research/screen.py), with 1 worker in this process and 2 in the process pool research
   uses (warmed up first: the pool's start and the workers' first window build are not a hypothesis's cost).
2. The ratchet as `sextant research` runs it, from a ledger whose baselines are already judged: today's one stage
   (`--screen 0`: every proposal on Nautilus) against two stages (rounds of 64 screened, the best 4 confirmed on
   Nautilus), hypotheses judged a minute and confirmed on Nautilus a minute, with 1 and 2 workers. The candidates
   that reach the holdout are evaluated there too, in both.
3. Cost per hypothesis at the 1st and the 1,000th on one reused engine (a 4,000-quote window): flat, or the engine
   leaks (research/backtest.py unsubscribes each run's strategy).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import msgspec
import numpy as np

from sextant.research.backtest import WindowBacktester
from sextant.research.config import ResearchConfig
from sextant.research.data import Quotes, model_quotes, walk_forward
from sextant.research.evaluate import InlineExecutor, ProcessExecutor, Task, make_executor
from sextant.research.families import FAMILIES
from sextant.research.hypothesis import Hypothesis, baseline, mutate, proposal_rng
from sextant.research.ledger import Ledger
from sextant.research.ratchet import Ratchet


def hypotheses(count: int, seed: int) -> list[Hypothesis]:
    families = list(FAMILIES)
    return [mutate(baseline(families[index % len(families)]), proposal_rng(seed, index)) for index in range(count)]


def evaluation_rates(quotes: Quotes, config: ResearchConfig, count: int,
                     phase: str) -> tuple[float, float, list[float]]:
    """(per minute with 1 worker, with 2, each hypothesis's seconds with 1)."""
    split = walk_forward(quotes, config.selection_windows, config.holdout_fraction)
    tasks = [Task(h.family, h.params, phase) for h in hypotheses(count, seed=11)]  # type: ignore[arg-type]
    inline = InlineExecutor(split, config)
    inline.map(tasks[:1])  # numba's kernels and Nautilus' first engines: not what a hypothesis costs
    seconds = []
    for task in tasks:
        started = time.perf_counter()
        inline.map([task])
        seconds.append(time.perf_counter() - started)
    inline.close()
    pool = ProcessExecutor(split, msgspec.structs.replace(config, workers=2))
    pool.map(tasks[:2])
    started = time.perf_counter()
    pool.map(tasks)
    two = len(tasks) / (time.perf_counter() - started) * 60
    pool.close()
    return len(tasks) / sum(seconds) * 60, two, seconds


def ratchet_rates(quotes: Quotes, config: ResearchConfig, budget: int) -> tuple[float, float, int]:
    """(hypotheses judged a minute, confirmed on Nautilus a minute, accepted) of a run from judged baselines."""
    with tempfile.TemporaryDirectory() as folder:
        ledger = Ledger(Path(folder) / "ledger.sqlite")
        legs = Ratchet(config, quotes, ledger).legs
        executor = make_executor(legs, config)
        try:
            Ratchet(config, quotes, ledger, executor=executor).run(budget=0)  # the baselines, and a warm executor
            summary = Ratchet(config, quotes, ledger, executor=executor).run(budget=budget)
        finally:
            executor.close()
            ledger.close()
    return summary.per_minute, summary.confirmed_per_minute, summary.accepted_now


def cost_curve(quotes: Quotes, count: int) -> tuple[float, float]:
    """Median seconds of the first 50 and the last 50 of `count` hypotheses on one reused engine."""
    window = quotes.slice(0, 4_000)
    backtester = WindowBacktester(window)
    config = ResearchConfig()
    seconds = []
    for hypothesis in hypotheses(count, seed=5):
        targets = FAMILIES[hypothesis.family].targets(backtester.features, hypothesis.params, config.cooldown_secs)
        if not np.any(targets):  # a hypothesis that never trades costs no run: one that does
            targets = np.where(np.arange(len(targets)) // 60 % 2 == 0, 1.0, -1.0)
        started = time.perf_counter()
        backtester.run(targets, 1.0)
        seconds.append(time.perf_counter() - started)
    backtester.dispose()
    return float(np.median(seconds[:50])), float(np.median(seconds[-50:]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hypotheses", type=int, default=10, help="hypotheses per evaluation measurement (10)")
    parser.add_argument("--window", type=int, default=100_000, help="quotes per window (default 100000)")
    parser.add_argument("--budget", type=int, default=128,
                        help="hypotheses per two-stage ratchet run (default 128: two rounds of 64); the one-stage "
                             "run makes as many Nautilus evaluations")
    parser.add_argument("--curve", type=int, default=1_000, help="hypotheses on one reused engine (default 1000)")
    args = parser.parse_args()
    quotes = model_quotes(args.window * 4, seed=7)
    config = ResearchConfig(selection_windows=3, holdout_fraction=0.25, seed=7)

    nautilus_one, nautilus_two, seconds = evaluation_rates(quotes, config, args.hypotheses, "selection")
    screen_one, screen_two, screen_seconds = evaluation_rates(quotes, config, args.hypotheses * 10, "screen")
    rates = {}
    for workers in (1, 2):
        two_stage = ResearchConfig()  # the defaults `sextant research` runs with
        rounds = -(-args.budget // two_stage.screen)
        for stages, screen, budget in (("one stage (today)", 0, rounds * two_stage.batch),
                                       ("two stages", two_stage.screen, args.budget)):
            run_config = msgspec.structs.replace(config, workers=workers, executor="process", screen=screen)
            rates[stages, workers] = ratchet_rates(quotes, run_config, budget)
    first, last = cost_curve(quotes, args.curve)

    print(f"\nresearch throughput: all five families on 3 selection windows of {args.window:,} quotes of the "
          f"seeded model, {os.cpu_count()} CPUs")
    print("  evaluation alone                 1 worker /min   2 workers /min   per hypothesis (1 worker)")
    print(f"  Nautilus BacktestEngine        {nautilus_one:14.1f}   {nautilus_two:14.1f}   median "
          f"{np.median(seconds):.3f} s, p99 {np.percentile(seconds, 99):.3f} s")
    print(f"  screen                         {screen_one:14.1f}   {screen_two:14.1f}   median "
          f"{np.median(screen_seconds):.4f} s, p99 {np.percentile(screen_seconds, 99):.4f} s "
          f"({np.median(seconds) / np.median(screen_seconds):.0f}× less)")
    print("  the ratchet (sextant research)   workers   judged /min   on Nautilus /min   accepted")
    for (stages, workers), (judged, confirmed, accepted) in rates.items():
        print(f"  {stages:<30} {workers:9d}   {judged:11.1f}   {confirmed:16.1f}   {accepted:8d}")
    for workers in (1, 2):
        today, two = rates["one stage (today)", workers][0], rates["two stages", workers][0]
        print(f"  two stages judge {two / today:.1f}× the hypotheses a minute of one stage with {workers} worker(s)")
    print(f"  cost per hypothesis on one engine: the first 50's median {first * 1e3:.1f} ms, the last 50's (of "
          f"{args.curve:,}) {last * 1e3:.1f} ms ({last / first:.2f}×)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
