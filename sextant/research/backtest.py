"""Micro-backtests on Nautilus' BacktestEngine: a family's target schedule, executed with real fills and fees.

A family's kernel (research/families.py) decides, causally, the target position after each one-second bucket. A
ScheduleStrategy inside a BacktestEngine turns each change into a market order at the bucket's last quote (a time
alert at that quote's timestamp): Nautilus' simulated exchange fills it against the book at that moment, with the
instrument's taker fee, on the market's instrument (the engine's OKX swap, or an imported one), its bars executed
as Nautilus executes bars. The fills come back as events; the equity
curve is marked from them and the window's mids.

An engine per window is built once per worker and reset between hypotheses (Nautilus keeps the data and the
instrument across `reset()`), so a hypothesis costs the run, not the setup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.config import StrategyConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import Bar, BarType, TradeTick
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import Quantity
from nautilus_trader.trading.strategy import Strategy

from sextant.market.simulated_venue import backtest_engine, quote_ticks
from sextant.research.data import ENGINE_INSTRUMENT, Quotes
from sextant.research.families import WindowFeatures, window_features


@dataclass(frozen=True, slots=True)
class Fills:
    """What Nautilus filled: per fill, the time, signed quantity (contracts), price and commission (USDT)."""

    ts_ns: np.ndarray
    quantity: np.ndarray
    price: np.ndarray
    commission: np.ndarray

    @staticmethod
    def empty() -> Fills:
        return Fills(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0))


class ScheduleStrategyConfig(StrategyConfig, frozen=True):
    instrument_id: str = ENGINE_INSTRUMENT
    size_precision: int = 2


class ScheduleStrategy(Strategy):
    """Moves the position to each scheduled target with a market order, at the scheduled time."""

    def __init__(self, config: ScheduleStrategyConfig, times_ns: np.ndarray, targets: np.ndarray) -> None:
        super().__init__(config)
        self._instrument_id = InstrumentId.from_str(config.instrument_id)
        self._size_precision = config.size_precision
        self._times = times_ns
        self._targets = targets
        self._next = 0
        self.fills: list[tuple[int, float, float, float]] = []

    def on_start(self) -> None:
        if len(self._times):
            self.clock.set_time_alert_ns("schedule", int(self._times[0]), self._on_alert)

    def _on_alert(self, event: Any) -> None:
        target = float(self._targets[self._next])
        position = float(self.portfolio.net_position(self._instrument_id) or 0)
        change = round(target - position, self._size_precision)
        if change != 0:
            side = OrderSide.BUY if change > 0 else OrderSide.SELL
            self.submit_order(self.order_factory.market(self._instrument_id, side,
                                                        Quantity(abs(change), self._size_precision)))
        self._next += 1
        if self._next < len(self._times):
            self.clock.set_time_alert_ns("schedule", int(self._times[self._next]), self._on_alert)

    def on_order_filled(self, event: Any) -> None:
        quantity = event.last_qty.as_double()
        signed = quantity if event.order_side == OrderSide.BUY else -quantity
        self.fills.append((int(event.ts_event), signed, event.last_px.as_double(), event.commission.as_double()))


class WindowBacktester:
    """One window's engine and features, reused for every hypothesis a worker evaluates on it."""

    def __init__(self, quotes: Quotes, *, starting_balance: float = 100_000.0) -> None:
        self.quotes = quotes
        self.instrument = quotes.market_instrument()
        self.features: WindowFeatures = window_features(quotes.ts_ns, quotes.bid, quotes.ask)
        self._starting_balance = starting_balance
        self._engine: BacktestEngine | None = None

    def _build(self) -> BacktestEngine:
        instrument = self.instrument
        q = self.quotes
        data: list[Data]
        ts = np.array(q.ts_ns, np.uint64)
        if q.bars is not None and q.bar_type is not None:  # the bars themselves, for Nautilus' bar execution
            data = Bar.from_raw_arrays_to_list(BarType.from_str(q.bar_type), instrument.price_precision,
                                               instrument.size_precision, *(np.array(c, np.float64) for c in q.bars),
                                               ts, ts.copy())
        elif q.trades is not None:  # the trades themselves, for Nautilus' trade execution
            price, size = (np.array(c, np.float64) for c in q.trades)
            data = TradeTick.from_raw_arrays_to_list(instrument.id, instrument.price_precision,
                                                     instrument.size_precision, price, size,
                                                     np.zeros(len(price), np.uint8),
                                                     [str(n) for n in range(len(price))], ts, ts.copy())
        else:
            data = quote_ticks(instrument, q.bid, q.ask, q.bid_size, q.ask_size, q.ts_ns)
        return backtest_engine(instrument, data, trader_id="RESEARCH-001", starting_balance=self._starting_balance,
                               leverage=10)

    def run(self, targets: np.ndarray, base_size: float) -> Fills:
        """Execute a per-bucket target path (in base sizes) on Nautilus; the fills it produced."""
        changes = np.flatnonzero(np.diff(np.concatenate(([0.0], targets))) != 0)
        if len(changes) == 0:
            return Fills.empty()
        if self._engine is None:
            self._engine = self._build()
        else:
            self._engine.reset()
            self._engine.clear_strategies()
            # The trader subscribed each strategy to its own order and position topics, which clearing it leaves
            # behind: every run would then publish to all the strategies before it (61 of each after 60 runs,
            # each hypothesis slower than the last).
            bus = self._engine.kernel.msgbus
            for subscription in bus.subscriptions():
                if isinstance(getattr(subscription.handler, "__self__", None), ScheduleStrategy):
                    bus.unsubscribe(subscription.topic, subscription.handler)
        precision = self.instrument.size_precision
        strategy = ScheduleStrategy(ScheduleStrategyConfig(instrument_id=str(self.instrument.id),
                                                           size_precision=precision),
                                    self.features.end_ns[changes], np.round(targets[changes] * base_size, precision))
        self._engine.add_strategy(strategy)
        self._engine.run()
        if not strategy.fills:
            return Fills.empty()
        ts, quantity, price, commission = (np.array(column) for column in zip(*strategy.fills, strict=True))
        return Fills(ts.astype(np.int64), quantity, price, commission)

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
