"""StateEncoder: keeps the ContextWindow current from Nautilus' data, portfolio and events.

On every quote it writes top of book, features, position, PnL and account numbers into the ContextWriter's record,
pushes the quote onto the 64-event trace, and commits. Fills and risk events reach the trace through the event
sink. A timer keeps the heartbeats of all three files fresh and emits a Heartbeat event once a second, so a reader
can tell a quiet market from a dead engine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
from nautilus_trader.common.actor import Actor
from nautilus_trader.common.messages import TradingStateChanged
from nautilus_trader.config import ActorConfig
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.identifiers import InstrumentId

from sextant.engine.events import EventSink
from sextant.engine.features import FORECAST_STEP_S, MarketFeatures
from sextant.engine.latency import LatencySamples
from sextant.risk.field import DIMENSIONS, gradient, potentials
from sextant.risk.hull import LINEAR_PERP_APPLICABLE, RiskLimits, hull_readings
from sextant.state import messages
from sextant.state.context import ContextWriter
from sextant.state.layout import HullDimension, TraceKind, TradingState, Venue

_HEARTBEAT_EVENT_EVERY = 4  # timer ticks per Heartbeat event


class StateEncoderConfig(ActorConfig, frozen=True):
    component_id: str = "StateEncoder"
    instrument_id: str = "BTC-USDT-SWAP.OKX"
    heartbeat_interval_s: float = 0.25


class StateEncoder(Actor):
    def __init__(self, config: StateEncoderConfig, writer: ContextWriter, sink: EventSink, *, venue: Venue,
                 dry_run: bool, heartbeat_files: tuple[Any, ...] = (), risk_limits: RiskLimits | None = None,
                 base_size: float = 1.0) -> None:
        super().__init__(config)
        self._instrument_id = InstrumentId.from_str(config.instrument_id)
        self._interval_s = config.heartbeat_interval_s
        self._writer = writer
        # (ts_event, ts_init, bid, ask, bid_size, ask_size) of each quote, after the commit: the scene recorder.
        self.quote_listeners: list[Callable[[int, int, float, float, float, float], None]] = []
        self._sink = sink
        self._heartbeat_files = heartbeat_files
        self._features = MarketFeatures()
        self._started_ns = time.time_ns()
        self._beats = 0
        self._position = 0.0  # contracts; these three are refreshed from Nautilus on book events
        self._entry = 0.0
        self._balance_total = 0.0
        # Quote handling latency: from the data client creating the tick (ts_init) to the ContextWindow commit.
        self.latencies = LatencySamples()
        record = writer.record
        record["venue"] = int(venue)
        record["dry_run"] = int(dry_run)
        record["horizon_s"][:] = self._features.horizons_s
        record["forecast_step_s"] = FORECAST_STEP_S
        self._risk_limits = risk_limits or RiskLimits()
        self._limits = self._risk_limits.as_array()
        self._base_size = base_size
        self._x = np.zeros(DIMENSIONS)
        self._potential = np.zeros(DIMENSIONS)
        self._gradient = np.zeros(DIMENSIONS)
        self._alert_level = 0  # 0 none, 1 warned, 2 vetoed: alerts fire on the way up, re-arm below 80 %
        record["risk_limit"] = self._limits
        record["risk_applicable"][:DIMENSIONS] = LINEAR_PERP_APPLICABLE
        record["risk_warn"], record["risk_veto"] = self._risk_limits.warn, self._risk_limits.veto
        sink.add_listener(self._on_engine_event)
        self._hot = writer.fields  # views of the fields every quote writes: a quarter of the cost by name

    @property
    def writer(self) -> ContextWriter:
        return self._writer

    def set_risk_limits(self, limits: RiskLimits) -> None:
        """Change the hull's limits while running (a risk officer tightening them); applies from the next quote."""
        self._risk_limits = limits
        self._limits = limits.as_array()
        record = self._writer.record
        record["risk_limit"] = self._limits
        record["risk_warn"], record["risk_veto"] = limits.warn, limits.veto

    def on_start(self) -> None:
        instrument = self.cache.instrument(self._instrument_id)
        if instrument is not None:
            record = self._writer.record
            record["price_increment"] = instrument.price_increment.as_double()
            record["size_increment"] = instrument.size_increment.as_double()
            record["multiplier"] = instrument.multiplier.as_double()
        self.subscribe_quote_ticks(self._instrument_id)
        self.msgbus.subscribe(topic="events.risk", handler=self._on_risk_event)
        for topic in ("events.order.*", "events.position.*", "events.account.*"):
            self.msgbus.subscribe(topic=topic, handler=self._refresh_book)
        self._refresh_book()
        self.clock.set_timer("sextant-heartbeat", timedelta(seconds=self._interval_s), callback=self._on_timer)

    def on_stop(self) -> None:
        self.clock.cancel_timers()

    def on_quote_tick(self, tick: QuoteTick) -> None:
        bid, ask = tick.bid_price.as_double(), tick.ask_price.as_double()
        bid_size, ask_size = tick.bid_size.as_double(), tick.ask_size.as_double()
        mid = (bid + ask) / 2
        features = self._features
        features.update(tick.ts_event, mid)
        hot = self._hot
        hot.ts_ns[0] = tick.ts_event
        hot.bid[0], hot.ask[0], hot.mid[0] = bid, ask, mid
        hot.bid_size[0], hot.ask_size[0] = bid_size, ask_size
        hot.spread_bps[0] = (ask - bid) / mid * 1e4 if mid > 0 else 0.0
        hot.quote_count[0] += 1
        hot.momentum[:] = features.momentum
        hot.volatility[:] = features.volatility
        hot.sea_state[0] = features.sea_state
        np.multiply(features.forecast_factors, mid, out=hot.forecast_mid)
        self._update_position(mid)
        self._update_risk(tick.ts_event)
        self._writer.push_trace(TraceKind.QUOTE, mid, bid_size + ask_size, tick.ts_event)
        self._writer.commit(self.clock.timestamp_ns())  # the engine's clock: wall time live, simulated in a sim
        for listener in self.quote_listeners:
            listener(tick.ts_event, tick.ts_init, bid, ask, bid_size, ask_size)
        self.latencies.add(self.clock.timestamp_ns() - tick.ts_init)

    def quote_latencies_ns(self, last: int | None = None) -> np.ndarray:
        """The most recent quote handling latencies (ns), oldest first."""
        return self.latencies.last(last)

    def _update_position(self, mid: float) -> None:
        """Mark the position to the new mid. The account, the entry and the order count change only on order,
        position and account events (`_refresh_book`), so a quote costs a few multiplications, not portfolio
        queries."""
        hot = self._hot
        position = self._position
        multiplier = float(hot.multiplier[0])
        unrealized = (mid - self._entry) * position * multiplier if position else 0.0
        hot.position_size[0] = position
        hot.position_notional[0] = abs(position) * mid * multiplier
        hot.unrealized_pnl[0] = unrealized
        equity = self._balance_total + unrealized
        hot.equity[0] = equity
        hot.leverage[0] = abs(position) * mid * multiplier / equity if equity > 0 else 0.0
        peak = max(float(hot.peak_equity[0]), equity)
        hot.peak_equity[0] = peak
        hot.drawdown[0] = (peak - equity) / peak if peak > 0 else 0.0

    def _update_risk(self, ts_ns: int) -> None:
        """The hull readings, their potentials and gradient, and RiskAlert events when the total crosses a level."""
        hull_readings(self._hot, self._base_size, self._x)
        total = potentials(self._x, self._limits, LINEAR_PERP_APPLICABLE, self._potential)
        gradient(self._x, self._limits, LINEAR_PERP_APPLICABLE, self._gradient)
        hot = self._hot
        hot.risk_x[:] = self._x
        hot.risk_potential[:] = self._potential
        hot.risk_gradient[:] = self._gradient
        hot.risk_total[0] = total
        limits = self._risk_limits
        level = 2 if total >= limits.veto else 1 if total >= limits.warn else 0
        if level > self._alert_level:
            worst = int(np.argmax(self._potential))
            self._sink.publish(messages.RiskAlert(
                dimension=HullDimension(worst).name, value=float(self._x[worst]), limit=float(self._limits[worst]),
                potential=float(total), threshold=limits.veto if level == 2 else limits.warn,
                level="VETO" if level == 2 else "WARN"), ts_ns)
            self._alert_level = level
        else:  # re-arm a level once the total has fallen below 80 % of it
            rearmed = 2 if total >= 0.8 * limits.veto else 1 if total >= 0.8 * limits.warn else 0
            self._alert_level = min(self._alert_level, rearmed)

    def _refresh_book(self, event: Any = None) -> None:
        """Position, entry, realised PnL, balances and open orders from Nautilus, after anything that changes them."""
        instrument_id = self._instrument_id
        record = self._writer.record
        self._position = float(self.portfolio.net_position(instrument_id) or 0)
        positions = self.cache.positions_open(instrument_id=instrument_id)
        self._entry = positions[0].avg_px_open if positions else 0.0
        record["entry_price"] = self._entry
        realized = self.portfolio.realized_pnl(instrument_id)
        record["realized_pnl"] = realized.as_double() if realized is not None else 0.0
        account = self.portfolio.account(instrument_id.venue)
        instrument = self.cache.instrument(instrument_id)
        # OKX accounts are multi-currency (no base currency): read the balance the instrument settles in.
        currency = (account.base_currency if account is not None else None) or (
            instrument.settlement_currency if instrument is not None else None)
        if account is not None and currency is not None:
            total, free, locked = (account.balance_total(currency), account.balance_free(currency),
                                   account.balance_locked(currency))
            self._balance_total = total.as_double() if total is not None else 0.0
            record["balance_free"] = free.as_double() if free is not None else 0.0
            record["margin_used"] = locked.as_double() if locked is not None else 0.0
        record["orders_open"] = self.cache.orders_open_count(instrument_id=instrument_id)
        if float(record["mid"]) > 0:
            self._update_position(float(record["mid"]))

    def _on_engine_event(self, event: messages.Event, seq: int, ts_ns: int) -> None:
        if isinstance(event, messages.OrderFilled):
            self._writer.record["fills"] += 1
            self._writer.push_trace(TraceKind.FILL, event.fill_price, event.fill_quantity, ts_ns)
        elif isinstance(event, messages.OrderSubmitted):
            self._writer.record["orders_submitted"] += 1
        elif isinstance(event, messages.RiskAlert):
            self._writer.push_trace(TraceKind.RISK_ALERT, event.value, event.potential, ts_ns)

    def _on_risk_event(self, event: Any) -> None:
        if isinstance(event, TradingStateChanged):
            self._writer.record["trading_state"] = int(TradingState[event.state.name])
            self._writer.commit(self.clock.timestamp_ns())

    def _on_timer(self, event: Any) -> None:
        now = time.time_ns()
        self._writer.heartbeat(now)
        for file in self._heartbeat_files:
            file.heartbeat(now)
        self._beats += 1
        if self._beats % _HEARTBEAT_EVENT_EVERY == 0:
            self._sink.publish(messages.Heartbeat(pid=os.getpid(), uptime_s=(now - self._started_ns) / 1e9,
                                                  quotes=int(self._writer.record["quote_count"]),
                                                  context_sequence=self._writer.sequence), self.clock.timestamp_ns())
