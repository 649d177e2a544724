"""The engine's bus: a message's type is its topic, handlers run in the order they subscribed, failures surface."""

from __future__ import annotations

import pytest

from sextant.state.bus import Bus, EventPublished, IntentDecided, TimerTick
from sextant.state.messages import Heartbeat


def test_a_message_reaches_the_handlers_of_its_type_in_the_order_they_subscribed() -> None:
    bus, seen = Bus(), []
    bus.subscribe(TimerTick, lambda tick: seen.append(("first", tick.now_ns)))
    bus.subscribe(IntentDecided, lambda decided: seen.append(("decided", decided.intent_id)))
    bus.subscribe(TimerTick, lambda tick: seen.append(("second", tick.now_ns)))
    bus.publish(TimerTick(5))
    bus.publish(IntentDecided("i-1"))
    assert seen == [("first", 5), ("second", 5), ("decided", "i-1")]


def test_a_message_nobody_subscribed_to_goes_nowhere_and_says_so() -> None:
    bus = Bus()
    assert not bus.has_subscribers(TimerTick)
    bus.publish(TimerTick(1))  # no handler, no error
    bus.subscribe(TimerTick, lambda tick: None)
    assert bus.has_subscribers(TimerTick) and not bus.has_subscribers(IntentDecided)


def test_an_unsubscribed_handler_hears_nothing_more() -> None:
    bus, seen = Bus(), []
    bus.subscribe(TimerTick, seen.append)
    bus.publish(TimerTick(1))
    bus.unsubscribe(TimerTick, seen.append)
    bus.publish(TimerTick(2))
    assert seen == [TimerTick(1)]


def test_a_handler_that_raises_fails_the_publisher_and_the_bus_hides_nothing() -> None:
    bus, seen = Bus(), []

    def broken(published: EventPublished) -> None:
        raise RuntimeError("broken subscriber")

    bus.subscribe(EventPublished, broken)
    bus.subscribe(EventPublished, seen.append)
    with pytest.raises(RuntimeError, match="broken subscriber"):
        bus.publish(EventPublished(Heartbeat(pid=1, uptime_s=0.0, quotes=0, context_sequence=0), 0, 0))
    assert seen == []  # as a direct call would: the caller sees the failure where it happened


def test_a_handler_may_publish_in_turn() -> None:
    bus, seen = Bus(), []
    bus.subscribe(TimerTick, lambda tick: bus.publish(IntentDecided(f"at-{tick.now_ns}")))
    bus.subscribe(IntentDecided, lambda decided: seen.append(decided.intent_id))
    bus.publish(TimerTick(7))
    assert seen == ["at-7"]
