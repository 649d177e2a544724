"""Nautilus' own per-quote floor under `sextant sim`: what a BacktestEngine costs per quote before any Sextant
code runs, with what the crew makes it carry. Run: `.venv/bin/python bench/sim_floor.py`.

Rows (the same seeded model quotes as `sextant bench sim`, process_time, median of --runs):
  alone       the engine and the simulated venue, no strategy
  subscriber  + one strategy subscribed to the quotes with an empty handler (each of our actors adds one)
  native      + one resting native trailing stop, trailed by the simulated venue
  emulated    + one emulated trailing stop, trailed by Nautilus' OrderEmulator (the crew's TrendFollow order,
              working most of a sim run: the crew waits on it)
The last row's quotes per CPU-second is the ceiling `sextant sim` could reach with Sextant's own work free.
"""

from __future__ import annotations

import argparse
import time
from decimal import Decimal

import numpy as np
from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import OrderSide, TrailingOffsetType, TriggerType
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.strategy import Strategy

from sextant.engine.config import EngineConfig
from sextant.engine.sim import model_quotes
from sextant.market.instrument import okx_linear_swap
from sextant.market.simulated_venue import backtest_engine

MODES = ("alone", "subscriber", "native", "emulated")


class FloorConfig(StrategyConfig, frozen=True):
    mode: str
    instrument_id: str


class FloorStrategy(Strategy):
    """Subscribes to the quotes and, in the trailing-stop modes, places one buy trailing stop so far away
    (20 %) that it works for the whole run."""

    def __init__(self, config: FloorConfig) -> None:
        super().__init__(config)
        self._placed = False
        self._instrument_id = InstrumentId.from_str(config.instrument_id)

    def on_start(self) -> None:
        self.subscribe_quote_ticks(self._instrument_id)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        if self._placed or self.config.mode == "subscriber":
            return
        self._placed = True
        instrument = self.cache.instrument(self._instrument_id)
        emulation = TriggerType.BID_ASK if self.config.mode == "emulated" else TriggerType.NO_TRIGGER
        self.submit_order(self.order_factory.trailing_stop_market(
            self._instrument_id, OrderSide.BUY, instrument.make_qty(1), trailing_offset=Decimal(2000),
            trailing_offset_type=TrailingOffsetType.BASIS_POINTS, trigger_type=TriggerType.BID_ASK,
            emulation_trigger=emulation))


def microseconds_per_quote(config: EngineConfig, quotes: list[QuoteTick], mode: str) -> float:
    instrument = okx_linear_swap(config.instrument)
    engine = backtest_engine(instrument, quotes, trader_id="FLOOR-001", starting_balance=100_000, leverage=2)
    if mode != "alone":
        engine.add_strategy(FloorStrategy(FloorConfig(mode=mode, instrument_id=str(instrument.id))))
    started = time.process_time()
    engine.run()
    elapsed = time.process_time() - started
    engine.dispose()
    return elapsed / len(quotes) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quotes", type=int, default=36_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    config = EngineConfig()
    quotes = model_quotes(config, args.quotes)
    print(f"\nNautilus' per-quote floor, {args.quotes:,} model quotes, median of {args.runs} runs")
    print(f"  {'':<12}{'µs/quote':>10}{'quotes per CPU-s':>20}")
    for mode in MODES:
        cost = float(np.median([microseconds_per_quote(config, quotes, mode) for _ in range(args.runs)]))
        print(f"  {mode:<12}{cost:>10.2f}{1e6 / cost:>20,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
