"""Autoresearch throughput: `sextant bench research` (also part of `make bench`).

Hypotheses evaluated per minute on 100k-quote windows: each hypothesis is backtested on Nautilus' BacktestEngine over
the three 100k-quote selection windows of 400k quotes of the seeded market model (the default `sextant research`
split; the holdout is only touched by the few candidates that pass selection, so it is left out). The hypotheses
are seeded mutations across all five families.

With 1 worker the evaluations run in this process (as `sextant research --workers 1` does), timed one by one for the
median and p99. With 2 workers they run in the process pool `sextant research` uses; the pool's start and the
workers' first window build are warmed up first. The ratio to 1 worker is the parallel speed-up (at most the number
of free cores).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from sextant.research.config import ResearchConfig
from sextant.research.data import model_quotes, walk_forward
from sextant.research.evaluate import InlineExecutor, ProcessExecutor, Task
from sextant.research.families import FAMILIES
from sextant.research.hypothesis import Hypothesis, baseline, mutate, proposal_rng


def hypotheses(count: int, seed: int) -> list[Hypothesis]:
    families = list(FAMILIES)
    return [mutate(baseline(families[index % len(families)]), proposal_rng(seed, index)) for index in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hypotheses", type=int, default=10, help="hypotheses per measurement (default 10)")
    parser.add_argument("--window", type=int, default=100_000, help="quotes per window (default 100000)")
    args = parser.parse_args()
    quotes = model_quotes(args.window * 4, seed=7)
    config = ResearchConfig(selection_windows=3, holdout_fraction=0.25, workers=2)
    split = walk_forward(quotes, config.selection_windows, config.holdout_fraction)
    tasks = [Task(h.family, h.params, "selection") for h in hypotheses(args.hypotheses, seed=11)]

    inline = InlineExecutor(split, config)
    inline.map(tasks[:1])  # numba's kernels and Nautilus' first engines: not what a hypothesis costs
    seconds = []
    for task in tasks:
        started = time.perf_counter()
        inline.map([task])
        seconds.append(time.perf_counter() - started)
    inline.close()
    one = len(tasks) / sum(seconds) * 60

    pool = ProcessExecutor(split, config)
    pool.map(tasks[:2])  # start the workers and build their engines
    started = time.perf_counter()
    pool.map(tasks)
    two = len(tasks) / (time.perf_counter() - started) * 60
    pool.close()

    print(f"\nresearch throughput: {len(tasks)} hypotheses, each on 3 selection windows of {args.window:,} quotes "
          f"(Nautilus BacktestEngine), {os.cpu_count()} CPUs")
    print(f"  1 worker   {one:7.1f} hypotheses a minute   per hypothesis median {np.median(seconds):.2f} s, "
          f"p99 {np.percentile(seconds, 99):.2f} s")
    print(f"  2 workers  {two:7.1f} hypotheses a minute   {two / one:.2f}× of 1 worker")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
