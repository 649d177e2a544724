"""Simulation throughput: `sextant bench sim` (also part of `make bench`).

Quotes per CPU-second through `sextant sim`'s path (`engine/sim.run_sim`): Nautilus' BacktestEngine with the
StateEncoder, the SwarmStrategy and the full default crew, LLM escalation off, no recording. The baseline is the
same BacktestEngine over the same quotes with no strategy at all: the ratio is what Sextant's per-quote work costs
on top of Nautilus. Target (docs/spec.md#performance-targets): ≥ 100k quotes per CPU-second with the full crew.

A portfolio (`sextant sim --portfolio`: three correlated OKX swaps, a crew each, one account) runs the same number
of quotes (a third as many steps of three), against its own Nautilus-alone baseline, in the same run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from nautilus_trader.model.instruments import Instrument

from sextant.engine.config import EngineConfig
from sextant.engine.sim import model_quotes, portfolio_quotes, run_sim
from sextant.market.instrument import okx_linear_swap
from sextant.market.simulated_venue import backtest_engine

TARGET = 100_000


def nautilus_only(instruments: list[Instrument], quotes: list) -> float:
    engine = backtest_engine(instruments, quotes, trader_id="BENCH-001", starting_balance=100_000, leverage=2)
    started = time.process_time()
    engine.run()
    elapsed = time.process_time() - started
    engine.dispose()
    return len(quotes) / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quotes", type=int, default=36_000, help="model quotes per run (0.1 s each)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    config = EngineConfig(cooldown_secs=30.0)
    quotes = model_quotes(config, args.quotes)
    portfolio, portfolio_data = portfolio_quotes(config, args.quotes // 3)
    baseline = [nautilus_only([okx_linear_swap(config.instrument)], quotes) for _ in range(args.runs)]
    portfolio_baseline = [nautilus_only(portfolio, portfolio_data) for _ in range(args.runs)]
    crew, crews = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as folder:
            crew.append(run_sim(config, model_quotes(config, args.quotes), Path(folder), record=False)
                        .quotes_per_cpu_second)
        with tempfile.TemporaryDirectory() as folder:
            crews.append(run_sim(config, portfolio_quotes(config, args.quotes // 3)[1], Path(folder), record=False,
                                 portfolio=portfolio).quotes_per_cpu_second)
    rate, base = float(np.median(crew)), float(np.median(baseline))
    rate3, base3 = float(np.median(crews)), float(np.median(portfolio_baseline))
    print(f"\nsim throughput, {args.quotes:,} model quotes, median of {args.runs} runs (quotes per CPU-second)")
    print(f"  1 instrument: Nautilus BacktestEngine alone (baseline)  {base:>10,.0f}")
    print(f"  1 instrument: full crew, LLM off (sextant sim)          {rate:>10,.0f}   {rate / base:.2f}× of baseline"
          f"   target ≥ {TARGET:,}: {'met' if rate >= TARGET else 'MISSED'}")
    print(f"  3 instruments: Nautilus BacktestEngine alone (baseline) {base3:>10,.0f}")
    print(f"  3 instruments: a crew each (sextant sim --portfolio)    {rate3:>10,.0f}   {rate3 / base3:.2f}× of "
          f"baseline   {rate3 / rate:.2f}× of one instrument's")
    return 0 if rate >= TARGET else 1

if __name__ == "__main__":
    raise SystemExit(main())
