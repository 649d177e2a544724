"""ExecutionDirective → Nautilus orders, submitted through the strategy (so every order passes the RiskEngine).

    MARKET         market order, GTC
    LIMIT          limit, post-only, GTC, at the passive touch
    TRAILING_STOP  trailing-stop-market, offset in basis points, emulated by Nautilus' OrderEmulator on bid/ask on
                   every venue: OKX's native trailing stop triggers on last, mark or index price only, and the sim
                   venue has quotes and no trades (docs/platform.md)
    TWAP           market primary with Nautilus' TWAP exec algorithm: slices really spaced by the interval
    IOC / FOK      limit at the far touch with that time in force

Before anything leaves: our own notional cap (Nautilus' RiskEngine does not apply max_notional_per_order to margin
accounts). In dry run nothing is submitted; each would-be order becomes an OrderSubmitted event marked dry_run.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from nautilus_trader.model.enums import OrderSide, TimeInForce, TrailingOffsetType, TriggerType
from nautilus_trader.model.identifiers import ExecAlgorithmId, InstrumentId

from sextant.engine.events import EventSink, intent_tag
from sextant.state import messages
from sextant.swarm.intent import ExecutionDirective

TWAP = ExecAlgorithmId("TWAP")
_TIF = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK}
_ORDER_TYPE = {"MARKET": "MARKET", "LIMIT": "LIMIT", "TRAILING_STOP": "TRAILING_STOP_MARKET", "TWAP": "MARKET",
               "IOC": "LIMIT", "FOK": "LIMIT"}


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    submitted: bool
    client_order_id: str = ""
    reason: str = ""


class DirectiveExecutor:
    def __init__(self, strategy: Any, sink: EventSink, *, max_notional_usd: float, dry_run: bool,
                 emulate_trailing_stops: bool = True) -> None:
        self._strategy = strategy
        # Nautilus' OrderEmulator trails a stop on quotes; a backtest on bars has none, and its venue trails the
        # stop on each bar's path itself (on the last price).
        self._trail_on = TriggerType.BID_ASK if emulate_trailing_stops else TriggerType.LAST_PRICE
        self._emulation = TriggerType.BID_ASK if emulate_trailing_stops else TriggerType.NO_TRIGGER
        self._sink = sink
        self._max_notional = max_notional_usd
        self._dry_run = dry_run
        self._dry_count = 0
        self._instrument_ids: dict[str, InstrumentId] = {}

    def execute(self, directive: ExecutionDirective) -> ExecutionResult:
        strategy = self._strategy
        instrument_id = self._instrument_ids.get(directive.instrument)
        if instrument_id is None:  # parsed once per instrument: this is the path from a quote to an order
            instrument_id = self._instrument_ids[directive.instrument] = InstrumentId.from_str(directive.instrument)
        instrument = strategy.cache.instrument(instrument_id)
        now = strategy.clock.timestamp_ns()
        if instrument is None:
            return self._refuse(directive, f"instrument {directive.instrument} is not loaded", now)
        reference = directive.price or directive.reference_mid
        notional = directive.quantity * reference * instrument.multiplier.as_double()
        if notional > self._max_notional:
            currency = instrument.get_settlement_currency().code
            return self._refuse(directive, f"notional {notional:,.0f} {currency} exceeds the cap of "
                                           f"{self._max_notional:,.0f} {currency} per order", now)
        if self._dry_run:
            self._dry_count += 1
            order_id = f"DRY-{self._dry_count:06d}"
            self._sink.publish(messages.OrderSubmitted(
                client_order_id=order_id, intent_id=directive.intent_id, instrument=directive.instrument,
                side=directive.side, order_type=_ORDER_TYPE[directive.style], time_in_force=directive.time_in_force,
                quantity=directive.quantity, price=directive.price, post_only=directive.style == "LIMIT",
                exec_algorithm="TWAP" if directive.style == "TWAP" else None, dry_run=True), now)
            return ExecutionResult(True, order_id, "dry run: not sent")
        order = self._build(directive, instrument)
        strategy.submit_order(order)
        return ExecutionResult(True, order.client_order_id.value)

    def _build(self, directive: ExecutionDirective, instrument: Any) -> Any:
        factory = self._strategy.order_factory
        side = OrderSide.BUY if directive.side == "BUY" else OrderSide.SELL
        quantity = instrument.make_qty(directive.quantity)
        tags = [intent_tag(directive.intent_id)]
        style = directive.style
        if style == "LIMIT":
            return factory.limit(instrument.id, side, quantity, instrument.make_price(directive.price),
                                 post_only=True, tags=tags)
        if style in ("IOC", "FOK"):
            return factory.limit(instrument.id, side, quantity, instrument.make_price(directive.price),
                                 time_in_force=_TIF[style], tags=tags)
        if style == "TRAILING_STOP":
            return factory.trailing_stop_market(
                instrument.id, side, quantity, trailing_offset=Decimal(str(directive.trailing_offset_bps)),
                trailing_offset_type=TrailingOffsetType.BASIS_POINTS, trigger_type=self._trail_on,
                emulation_trigger=self._emulation, tags=tags)
        if style == "TWAP":
            return factory.market(instrument.id, side, quantity, exec_algorithm_id=TWAP,
                                  exec_algorithm_params={"horizon_secs": directive.twap_horizon_s,
                                                         "interval_secs": directive.twap_interval_s}, tags=tags)
        return factory.market(instrument.id, side, quantity, time_in_force=_TIF[directive.time_in_force], tags=tags)

    def _refuse(self, directive: ExecutionDirective, reason: str, now: int) -> ExecutionResult:
        self._sink.publish(messages.OrderRejected(client_order_id="", intent_id=directive.intent_id, reason=reason,
                                                  denied=True), now)
        return ExecutionResult(False, reason=reason)
