"""EventSink: the engine's one writer of the EventRing, which publishes each event on the engine's bus.

An event published later (an order's intent and approval, announced once the order has left) reaches the ring and
every subscriber in the same order, with the same timestamp, as if it had been published at once.
"""

from __future__ import annotations

from pathlib import Path

from sextant.engine.events import EventSink
from sextant.state import messages
from sextant.state.bus import Bus, EventPublished
from sextant.state.ring import EventRingReader, EventRingWriter


def heartbeat(n: int) -> messages.Heartbeat:
    return messages.Heartbeat(pid=1, uptime_s=float(n), quotes=n, context_sequence=n)


def sink_with_log(tmp_path: Path) -> tuple[EventSink, Bus, list[tuple[int, int, float]], Path]:
    """A sink on a real ring, with a subscriber that logs (seq, ts_ns, uptime_s) of each event published."""
    path = tmp_path / "events.mmap"
    bus = Bus()
    sink = EventSink(EventRingWriter(path), bus)
    log: list[tuple[int, int, float]] = []
    bus.subscribe(EventPublished, lambda published: log.append(
        (published.seq, published.ts_ns, published.event.uptime_s)))  # type: ignore[union-attr]
    return sink, bus, log, path


def test_an_event_published_later_goes_out_just_before_the_next_one(tmp_path: Path) -> None:
    sink, _, log, path = sink_with_log(tmp_path)
    sink.publish_later(heartbeat(1), ts_ns=100)
    sink.publish_later(heartbeat(2), ts_ns=200)
    assert log == []  # nothing written yet: the order path pays nothing for them
    sink.publish(heartbeat(3), ts_ns=300)
    assert log == [(0, 100, 1.0), (1, 200, 2.0), (2, 300, 3.0)]
    ring = [(m.number, m.ts_ns, m.message.uptime_s) for m in EventRingReader(path).drain()]
    assert ring == log


def test_flush_publishes_what_waits_and_nothing_twice(tmp_path: Path) -> None:
    sink, _, log, _ = sink_with_log(tmp_path)
    sink.publish_later(heartbeat(1), ts_ns=100)
    sink.flush()
    sink.flush()
    sink.publish(heartbeat(2), ts_ns=200)
    assert log == [(0, 100, 1.0), (1, 200, 2.0)]
    assert sink.published == 2


def test_a_subscriber_that_publishes_while_events_go_out_keeps_the_order(tmp_path: Path) -> None:
    sink, bus, log, _ = sink_with_log(tmp_path)

    def answer_the_first(published: EventPublished) -> None:
        if published.seq == 0:
            sink.publish(heartbeat(9), ts_ns=900)

    bus.subscribe(EventPublished, answer_the_first)
    sink.publish_later(heartbeat(1), ts_ns=100)
    sink.publish_later(heartbeat(2), ts_ns=200)
    sink.flush()
    assert [uptime for _, _, uptime in log] == [1.0, 2.0, 9.0]
    assert [seq for seq, _, _ in log] == [0, 1, 2]
