"""Engine events: one sink that every engine component publishes to, and the translation of Nautilus' order events.

`EventSink` is the EventRing's single writer in the engine process. It stamps nothing itself (the caller passes
the event time from Nautilus' clock), writes the ring, and publishes each event as EventPublished on the engine's
bus (state/bus.py), where the WebSocket stream, the recorder, the trust link and the StateEncoder take it up. Their
handlers run on the event-loop thread and must not block.

`OrderEventTranslator` subscribes to Nautilus' `events.order.*` topic and turns the order lifecycle into our
typed events: OrderSubmitted (once per client order id, including emulated orders when the emulator takes them),
OrderFilled (with slippage against the mid at submission), OrderRejected (venue rejections and RiskEngine
denials) and OrderCanceled. The intent an order serves travels in its tags as "intent:<id>".
"""

from __future__ import annotations

from typing import Any, Literal

from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.model.enums import LiquiditySide, OrderSide
from nautilus_trader.model.events import (
    OrderCanceled,
    OrderDenied,
    OrderEmulated,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
)
from nautilus_trader.model.identifiers import ClientOrderId

from sextant.state import messages
from sextant.state.bus import Bus, EventPublished
from sextant.state.ring import EventRingWriter

INTENT_TAG = "intent:"


class EventSink:
    def __init__(self, ring: EventRingWriter | None, bus: Bus) -> None:
        self._ring = ring
        self._bus = bus
        self._later: list[tuple[messages.Event, int]] = []
        self.published = 0

    def publish(self, event: messages.Event, ts_ns: int) -> int:
        if self._later:
            self.flush()
        return self._publish(event, ts_ns)

    def publish_later(self, event: messages.Event, ts_ns: int) -> None:
        """Publish `event` just before the next event, or at `flush()`, whichever comes first.

        For the events that announce an order which is about to be submitted (its intent, its approval): writing
        them costs the order path, and the order needs none of it. They go out once the order has been submitted
        to Nautilus, ahead of its first event, so the ring, the stream and the recorder see every event in the same
        order and with the same timestamps as if they had been published at once. Whether Nautilus' RiskEngine has
        passed the order to the venue client by then depends on its queue, and is not promised. The strategy
        flushes on its timer, so none waits longer than one command poll."""
        self._later.append((event, ts_ns))

    def flush(self) -> None:
        later = self._later
        while later:  # one at a time: a subscriber that publishes in turn flushes the rest first
            event, ts_ns = later.pop(0)
            self._publish(event, ts_ns)

    def _publish(self, event: messages.Event, ts_ns: int) -> int:
        seq = self._ring.publish(event, ts_ns=ts_ns) if self._ring is not None else self.published
        self.published += 1
        self._bus.publish(EventPublished(event, seq, ts_ns))
        return seq

    def heartbeat(self, now_ns: int | None = None) -> None:
        if self._ring is not None:
            self._ring.heartbeat(now_ns)


def intent_tag(intent_id: str) -> str:
    return f"{INTENT_TAG}{intent_id}"


def intent_of(order: Any, cache: Any) -> str | None:
    """The intent an order serves: its own tag, or its TWAP primary's for spawned slices."""
    for candidate in (order, _primary(order, cache)):
        if candidate is None:
            continue
        for tag in candidate.tags or ():
            if tag.startswith(INTENT_TAG):
                return tag[len(INTENT_TAG):]
    return None


def _primary(order: Any, cache: Any) -> Any:
    spawn = order.exec_spawn_id
    if spawn is None or spawn == order.client_order_id:
        return None
    return cache.order(spawn)


_LIQUIDITY: dict[LiquiditySide, Literal["MAKER", "TAKER"]] = {LiquiditySide.MAKER: "MAKER",
                                                              LiquiditySide.TAKER: "TAKER"}


def side_name(side: OrderSide) -> messages.Side:
    return "BUY" if side == OrderSide.BUY else "SELL"


class OrderEventTranslatorConfig(ActorConfig, frozen=True):
    component_id: str = "OrderEventTranslator"


class OrderEventTranslator(Actor):
    def __init__(self, sink: EventSink, dry_run: bool = False) -> None:
        super().__init__(OrderEventTranslatorConfig())
        self._sink = sink
        self._dry_run = dry_run
        self._announced: set[ClientOrderId] = set()
        self._mid_at_submit: dict[ClientOrderId, float] = {}

    def on_start(self) -> None:
        self.msgbus.subscribe(topic="events.order.*", handler=self._on_order_event)

    def on_stop(self) -> None:
        self.msgbus.unsubscribe(topic="events.order.*", handler=self._on_order_event)

    def _on_order_event(self, event: Any) -> None:
        if isinstance(event, (OrderSubmitted, OrderEmulated)):
            self._announce(event)
        elif isinstance(event, OrderFilled):
            self._filled(event)
        elif isinstance(event, (OrderRejected, OrderDenied)):
            order = self.cache.order(event.client_order_id)
            self._sink.publish(messages.OrderRejected(
                client_order_id=event.client_order_id.value,
                intent_id=intent_of(order, self.cache) if order else None,
                reason=str(event.reason), denied=isinstance(event, OrderDenied)), event.ts_event)
        elif isinstance(event, OrderCanceled):
            order = self.cache.order(event.client_order_id)
            self._sink.publish(messages.OrderCanceled(
                client_order_id=event.client_order_id.value,
                intent_id=intent_of(order, self.cache) if order else None), event.ts_event)

    def _announce(self, event: Any) -> None:
        order_id = event.client_order_id
        if order_id in self._announced:
            return  # an emulated order released to the venue is the same order
        self._announced.add(order_id)
        order = self.cache.order(order_id)
        if order is None:
            return
        quote = self.cache.quote_tick(order.instrument_id)
        if quote is not None:
            self._mid_at_submit[order_id] = (quote.bid_price.as_double() + quote.ask_price.as_double()) / 2
        self._sink.publish(messages.OrderSubmitted(
            client_order_id=order_id.value,
            intent_id=intent_of(order, self.cache),
            instrument=order.instrument_id.value,
            side=side_name(order.side),
            order_type=order.type_string(),
            time_in_force=order.tif_string(),
            quantity=order.quantity.as_double(),
            price=order.price.as_double() if order.has_price else None,
            trigger_price=order.trigger_price.as_double() if order.has_trigger_price else None,
            post_only=order.is_post_only,
            reduce_only=order.is_reduce_only,
            exec_algorithm=order.exec_algorithm_id.value if order.exec_algorithm_id else None,
            dry_run=self._dry_run), event.ts_event)

    def _filled(self, event: OrderFilled) -> None:
        order = self.cache.order(event.client_order_id)
        price = event.last_px.as_double()
        reference = self._mid_at_submit.get(event.client_order_id)
        direction = 1.0 if event.order_side == OrderSide.BUY else -1.0
        slippage = direction * (price - reference) / reference * 1e4 if reference else 0.0
        position = self.portfolio.net_position(event.instrument_id)
        self._sink.publish(messages.OrderFilled(
            client_order_id=event.client_order_id.value,
            venue_order_id=event.venue_order_id.value if event.venue_order_id else "",
            intent_id=intent_of(order, self.cache) if order else None,
            instrument=event.instrument_id.value,
            side=side_name(event.order_side),
            fill_price=price,
            fill_quantity=event.last_qty.as_double(),
            slippage_bps=slippage,
            commission=event.commission.as_double(),
            liquidity=_LIQUIDITY.get(event.liquidity_side, "NONE"),
            position_after=float(position) if position is not None else 0.0), event.ts_event)
        if order is not None and order.is_closed:
            self._mid_at_submit.pop(event.client_order_id, None)
