"""Simulation throughput: `sextant bench sim` (also part of `make bench`).

Quotes per CPU-second through `sextant sim`'s path (`engine/backtest.run_sim`): Nautilus' BacktestEngine with the
StateEncoder, the SwarmStrategy and the full default crew, LLM escalation off, no recording. The baseline is the
same BacktestEngine over the same quotes with no strategy at all: the ratio is what Sextant's per-quote work costs
on top of Nautilus. Target (SPEC §13): ≥ 100k quotes per CPU-second with the full crew.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig
from nautilus_trader.model.currencies import USDT
from nautilus_trader.model.enums import AccountType, OmsType
from nautilus_trader.model.identifiers import TraderId, Venue
from nautilus_trader.model.objects import Money

from sextant.engine.backtest import model_quotes, run_sim
from sextant.engine.config import EngineConfig
from sextant.engine.instrument import okx_linear_swap

TARGET = 100_000


def nautilus_only(config: EngineConfig, quotes: list) -> float:
    engine = BacktestEngine(BacktestEngineConfig(trader_id=TraderId("BENCH-001"), run_analysis=False,
                                                 logging=LoggingConfig(log_level="ERROR", bypass_logging=True)))
    engine.add_venue(venue=Venue("OKX"), oms_type=OmsType.NETTING, account_type=AccountType.MARGIN,
                     base_currency=USDT, starting_balances=[Money(100_000, USDT)], default_leverage=Decimal(2))
    engine.add_instrument(okx_linear_swap(config.instrument))
    engine.add_data(quotes)
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
    baseline = [nautilus_only(config, quotes) for _ in range(args.runs)]
    crew = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as folder:
            crew.append(run_sim(config, model_quotes(config, args.quotes), Path(folder), record=False)
                        .quotes_per_cpu_second)
    rate, base = float(np.median(crew)), float(np.median(baseline))
    print(f"\nsim throughput, {args.quotes:,} model quotes, median of {args.runs} runs (quotes per CPU-second)")
    print(f"  Nautilus BacktestEngine alone (baseline)  {base:>10,.0f}")
    print(f"  full crew, LLM off (sextant sim)          {rate:>10,.0f}   {rate / base:.2f}× of baseline   "
          f"target ≥ {TARGET:,}: {'met' if rate >= TARGET else 'MISSED'}")
    return 0 if rate >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
