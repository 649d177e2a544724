"""The orders as they stand, built from the engine's order events: what is working at the venue now, what filled
and at what average price, what was canceled or refused. The Orders drawer and the chart's order lines read this,
never the raw event list (where a filled limit would still read SENT).

Also what the chart marks on the time axis: each fill, and each E-STOP change, on the engine's clock. Orders and
fills keep their instrument, so that with several the chart and the drawer show the selected instrument's alone.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Literal

from sextant.state import messages

OrderStatus = Literal["WORKING", "PARTIAL", "FILLED", "CANCELED", "REJECTED", "DENIED", "DRY RUN"]
WORKING_STATUSES: frozenset[str] = frozenset({"WORKING", "PARTIAL"})
MAX_ORDERS_KEPT = 500  # the newest orders; the oldest finished ones go first
MAX_MARKS = 500


@dataclass(slots=True)
class OrderState:
    client_order_id: str
    intent_id: str | None
    side: str
    order_type: str  # Nautilus' name: MARKET, LIMIT, STOP_MARKET, TRAILING_STOP_MARKET …
    time_in_force: str
    quantity: float
    price: float | None
    trigger_price: float | None
    post_only: bool
    reduce_only: bool
    exec_algorithm: str | None
    submitted_ns: int
    status: OrderStatus = "WORKING"
    instrument: str = ""
    filled: float = 0.0
    average_price: float = 0.0
    detail: str = ""
    updated_ns: int = 0

    @property
    def working(self) -> bool:
        return self.status in WORKING_STATUSES

    @property
    def level(self) -> float | None:
        """Where it rests on the chart: its limit price, else its trigger (a stop)."""
        return self.price if self.price is not None else self.trigger_price

    @property
    def role(self) -> str:
        """What it is, for a trader: stop-loss, trailing stop, TWAP slice, limit, market."""
        if self.order_type.startswith("TRAILING_STOP"):
            return "trailing stop"
        if self.order_type.startswith("STOP") and self.reduce_only:
            return "stop-loss"
        if self.order_type.startswith("STOP"):
            return "stop"
        if self.exec_algorithm:
            return f"{self.exec_algorithm} slice"
        return "post-only limit" if self.post_only else self.order_type.lower().replace("_", " ")


@dataclass(frozen=True, slots=True)
class FillMark:
    ts_ns: int
    side: str
    price: float
    quantity: float
    instrument: str = ""


@dataclass(frozen=True, slots=True)
class EStopMark:
    ts_ns: int
    state: str  # ENGAGING, ENGAGED, RELEASED


def _on(item: OrderState | FillMark, instrument: str | None) -> bool:
    """Whether an order or a fill is on `instrument` (None: any)."""
    return instrument is None or item.instrument == instrument


class Blotter:
    def __init__(self) -> None:
        self.orders: OrderedDict[str, OrderState] = OrderedDict()
        self.fills: deque[FillMark] = deque(maxlen=MAX_MARKS)
        self.estops: deque[EStopMark] = deque(maxlen=MAX_MARKS)

    def apply(self, event: messages.Event, ts_ns: int) -> None:
        if isinstance(event, messages.OrderSubmitted):
            self.orders[event.client_order_id] = OrderState(
                event.client_order_id, event.intent_id, event.side, event.order_type, event.time_in_force,
                event.quantity, event.price, event.trigger_price, event.post_only, event.reduce_only,
                event.exec_algorithm, ts_ns, "DRY RUN" if event.dry_run else "WORKING", instrument=event.instrument,
                updated_ns=ts_ns)
            self._trim()
        elif isinstance(event, messages.OrderFilled):
            self.fills.append(FillMark(ts_ns, event.side, event.fill_price, event.fill_quantity, event.instrument))
            order = self.orders.get(event.client_order_id)
            if order is None:  # its submission came before this bridge attached
                order = self.orders[event.client_order_id] = OrderState(
                    event.client_order_id, event.intent_id, event.side, "UNKNOWN", "", event.fill_quantity, None,
                    None, False, False, None, ts_ns, instrument=event.instrument)
            total = order.filled + event.fill_quantity
            order.average_price = (order.average_price * order.filled + event.fill_price * event.fill_quantity) / total
            order.filled = total
            order.quantity = max(order.quantity, total)
            order.status = "FILLED" if total >= order.quantity - 1e-12 else "PARTIAL"
            order.updated_ns = ts_ns
        elif isinstance(event, messages.OrderCanceled | messages.OrderRejected):
            order = self.orders.get(event.client_order_id)
            if order is not None:
                if isinstance(event, messages.OrderCanceled):
                    order.status = "CANCELED"
                else:
                    order.status = "DENIED" if event.denied else "REJECTED"
                order.detail, order.updated_ns = event.reason, ts_ns
        elif isinstance(event, messages.EStopChanged):
            self.estops.append(EStopMark(ts_ns, event.state))

    def _trim(self) -> None:
        while len(self.orders) > MAX_ORDERS_KEPT:
            finished = next((key for key, order in self.orders.items() if not order.working), None)
            self.orders.pop(finished if finished is not None else next(iter(self.orders)))

    def working(self, instrument: str | None = None) -> list[OrderState]:
        """The orders working at the venue, oldest first (`instrument`: its alone)."""
        return [order for order in self.orders.values() if order.working and _on(order, instrument)]

    def recent(self, count: int, instrument: str | None = None) -> list[OrderState]:
        """The last `count` orders by their latest change, newest first (`instrument`: its alone)."""
        return sorted((order for order in self.orders.values() if _on(order, instrument)),
                      key=lambda order: order.updated_ns, reverse=True)[:count]

    def fills_of(self, instrument: str | None = None) -> list[FillMark]:
        """The fills, oldest first (`instrument`: its alone)."""
        return [fill for fill in self.fills if _on(fill, instrument)]

    def clear(self) -> None:
        self.orders.clear()
        self.fills.clear()
        self.estops.clear()
