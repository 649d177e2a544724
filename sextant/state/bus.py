"""The engine's in-process bus: typed messages between its parts, a message's type being its topic.

Publishers and subscribers know the message types, never each other: the gate announces a decision, the strategy
its timer and closed positions, the StateEncoder each quote, the ContextWriter each commit and the EventSink each
event; the recorder, the trust and research links, the stream and `sextant sim`'s log subscribe to what they need.
The composition root (`engine/node.py`, and `engine/sim.py` for a BacktestEngine) makes one bus per engine and
wires both sides.

Why not Nautilus' MessageBus: the gate, the ContextWriter and the scene recorder import no Nautilus (the import
contract in pyproject.toml), and `sextant sim` runs the same parts on a BacktestEngine with a kernel of its own.

Handlers run synchronously on the publisher's thread (the engine's event-loop thread), in the order they
subscribed, and must not block. A handler that raises propagates to the publisher, as a direct call would: the bus
hides no failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

if TYPE_CHECKING:
    import numpy as np

    from sextant.state import messages
    from sextant.state.ring import RingMessage

M = TypeVar("M")


class Bus:
    """Subscribers by message type. Publishing a type nobody subscribed to costs a dictionary lookup."""

    __slots__ = ("_handlers",)

    def __init__(self) -> None:
        self._handlers: dict[type, list[Callable[[Any], None]]] = {}

    def subscribe(self, topic: type[M], handler: Callable[[M], None]) -> None:
        """Call `handler` with every message of exactly type `topic`, after the handlers subscribed before it."""
        self._handlers.setdefault(topic, []).append(handler)

    def unsubscribe(self, topic: type[M], handler: Callable[[M], None]) -> None:
        handlers = self._handlers.get(topic, [])
        if handler in handlers:
            handlers.remove(handler)

    def has_subscribers(self, topic: type) -> bool:
        """Whether a message of `topic` would reach anyone: for publishers on the quote path, which build the
        message only when it would."""
        return bool(self._handlers.get(topic))

    def publish(self, message: object) -> None:
        for handler in self._handlers.get(type(message), ()):
            handler(message)


# --------------------------------------------------------------------------------------------------- messages


class QuoteEncoded(msgspec.Struct, frozen=True):
    """A quote, after the StateEncoder has written it into the ContextWindow record (its instrument's `slot`): the
    crew on that instrument decides on it, the recorder keeps it. `tick` is Nautilus' QuoteTick; the numbers are its
    fields, read once."""

    tick: Any
    ts_event: int
    ts_init: int
    bid: float
    ask: float
    bid_size: float
    ask_size: float
    slot: int = 0  # the instrument's ContextWindow slot


class ContextCommitted(msgspec.Struct, frozen=True):
    """The ContextWriter published its pending record: `record` is the writer's byte view of it (read it now, or
    copy it), `sequence` its write number, `wall_ns` the commit's clock, `ts_ns` the record's market time."""

    record: np.ndarray
    sequence: int
    wall_ns: int
    ts_ns: int


class EventPublished(msgspec.Struct, frozen=True):
    """An engine event, as the EventSink wrote it into the EventRing (`seq` its ring number)."""

    event: messages.Event
    seq: int
    ts_ns: int


class TimerTick(msgspec.Struct, frozen=True):
    """The strategy's command poll: on the engine thread, every `command_poll_secs`, before the gate's tick."""

    now_ns: int


class CommandRead(msgspec.Struct, frozen=True):
    """A command the engine read from the CommandRing (fresh or from before this engine), before it is handled."""

    received: RingMessage[messages.Command]


class IntentDecided(msgspec.Struct, frozen=True):
    """The gate decided what becomes of an intent, while the ContextWindow record still holds what it was decided
    on (its announcement may come later, once its order has left)."""

    intent_id: str


class PositionClosed(msgspec.Struct, frozen=True):
    """A position closed: `outcome` is the engine's record of the decision that opened it (engine/outcomes.py)."""

    outcome: Any
