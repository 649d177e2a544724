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
from nautilus_trader.model.events import OrderInitialized, PositionClosed
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
from sextant.risk.hull import RiskLimits, applicable, instrument_potentials, instrument_readings, readings
from sextant.state import messages
from sextant.state.bus import Bus, EventPublished, QuoteEncoded
from sextant.state.context import ContextWriter, encode_text
from sextant.state.layout import CODE_BYTES, HullDimension, TraceKind, TradingState, Venue
from sextant.state.memory import drop_jit_cache_of_another_layout

_HEARTBEAT_EVENT_EVERY = 4  # timer ticks per Heartbeat event
_TRACE_QUOTE = 0  # TraceKind.QUOTE, a literal for the kernel (numba's cache keeps the globals it compiled with)
if int(TraceKind.QUOTE) != _TRACE_QUOTE:
    raise ImportError("TraceKind.QUOTE changed: update _TRACE_QUOTE in sextant/engine/encoder.py")
# state_views' rows and slot that encode_tick reads, as literals for the same reason
_MOMENTUM_ROW, _VOLATILITY_ROW, _SEA_STATE_SLOT = 2, 3, 3
if (_MOMENTUM_ROW, _VOLATILITY_ROW, _SEA_STATE_SLOT) != STATE_ROWS:
    raise ImportError("MarketFeatures' state changed: update _MOMENTUM_ROW etc. in sextant/engine/encoder.py")
# The encoder's own numbers for the quote kernel, in float64 buffers (each array argument costs a call ~60 ns):
# `work`, rows of DIMENSIONS (the hull's readings, potentials, gradient and the summary's peaks, then the limits and
# the applicable flags), then the account's balance total; `books`, a row per instrument: position, entry, base size.
_RISK_ROWS, _LIMITS_ROW, _APPLICABLE_ROW, _WORK_ROWS = 4, 4, 5, 6
_POSITION, _ENTRY, _BASE_SIZE = range(3)
_DEPTH_SMOOTHING = 0.001  # the touch depth's average: about its last 1,000 quotes
_BOOK_COLUMNS = 3


class StateEncoderConfig(ActorConfig, frozen=True):
    component_id: str = "StateEncoder"
    # The instruments the engine trades, one ContextWindow slot each, in this order
    instrument_ids: tuple[str, ...] = ("BTC-USDT-SWAP.OKX",)
    # What the crew reads: quotes, or (a backtest on an imported market) bars of `bar_type`, or trades, each as the
    # book market/book.py centres on its price
    reads: Literal["quotes", "bars", "trades"] = "quotes"
    bar_type: str | None = None
    heartbeat_interval_s: float = 0.25


class StateEncoder(Actor):
    def __init__(self, config: StateEncoderConfig, writer: ContextWriter, sink: EventSink, *, bus: Bus, venue: Venue,
                 dry_run: bool, heartbeat_files: tuple[Any, ...] = (), risk_limits: RiskLimits | None = None,
                 base_sizes: tuple[float, ...] = (1.0,), delta_limits: tuple[float, ...] | None = None,
                 measure_latency: bool = True) -> None:
        """`base_sizes` and `delta_limits` (in each base asset; default: `risk_limits.delta`) per instrument."""
        super().__init__(config)
        self._instrument_ids = [InstrumentId.from_str(value) for value in config.instrument_ids]
        count = len(self._instrument_ids)
        if len(base_sizes) != count or (delta_limits is not None and len(delta_limits) != count):
            raise ValueError(f"{count} instruments need {count} base sizes and delta limits")
        self._slot_of = {instrument_id: slot for slot, instrument_id in enumerate(self._instrument_ids)}
        self._slot_by_name = {instrument_id.value: slot for instrument_id, slot in self._slot_of.items()}
        self._reads = config.reads
        self._bar_type = BarType.from_str(config.bar_type) if config.bar_type else None
        self._half_spread = [0.0] * count  # a bar's synthesised book: HALF_SPREAD_TICKS of the instrument's tick
        self._precisions = [(0, 0)] * count  # price and size
        self._interval_s = config.heartbeat_interval_s
        self._writer = writer
        # Each quote goes on to the crew from here, as QuoteEncoded, rather than through the strategy's own
        # Nautilus subscription: a quote costs one Nautilus dispatch, not two, and the crew reads the record this
        # quote just wrote.
        self._bus = bus
        self._sink = sink
        self._heartbeat_files = heartbeat_files
        self._features = [MarketFeatures() for _ in range(count)]
        self._started_ns = time.time_ns()
        self._beats = 0
        self.loop_monitor: LoopMonitor | None = None  # set by the engine: its stalls ride on the Heartbeat
        self._work = np.zeros(_WORK_ROWS * DIMENSIONS + 1)
        self._books = np.zeros((count, _BOOK_COLUMNS))
        self._closed_realized = np.zeros(count)  # per instrument, the sum of its PositionClosed events' PnL
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
        self._uncommitted_ns = 0  # the engine time of the last quote whose commit the throttle skipped, else 0
        record = writer.record
        record["venue"] = int(venue)
        record["dry_run"] = int(dry_run)
        record["instrument_count"] = count
        self._risk_limits = risk_limits or RiskLimits()
        self._delta_limits = delta_limits or (self._risk_limits.delta,) * count
        for slot, features in enumerate(self._features):
            rec = writer.slot(slot)
            rec["horizon_s"][:] = features.horizons_s
            rec["forecast_step_s"] = FORECAST_STEP_S
            rec["delta_limit"] = self._delta_limits[slot]
        self._books[:, _BASE_SIZE] = base_sizes
        self._limits[:] = self._risk_limits.as_array()
        self._applicable[:] = applicable(count)
        self._alert_level = 0  # 0 none, 1 warned, 2 vetoed: alerts fire on the way up, re-arm below 80 %
        record["risk_limit"] = self._limits
        record["risk_applicable"][:DIMENSIONS] = self._applicable
        record["risk_warn"], record["risk_veto"] = self._risk_limits.warn, self._risk_limits.veto
        bus.subscribe(EventPublished, self._on_engine_event)
        # the pending record, for the per-quote kernel (encode_tick)
        self._account, self._slots = writer.account_storage, writer.slots
        self._packed = [features.packed for features in self._features]
        self._warm_kernel()

    def _warm_kernel(self) -> None:
        """Load (or compile) the per-quote kernel now, on scratch state: its first call takes ~0.2 s from numba's
        cache (seconds after a source change), which must not stall the first quote of a live engine. Then keep the
        compiled function itself: a quote passes this encoder's own arrays, always of the scratch state's types, so
        the dispatcher's typing of its arguments on every call is skipped."""
        scratch = np.zeros_like(self._writer.storage)
        args = (scratch.view(self._account.dtype), scratch["instruments"][0], 0, *MarketFeatures().packed,
                self._work.copy(), self._books.copy(), 0, 1.0, 1.0, 1.0, 1.0)
        encode_tick(*args)
        compiled = encode_tick.overloads.get(tuple(encode_tick.typeof_pyval(arg) for arg in args))
        # numba's types for CompileResult omit entry_point
        self._encode_tick = compiled.entry_point if compiled is not None else encode_tick  # type: ignore[attr-defined]

    @property
    def writer(self) -> ContextWriter:
        return self._writer

    def set_risk_limits(self, limits: RiskLimits) -> None:
        """Change the hull's limits while running (a risk officer tightening them); applies from the next quote.
        With one instrument its delta limit is `limits.delta`."""
        self._risk_limits = limits
        self._limits[:] = limits.as_array()
        record = self._writer.record
        record["risk_limit"] = self._limits
        record["risk_warn"], record["risk_veto"] = limits.warn, limits.veto
        if len(self._instrument_ids) == 1:
            self._writer.slot(0)["delta_limit"] = limits.delta

    def on_start(self) -> None:
        for slot, instrument_id in enumerate(self._instrument_ids):
            instrument = self.cache.instrument(instrument_id)
            if instrument is not None:
                rec = self._writer.slot(slot)
                base = getattr(instrument, "base_currency", None)
                rec["base"] = encode_text(base.code if base is not None else instrument_id.symbol.value,
                                          CODE_BYTES, "asset code")
                if slot == 0:  # the account settles in the instruments' currency (USDT on OKX, USD for EURUSD)
                    rec["currency"] = encode_text(instrument.get_settlement_currency().code, CODE_BYTES,
                                                  "currency code")
                rec["price_increment"] = instrument.price_increment.as_double()
                rec["size_increment"] = instrument.size_increment.as_double()
                rec["multiplier"] = instrument.multiplier.as_double()
                self._half_spread[slot] = HALF_SPREAD_TICKS * instrument.price_increment.as_double()
                self._precisions[slot] = instrument.price_precision, instrument.size_precision
            if self._reads == "bars" and self._bar_type is not None:
                if self._bar_type.instrument_id == instrument_id:
                    self.subscribe_bars(self._bar_type)
            elif self._reads == "trades":
                self.subscribe_trade_ticks(instrument_id)
            else:
                self.subscribe_quote_ticks(instrument_id)
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

    def slot_of(self, instrument_id: InstrumentId) -> int:
        """The ContextWindow slot of one of the engine's instruments."""
        return self._slot_of[instrument_id]

    def on_quote_tick(self, tick: QuoteTick) -> None:
        bid, ask = tick.bid_price.as_double(), tick.ask_price.as_double()
        bid_size, ask_size = tick.bid_size.as_double(), tick.ask_size.as_double()
        ts_ns = tick.ts_event
        slot = self._slot_of[tick.instrument_id]
        floats, ints = self._packed[slot]
        total = self._encode_tick(self._account, self._slots, slot, floats, ints, self._work, self._books, ts_ns,
                                  bid, ask, bid_size, ask_size)
        if total >= self._risk_limits.warn or self._alert_level:  # else no level is crossed or re-armed
            self._alert(total, ts_ns)
        now = self.clock.timestamp_ns()  # the engine's clock: wall time live, simulated in a sim
        self._uncommitted_ns = 0 if self._writer.commit_if_due(now) else now
        if self._measure_latency:
            self.latencies.add(self.clock.timestamp_ns() - tick.ts_init)
        self._bus.publish(QuoteEncoded(tick, ts_ns, tick.ts_init, bid, ask, bid_size, ask_size, slot))

    def on_bar(self, bar: Bar) -> None:
        """A bar, at its close, as the book market/book.py synthesises: centred on the close."""
        self._book_at(bar.bar_type.instrument_id, bar.close.as_double(), bar.ts_event, bar.ts_init)

    def on_trade_tick(self, trade: TradeTick) -> None:
        """A trade, as the book market/book.py synthesises: centred on its price."""
        self._book_at(trade.instrument_id, trade.price.as_double(), trade.ts_event, trade.ts_init)

    def _book_at(self, instrument_id: InstrumentId, price: float, ts_event: int, ts_init: int) -> None:
        slot = self._slot_of[instrument_id]
        price_precision, size_precision = self._precisions[slot]
        half_spread = self._half_spread[slot]
        depth = Quantity(DEFAULT_DEPTH, size_precision)
        quote = QuoteTick(instrument_id, Price(price - half_spread, price_precision),
                          Price(price + half_spread, price_precision), depth, depth, ts_event, ts_init)
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
        """RiskAlert events when the hull's total potential crosses a level, naming the term that strains it most
        (an instrument's own delta term names its instrument)."""
        limits = self._risk_limits
        level = 2 if total >= limits.veto else 1 if total >= limits.warn else 0
        if level > self._alert_level:
            worst = int(np.argmax(self._potential))
            dimension, value, limit, instrument = (HullDimension(worst).name, float(self._x[worst]),
                                                   float(self._limits[worst]), "")
            slots = self._slots[:len(self._instrument_ids)]
            strained = int(np.argmax(slots["delta_potential"]))
            if float(slots[strained]["delta_potential"]) > float(self._potential[worst]):
                dimension, value, limit = ("DELTA", float(slots[strained]["delta"]),
                                           float(slots[strained]["delta_limit"]))
                instrument = str(self._instrument_ids[strained])
            self._sink.publish(messages.RiskAlert(
                dimension=dimension, value=value, limit=limit, potential=float(total),
                threshold=limits.veto if level == 2 else limits.warn, level="VETO" if level == 2 else "WARN",
                instrument=instrument), ts_ns)
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
        """Positions, entries, realised PnL, balances and open orders from Nautilus, after anything that changes
        them; then the account marked to the last mids. An order or position event refreshes its own instrument
        only, an account event the balances only: a portfolio's events would otherwise refresh every instrument on
        each."""
        instrument_id = getattr(event, "instrument_id", None)
        if event is None:
            slots = range(len(self._instrument_ids))
        else:
            slot = self._slot_of.get(instrument_id) if instrument_id is not None else None
            slots = range(slot, slot + 1) if slot is not None else range(0)
        books = self._books
        if isinstance(event, PositionClosed) and event.realized_pnl is not None and slots:
            self._closed_realized[slots[0]] += event.realized_pnl.as_double()
        for slot in slots:
            instrument_id = self._instrument_ids[slot]
            rec = self._writer.slot(slot)
            books[slot, _POSITION] = float(self.portfolio.net_position(instrument_id) or 0)
            positions = self.cache.positions_open(instrument_id=instrument_id)
            books[slot, _ENTRY] = rec["entry_price"] = positions[0].avg_px_open if positions else 0.0
            # The closed positions' realised PnL as their PositionClosed events said, and the open one's:
            # Portfolio.realized_pnl walks every position the instrument ever had, on each event.
            rec["realized_pnl"] = self._closed_realized[slot] + sum(
                position.realized_pnl.as_double() for position in positions if position.realized_pnl is not None)
            rec["orders_open"] = self.cache.orders_open_count(instrument_id=instrument_id)
        first = self._instrument_ids[0]
        account = self.portfolio.account(first.venue)
        instrument = self.cache.instrument(first)
        # OKX accounts are multi-currency (no base currency): read the balance the instruments settle in.
        balance_currency = (account.base_currency if account is not None else None) or (
            instrument.settlement_currency if instrument is not None else None)
        record = self._writer.record
        if account is not None and balance_currency is not None:
            total, free, locked = (account.balance_total(balance_currency), account.balance_free(balance_currency),
                                   account.balance_locked(balance_currency))
            self._work[-1] = total.as_double() if total is not None else 0.0
            record["balance_free"] = free.as_double() if free is not None else 0.0
            record["margin_used"] = locked.as_double() if locked is not None else 0.0
        mark_book(self._account, self._slots, self._books, float(self._work[-1]))

    def _on_engine_event(self, published: EventPublished) -> None:
        event, ts_ns = published.event, published.ts_ns
        if isinstance(event, messages.OrderFilled):
            self._writer.record["fills"] += 1
            self._writer.push_trace(TraceKind.FILL, event.fill_price, event.fill_quantity, ts_ns,
                                    self._slot_named(event.instrument))
        elif isinstance(event, messages.OrderSubmitted):
            self._writer.record["orders_submitted"] += 1
        elif isinstance(event, messages.RiskAlert):
            self._writer.push_trace(TraceKind.RISK_ALERT, event.value, event.potential, ts_ns,
                                    self._slot_named(event.instrument))

    def _slot_named(self, instrument: str) -> int:
        """The slot of an instrument named in an event; the first for an event that names none."""
        return self._slot_by_name.get(instrument, 0)

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
def mark_instrument(rec: Any, mid: float, position: float, entry: float) -> None:
    """Mark one instrument's position to `mid` in its slot `rec`. Positions, entries and the balance change only on
    order, position and account events (`_refresh_book`), so a quote costs a few multiplications, not portfolio
    queries."""
    multiplier = rec.multiplier
    rec.position_size = position
    rec.position_notional = abs(position) * mid * multiplier
    rec.unrealized_pnl = (mid - entry) * position * multiplier if position else 0.0


@njit(cache=True, nogil=True)
def mark_account(acct: Any, slots: np.ndarray, balance_total: float) -> None:
    """The account from its instruments' slots: equity, gross and net notional, leverage, peak and drawdown, the
    largest position's slot, the most liquid instrument's (the deepest smoothed touch in notional: one quote's
    depth would hand the hedge from instrument to instrument) and the net delta's limit (the largest instrument
    limit at its mid)."""
    unrealized = gross = net = limit = largest = deepest = 0.0
    largest_slot = hedge_slot = 0
    for j in range(acct.instrument_count):
        rec = slots[j]
        unrealized += rec.unrealized_pnl
        gross += rec.position_notional
        notional_per_contract = rec.multiplier * rec.mid
        net += rec.position_size * notional_per_contract
        limit = max(limit, rec.delta_limit * rec.mid)
        if rec.position_notional > largest:
            largest, largest_slot = rec.position_notional, j
        if rec.touch_depth > deepest:
            deepest, hedge_slot = rec.touch_depth, j
    equity = balance_total + unrealized
    acct.equity = equity
    acct.gross_notional = gross
    acct.net_delta = net
    acct.net_delta_limit = limit
    acct.largest_slot = largest_slot
    acct.hedge_slot = hedge_slot
    acct.leverage = gross / equity if equity > 0 else 0.0
    # max(peak, equity) as Python's: a NaN equity (a NaN quote) keeps the peak, under numba too
    peak = equity if equity > acct.peak_equity else acct.peak_equity
    acct.peak_equity = peak
    acct.drawdown = (peak - equity) / peak if peak > 0 else 0.0


@njit(cache=True, nogil=True)
def mark_book(account: np.ndarray, slots: np.ndarray, books: np.ndarray, balance_total: float) -> None:
    """Every quoted instrument marked to its last mid with `books`' positions and entries, then the account."""
    acct = account[0]
    for j in range(acct.instrument_count):
        if slots[j].mid > 0:
            mark_instrument(slots[j], slots[j].mid, books[j, 0], books[j, 1])
    mark_account(acct, slots, balance_total)


@njit(cache=True, nogil=True)
def encode_tick(account: np.ndarray, slots: np.ndarray, slot: int, features_floats: np.ndarray,
                features_ints: np.ndarray, work: np.ndarray, books: np.ndarray, ts_ns: int, bid: float, ask: float,
                bid_size: float, ask_size: float) -> float:
    """A quote of instrument `slot`, in one call from Python with a few arrays (each array argument costs the call
    ~60 ns): the instrument's features' update (MarketFeatures.packed), then encode_quote with the encoder's `work`
    buffer's rows as x, potential, grad and peaks, limits and applicable flags, and its books."""
    closes, returns, horizon, sums, counts, forecast, scalars, counters = state_views(features_floats, features_ints)
    update_features(ts_ns // 1_000_000_000, (bid + ask) / 2, closes, returns, horizon, sums, counts, forecast, scalars,
                    counters)
    dimensions = (work.shape[0] - 1) // _WORK_ROWS
    rows = work[:_WORK_ROWS * dimensions].reshape((_WORK_ROWS, dimensions))
    return encode_quote(account, slots, slot, ts_ns, bid, ask, bid_size, ask_size, horizon[_MOMENTUM_ROW],
                        horizon[_VOLATILITY_ROW], scalars[_SEA_STATE_SLOT], forecast, books, work[-1],
                        rows[_LIMITS_ROW], rows[_APPLICABLE_ROW], rows[0], rows[1], rows[2], rows[3])


@njit(cache=True, nogil=True)
def encode_quote(account: np.ndarray, slots: np.ndarray, slot: int, ts_ns: int, bid: float, ask: float,
                 bid_size: float, ask_size: float, momentum: np.ndarray, volatility: np.ndarray, sea_state: float,
                 forecast_factors: np.ndarray, books: np.ndarray, balance_total: float, limits: np.ndarray,
                 applicable: np.ndarray, x: np.ndarray, potential: np.ndarray, grad: np.ndarray,
                 peaks: np.ndarray) -> float:
    """A quote's writes into the pending record (the account `account[0]` and instrument `slots[slot]`), in one
    call: top of book, the features, the marked position and account, the portfolio's readings with their
    potentials and gradient (also into x, potential and grad), and the quote on the instrument's trace; `peaks`
    keeps the largest drawdown, total potential and |position| so far (as Python's max(peak, value)). Returns the
    hull's total potential."""
    acct, rec = account[0], slots[slot]
    mid = (bid + ask) / 2
    acct.ts_ns = ts_ns
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
    mark_instrument(rec, mid, books[slot, 0], books[slot, 1])
    instrument_readings(rec, books[slot, 2])
    depth = min(bid_size, ask_size) * rec.multiplier * mid
    if depth == depth:  # a NaN quote leaves the average as it was
        rec.touch_depth = depth if rec.touch_depth == 0.0 else rec.touch_depth + _DEPTH_SMOOTHING * (
            depth - rec.touch_depth)
    mark_account(acct, slots, balance_total)
    count = acct.instrument_count
    readings(acct, slots, count, x)
    limits[0] = acct.net_delta_limit if acct.net_delta_limit > 0 else limits[0]  # the DELTA dimension's limit
    total = potentials(x, limits, applicable, potential) + instrument_potentials(slots, count)
    gradient(x, limits, applicable, grad)
    for i in range(x.shape[0]):
        acct.risk_x[i], acct.risk_potential[i], acct.risk_gradient[i] = x[i], potential[i], grad[i]
    acct.risk_limit[0] = limits[0]
    acct.risk_total = total
    count = rec.trace_count
    trace = count % rec.trace_price.shape[0]
    rec.trace_kind[trace] = _TRACE_QUOTE
    rec.trace_price[trace] = mid
    rec.trace_size[trace] = bid_size + ask_size
    rec.trace_ts_ns[trace] = ts_ns
    rec.trace_count = count + 1
    # `if value > peak` as Python's max(peak, value): a NaN never becomes the peak, under numba too
    drawdown, size = acct.drawdown, abs(rec.position_size)
    if drawdown > peaks[0]:
        peaks[0] = drawdown
    if total > peaks[1]:
        peaks[1] = total
    if size > peaks[2]:
        peaks[2] = size
    return total


drop_jit_cache_of_another_layout(encode_quote)
