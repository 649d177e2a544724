"""The stop-loss per position: a reduce-only stop-market order resting with Nautilus (and on OKX, at the venue).

It is an order, not an intent, on purpose: a stop that waited for a human's approval in Manual mode would not be
a stop. Whenever the position opens or changes, the guard makes sure exactly one stop covers it: the whole
quantity, on the closing side, triggered `sl_pct` beyond the average entry price. When the position closes, the
stop is cancelled. 0 disables it (SEXTANT_SL_PCT).
"""

from __future__ import annotations

from typing import Any

from nautilus_trader.model.enums import OrderSide, TriggerType
from nautilus_trader.model.identifiers import ClientOrderId, InstrumentId

STOP_LOSS_TAG = "stop-loss"


class StopLossGuard:
    def __init__(self, strategy: Any, instrument_id: InstrumentId, sl_pct: float, trigger_type: TriggerType) -> None:
        self._strategy = strategy
        self._instrument_id = instrument_id
        self._sl_pct = sl_pct
        self._trigger_type = trigger_type
        self._stop_id: ClientOrderId | None = None
        self._covered: tuple[float, float] | None = None  # (signed quantity, trigger) the stop protects

    @property
    def stop_order_id(self) -> ClientOrderId | None:
        return self._stop_id

    def is_stop(self, client_order_id: ClientOrderId) -> bool:
        return client_order_id == self._stop_id

    def on_position_event(self, event: Any) -> None:
        if self._sl_pct <= 0 or event.instrument_id != self._instrument_id:
            return
        strategy = self._strategy
        position = strategy.cache.position(event.position_id)
        signed = float(position.signed_qty) if position is not None and position.is_open else 0.0
        if signed == 0.0:
            self._cancel()
            return
        instrument = strategy.cache.instrument(self._instrument_id)
        entry = float(position.avg_px_open)
        trigger = entry * (1 - self._sl_pct) if signed > 0 else entry * (1 + self._sl_pct)
        wanted = (signed, float(instrument.make_price(trigger)))
        if wanted == self._covered and self._stop_id is not None:
            return
        self._cancel()
        order = strategy.order_factory.stop_market(
            self._instrument_id, OrderSide.SELL if signed > 0 else OrderSide.BUY, instrument.make_qty(abs(signed)),
            trigger_price=instrument.make_price(trigger), trigger_type=self._trigger_type, reduce_only=True,
            tags=[STOP_LOSS_TAG])
        strategy.submit_order(order)
        self._stop_id, self._covered = order.client_order_id, wanted

    def _cancel(self) -> None:
        if self._stop_id is not None:
            order = self._strategy.cache.order(self._stop_id)
            if order is not None and not order.is_closed:
                self._strategy.cancel_order(order)
        self._stop_id, self._covered = None, None
