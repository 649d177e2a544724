"""StateEncoder: keeps the ContextWindow current from Nautilus' data, portfolio and events.

On every quote it writes top of book, features, position, PnL and account numbers into the ContextWriter's record,
pushes the quote onto the 64-event trace, and commits; then it publishes QuoteEncoded on the engine's bus
(state/bus.py), where the scene recorder keeps it and the SwarmStrategy decides on the record just written. Fills
and risk events reach the trace from the bus's EventPublished. A timer keeps the heartbeats of all three files
fresh and emits a Heartbeat event once a second, so a reader can tell a quiet market from a dead engine.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any, Literal

import numpy as np
from nautilus_trader.common.actor import Actor
from nautilus_trader.common.messages import TradingStateChanged
from nautilus_trader.config import ActorConfig
from nautilus_trader.model.data import Bar, BarType, QuoteTick, TradeTick
from nautilus_trader.model.events import OrderInitialized
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import Price, Quantity
from numba import njit

from sextant.engine.events import EventSink
from sextant.engine.latency import LatencySamples
from sextant.engine.loop_monitor import LoopMonitor
from sextant.engine.timers import on_engine_thread
from sextant.market.book import DEFAULT_DEPTH, HALF_SPREAD_TICKS
from sextant.market.features import FORECAST_STEP_S, STATE_ROWS, MarketFeatures, state_views, update_features
from sextant.risk.field import DIMENSIONS, gradient, potentials
from sextant.risk.hull import LINEAR_PERP_APPLICABLE, RiskLimits, readings
from sextant.state import messages
from sextant.state.bus import Bus, EventPublished, QuoteEncoded
from sextant.state.context import ContextWriter
from sextant.state.layout import HullDimension, TraceKind, TradingState, Venue
from sextant.state.memory import drop_jit_cache_of_another_layout

_HEARTBEAT_EVENT_EVERY = 4  # timer ticks per Heartbeat event
_TRACE_QUOTE = 0  # TraceKind.QUOTE, a literal for the kernel (numba's cache keeps the globals it compiled with)
if int(TraceKind.QUOTE) != _TRACE_QUOTE:
    raise ImportError("TraceKind.QUOTE changed: update _TRACE_QUOTE in sextant/engine/encoder.py")
# state_views' rows and slot that encode_tick reads, as literals for the same reason
_MOMENTUM_ROW, _VOLATILITY_ROW, _SEA_STATE_SLOT = 2, 3, 3
if (_MOMENTUM_ROW, _VOLATILITY_ROW, _SEA_STATE_SLOT) != STATE_ROWS:
    raise ImportError("MarketFeatures' state changed: update _MOMENTUM_ROW etc. in sextant/engine/encoder.py")
# The encoder's own numbers for the quote kernel, in one float64 buffer (each array argument costs a call ~60 ns):
# rows of DIMENSIONS (the hull's readings, potentials, gradient and the summary's peaks, then the limits and the
# applicable flags), then the book: position, entry, balance total, base size.
_RISK_ROWS, _LIMITS_ROW, _APPLICABLE_ROW, _WORK_ROWS = 4, 4, 5, 6
_POSITION, _ENTRY, _BALANCE, _BASE_SIZE = range(4)


class StateEncoderConfig(ActorConfig, frozen=True):
    component_id: str = "StateEncoder"
    instrument_id: str = "BTC-USDT-SWAP.OKX"
    # What the crew reads: quotes, or (a backtest on an imported market) bars of `bar_type`, or trades, each as the
    # book market/book.py centres on its price
    reads: Literal["quotes", "bars", "trades"] = "quotes"
    bar_type: str | None = None
    heartbeat_interval_s: float = 0.25


class StateEncoder(Actor):
    def __init__(self, config: StateEncoderConfig, writer: ContextWriter, sink: EventSink, *, bus: Bus, venue: Venue,
                 dry_run: bool, heartbeat_files: tuple[Any, ...] = (), risk_limits: RiskLimits | None = None,
                 base_size: float = 1.0, measure_latency: bool = True) -> None:
        super().__init__(config)
        self._instrument_id = InstrumentId.from_str(config.instrument_id)
        self._reads = config.reads
        self._bar_type = BarType.from_str(config.bar_type) if config.bar_type else None
        self._half_spread = 0.0  # a bar's synthesised book: HALF_SPREAD_TICKS of the instrument's tick
        self._price_precision = self._size_precision = 0
        self._interval_s = config.heartbeat_interval_s
        self._writer = writer
        # Each quote goes on to the crew from here, as QuoteEncoded, rather than through the strategy's own
        # Nautilus subscription: a quote costs one Nautilus dispatch, not two, and the crew reads the record this
        # quote just wrote.
        self._bus = bus
        self._sink = sink
        self._heartbeat_files = heartbeat_files
        self._features = MarketFeatures()
        self._started_ns = time.time_ns()
        self._beats = 0
        self.loop_monitor: LoopMonitor | None = None  # set by the engine: its stalls ride on the Heartbeat
        self._work = np.zeros(_WORK_ROWS * DIMENSIONS + 4)
        # Quote handling latency: from the data client creating the tick (ts_init) to the ContextWindow commit,
        # before the quote goes on to the bus.
        # Off in `sextant sim`, where both ends are the simulated clock.
        self.latencies = LatencySamples()
        self._measure_latency = measure_latency
        # The largest drawdown, hull total potential and |position| any quote's record held: `sextant sim`'s
        # summary, kept by the quote kernel, so it holds with a throttled commit (ContextWriter.throttle).
        # Rows: the hull's readings, potentials and gradient of the last quote, then the peaks (encode_tick).
        rows = self._work[:_WORK_ROWS * DIMENSIONS].reshape(_WORK_ROWS, DIMENSIONS)
        self._risk = rows[:_RISK_ROWS]
        self._x, self._potential, self._gradient = self._risk[0], self._risk[1], self._risk[2]
        self.peaks = self._risk[3, :3]
        self._limits, self._applicable = rows[_LIMITS_ROW], rows[_APPLICABLE_ROW]
        # position (contracts), entry and balance total are refreshed from Nautilus on book events
        self._book = self._work[_WORK_ROWS * DIMENSIONS:]
        self._uncommitted_ns = 0  # the engine time of the last quote whose commit the throttle skipped, else 0
        record = writer.record
        record["venue"] = int(venue)
        record["dry_run"] = int(dry_run)
        record["horizon_s"][:] = self._features.horizons_s
        record["forecast_step_s"] = FORECAST_STEP_S
        self._risk_limits = risk_limits or RiskLimits()
        self._limits[:] = self._risk_limits.as_array()
        self._applicable[:] = LINEAR_PERP_APPLICABLE
        self._book[_BASE_SIZE] = base_size
        self._alert_level = 0  # 0 none, 1 warned, 2 vetoed: alerts fire on the way up, re-arm below 80 %
        record["risk_limit"] = self._limits
        record["risk_applicable"][:DIMENSIONS] = LINEAR_PERP_APPLICABLE
        record["risk_warn"], record["risk_veto"] = self._risk_limits.warn, self._risk_limits.veto
        bus.subscribe(EventPublished, self._on_engine_event)
        self._storage = writer.storage  # the pending record, for the per-quote kernel (encode_tick)
        self._features_floats, self._features_ints = self._features.packed
        self._warm_kernel()

    def _warm_kernel(self) -> None:
        """Load (or compile) the per-quote kernel now, on scratch state: its first call takes ~0.2 s from numba's
        cache (seconds after a source change), which must not stall the first quote of a live engine. Then keep the
        compiled function itself: a quote passes this encoder's own arrays, always of the scratch state's types, so
        the dispatcher's typing of its arguments on every call is skipped."""
        args = (np.zeros_like(self._storage), *MarketFeatures().packed, self._work.copy(), 0, 1.0, 1.0, 1.0, 1.0)
        encode_tick(*args)
        compiled = encode_tick.overloads.get(tuple(encode_tick.typeof_pyval(arg) for arg in args))
        # numba's types for CompileResult omit entry_point
        self._encode_tick = compiled.entry_point if compiled is not None else encode_tick  # type: ignore[attr-defined]

    @property
    def writer(self) -> ContextWriter:
        return self._writer

    def set_risk_limits(self, limits: RiskLimits) -> None:
        """Change the hull's limits while running (a risk officer tightening them); applies from the next quote."""
        self._risk_limits = limits
        self._limits[:] = limits.as_array()
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
            self._half_spread = HALF_SPREAD_TICKS * instrument.price_increment.as_double()
            self._price_precision, self._size_precision = instrument.price_precision, instrument.size_precision
        if self._reads == "bars" and self._bar_type is not None:
            self.subscribe_bars(self._bar_type)
        elif self._reads == "trades":
            self.subscribe_trade_ticks(self._instrument_id)
        else:
            self.subscribe_quote_ticks(self._instrument_id)
        self.msgbus.subscribe(topic="events.risk", handler=self._on_risk_event)
        self.msgbus.subscribe(topic="events.order.*", handler=self._on_order_event)
        for topic in ("events.position.*", "events.account.*"):
            self.msgbus.subscribe(topic=topic, handler=self._refresh_book)
        self._refresh_book()
        self._beat(time.time_ns())  # alive from the start, and the heartbeat kernels are loaded before any quote
        self.clock.set_timer("sextant-heartbeat", timedelta(seconds=self._interval_s),
                             callback=on_engine_thread(self._on_timer))

    def on_stop(self) -> None:
        self.clock.cancel_timers()

    def on_quote_tick(self, tick: QuoteTick) -> None:
        bid, ask = tick.bid_price.as_double(), tick.ask_price.as_double()
        bid_size, ask_size = tick.bid_size.as_double(), tick.ask_size.as_double()
        ts_ns = tick.ts_event
        total = self._encode_tick(self._storage, self._features_floats, self._features_ints, self._work, ts_ns, bid,
                                  ask, bid_size, ask_size)
        if total >= self._risk_limits.warn or self._alert_level:  # else no level is crossed or re-armed
            self._alert(total, ts_ns)
        now = self.clock.timestamp_ns()  # the engine's clock: wall time live, simulated in a sim
        self._uncommitted_ns = 0 if self._writer.commit_if_due(now) else now
        if self._measure_latency:
            self.latencies.add(self.clock.timestamp_ns() - tick.ts_init)
        self._bus.publish(QuoteEncoded(tick, ts_ns, tick.ts_init, bid, ask, bid_size, ask_size))

    def on_bar(self, bar: Bar) -> None:
        """A bar, at its close, as the book market/book.py synthesises: centred on the close."""
        self._book_at(bar.close.as_double(), bar.ts_event, bar.ts_init)

    def on_trade_tick(self, trade: TradeTick) -> None:
        """A trade, as the book market/book.py synthesises: centred on its price."""
        self._book_at(trade.price.as_double(), trade.ts_event, trade.ts_init)

    def _book_at(self, price: float, ts_event: int, ts_init: int) -> None:
        depth = Quantity(DEFAULT_DEPTH, self._size_precision)
        quote = QuoteTick(self._instrument_id, Price(price - self._half_spread, self._price_precision),
                          Price(price + self._half_spread, self._price_precision), depth, depth, ts_event, ts_init)
        self.cache.add_quote_tick(quote)  # the book the strategy prices an approval or a modify against later
        self.on_quote_tick(quote)

    def flush(self) -> None:
        """Commit the last quote's record if the writer's throttle skipped it (the end of a `sextant sim` run)."""
        if self._uncommitted_ns:
            self._writer.commit(self._uncommitted_ns)
            self._uncommitted_ns = 0

    def quote_latencies_ns(self, last: int | None = None) -> np.ndarray:
        """The most recent quote handling latencies (ns), oldest first."""
        return self.latencies.last(last)

    def _alert(self, total: float, ts_ns: int) -> None:
        """RiskAlert events when the hull's total potential crosses a level."""
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

    def _on_order_event(self, event: Any) -> None:
        # A new order changes no position, balance or open-order count until it reaches the venue, and it is
        # published on the path from a quote to the order leaving: skip the book's refresh there.
        if not isinstance(event, OrderInitialized):
            self._refresh_book(event)

    def _refresh_book(self, event: Any = None) -> None:
        """Position, entry, realised PnL, balances and open orders from Nautilus, after anything that changes them."""
        instrument_id = self._instrument_id
        record = self._writer.record
        book = self._book
        book[_POSITION] = position = float(self.portfolio.net_position(instrument_id) or 0)
        positions = self.cache.positions_open(instrument_id=instrument_id)
        book[_ENTRY] = entry = positions[0].avg_px_open if positions else 0.0
        record["entry_price"] = entry
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
            book[_BALANCE] = total.as_double() if total is not None else 0.0
            record["balance_free"] = free.as_double() if free is not None else 0.0
            record["margin_used"] = locked.as_double() if locked is not None else 0.0
        record["orders_open"] = self.cache.orders_open_count(instrument_id=instrument_id)
        if float(record["mid"]) > 0:
            mark_position(self._storage[0], float(record["mid"]), position, entry, float(book[_BALANCE]))

    def _on_engine_event(self, published: EventPublished) -> None:
        event, ts_ns = published.event, published.ts_ns
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

    def _beat(self, now: int) -> None:
        self._writer.heartbeat(now)
        for file in self._heartbeat_files:
            file.heartbeat(now)

    def _on_timer(self, event: Any) -> None:
        now = time.time_ns()
        self._beat(now)
        self._beats += 1
        if self._beats % _HEARTBEAT_EVENT_EVERY == 0:
            stalls = self.loop_monitor.stats if self.loop_monitor is not None else None
            self._sink.publish(messages.Heartbeat(
                pid=os.getpid(), uptime_s=(now - self._started_ns) / 1e9, quotes=self._writer.fields.quote_count.item(),
                context_sequence=self._writer.sequence,
                loop_stall_ms=stalls.take_recent_max() * 1e3 if stalls else 0.0,
                loop_stall_max_ms=stalls.max_s * 1e3 if stalls else 0.0,
                loop_stall_p99_ms=stalls.percentile(99) * 1e3 if stalls else 0.0), self.clock.timestamp_ns())


@njit(cache=True, nogil=True)
def mark_position(rec: Any, mid: float, position: float, entry: float, balance_total: float) -> None:
    """Mark the position to `mid` in the record `rec`. The account, the entry and the order count change only on
    order, position and account events (`_refresh_book`), so a quote costs a few multiplications, not portfolio
    queries."""
    multiplier = rec.multiplier
    unrealized = (mid - entry) * position * multiplier if position else 0.0
    rec.position_size = position
    rec.position_notional = abs(position) * mid * multiplier
    rec.unrealized_pnl = unrealized
    equity = balance_total + unrealized
    rec.equity = equity
    rec.leverage = abs(position) * mid * multiplier / equity if equity > 0 else 0.0
    # max(peak, equity) as Python's: a NaN equity (a NaN quote) keeps the peak, under numba too
    peak = equity if equity > rec.peak_equity else rec.peak_equity
    rec.peak_equity = peak
    rec.drawdown = (peak - equity) / peak if peak > 0 else 0.0


@njit(cache=True, nogil=True)
def encode_tick(storage: np.ndarray, features_floats: np.ndarray, features_ints: np.ndarray, work: np.ndarray,
                ts_ns: int, bid: float, ask: float, bid_size: float, ask_size: float) -> float:
    """A quote, in one call from Python with four arrays (each array argument costs the call ~60 ns): the
    features' update (MarketFeatures.packed), then encode_quote with the encoder's `work` buffer's rows as x,
    potential, grad and peaks, limits and applicable flags, and its book."""
    closes, returns, horizon, sums, counts, forecast, scalars, counters = state_views(features_floats, features_ints)
    update_features(ts_ns // 1_000_000_000, (bid + ask) / 2, closes, returns, horizon, sums, counts, forecast, scalars,
                    counters)
    dimensions = (work.shape[0] - 4) // _WORK_ROWS
    rows = work[:_WORK_ROWS * dimensions].reshape((_WORK_ROWS, dimensions))
    book = work[_WORK_ROWS * dimensions:]
    return encode_quote(storage, ts_ns, bid, ask, bid_size, ask_size, horizon[_MOMENTUM_ROW], horizon[_VOLATILITY_ROW],
                        scalars[_SEA_STATE_SLOT], forecast, book[_POSITION], book[_ENTRY], book[_BALANCE],
                        book[_BASE_SIZE], rows[_LIMITS_ROW], rows[_APPLICABLE_ROW], rows[0], rows[1], rows[2], rows[3])


@njit(cache=True, nogil=True)
def encode_quote(storage: np.ndarray, ts_ns: int, bid: float, ask: float, bid_size: float, ask_size: float,
                 momentum: np.ndarray, volatility: np.ndarray, sea_state: float, forecast_factors: np.ndarray,
                 position: float, entry: float, balance_total: float, base_size: float, limits: np.ndarray,
                 applicable: np.ndarray, x: np.ndarray, potential: np.ndarray, grad: np.ndarray,
                 peaks: np.ndarray) -> float:
    """A quote's writes into the pending record (`storage[0]`), in one call: top of book, the features, the
    marked position, the hull readings with their potentials and gradient (also into x, potential and grad), and
    the quote on the trace; `peaks` keeps the largest drawdown, total potential and |position| so far (as
    Python's max(peak, value)). Returns the hull's total potential."""
    rec = storage[0]
    mid = (bid + ask) / 2
    rec.ts_ns = ts_ns
    rec.bid, rec.ask, rec.mid = bid, ask, mid
    rec.bid_size, rec.ask_size = bid_size, ask_size
    spread_bps = (ask - bid) / mid * 1e4 if mid > 0 else 0.0
    rec.spread_bps = spread_bps
    rec.quote_count += 1
    for i in range(momentum.shape[0]):
        rec.momentum[i] = momentum[i]
        rec.volatility[i] = volatility[i]
    rec.sea_state = sea_state
    for i in range(forecast_factors.shape[0]):
        rec.forecast_mid[i] = forecast_factors[i] * mid
    mark_position(rec, mid, position, entry, balance_total)
    readings(rec.position_size, rec.multiplier, bid_size, ask_size, spread_bps, rec.margin_used, rec.equity,
             rec.leverage, rec.drawdown, base_size, x)
    total = potentials(x, limits, applicable, potential)
    gradient(x, limits, applicable, grad)
    for i in range(x.shape[0]):
        rec.risk_x[i], rec.risk_potential[i], rec.risk_gradient[i] = x[i], potential[i], grad[i]
    rec.risk_total = total
    count = rec.trace_count
    slot = count % rec.trace_price.shape[0]
    rec.trace_kind[slot] = _TRACE_QUOTE
    rec.trace_price[slot] = mid
    rec.trace_size[slot] = bid_size + ask_size
    rec.trace_ts_ns[slot] = ts_ns
    rec.trace_count = count + 1
    # `if value > peak` as Python's max(peak, value): a NaN never becomes the peak, under numba too
    drawdown, size = rec.drawdown, abs(rec.position_size)
    if drawdown > peaks[0]:
        peaks[0] = drawdown
    if total > peaks[1]:
        peaks[1] = total
    if size > peaks[2]:
        peaks[2] = size
    return total


drop_jit_cache_of_another_layout(encode_quote)
