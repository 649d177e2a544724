"""EventRing and CommandRing: single writer, many readers, each with its own cursor and an exact loss count."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sextant.state import messages
from sextant.state.layout import EVENT_RING_SLOT_SIZE, EVENT_RING_SLOTS, LAYOUT_VERSION
from sextant.state.ring import (
    CommandRingFollower,
    CommandRingReader,
    CommandRingWriter,
    EventRingReader,
    EventRingWriter,
)
from sextant.state.shm import LayoutMismatchError, StateFileError
from tests.conftest import rewrite_header, run_isolated


def heartbeat(n: int) -> messages.Heartbeat:
    return messages.Heartbeat(pid=1, uptime_s=float(n), quotes=n)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "events.mmap"


class TestDelivery:
    def test_messages_arrive_in_order_and_typed(self, path: Path) -> None:
        writer = EventRingWriter(path, slots=16)
        reader = EventRingReader(path)
        for n in range(10):
            assert writer.publish(heartbeat(n), ts_ns=1000 + n) == n
        received = reader.drain()
        assert [m.message.quotes for m in received] == list(range(10))  # type: ignore[union-attr]
        assert [m.number for m in received] == list(range(10))
        assert [m.ts_ns for m in received] == [1000 + n for n in range(10)]
        assert all(m.type_name == "Heartbeat" and not m.truncated for m in received)
        assert reader.drain() == []
        assert reader.lost == 0

    def test_wrap_around_keeps_order(self, path: Path) -> None:
        writer = EventRingWriter(path, slots=8)
        reader = EventRingReader(path)
        seen: list[int] = []
        for n in range(50):
            writer.publish(heartbeat(n))
            if n % 5 == 4:
                seen += [m.message.quotes for m in reader.drain()]  # type: ignore[union-attr]
        assert seen == list(range(50))
        assert reader.lost == 0

    def test_a_reader_opened_late_gets_the_retained_history_or_only_new(self, path: Path) -> None:
        writer = EventRingWriter(path, slots=8)
        for n in range(20):
            writer.publish(heartbeat(n))
        oldest = EventRingReader(path, start="oldest")
        latest = EventRingReader(path, start="latest")
        assert [m.message.quotes for m in oldest.drain()] == list(range(12, 20))  # type: ignore[union-attr]
        assert latest.drain() == []
        writer.publish(heartbeat(20))
        assert [m.message.quotes for m in latest.drain()] == [20]  # type: ignore[union-attr]
        assert oldest.lost == 0 and latest.lost == 0

    def test_drain_can_be_bounded(self, path: Path) -> None:
        writer = EventRingWriter(path, slots=64)
        reader = EventRingReader(path, batch=4)
        for n in range(30):
            writer.publish(heartbeat(n))
        assert [m.message.quotes for m in reader.drain(max_messages=8)] == list(range(8))  # type: ignore
        assert [m.message.quotes for m in reader.drain()] == list(range(8, 30))  # type: ignore[union-attr]


class TestOverrun:
    @pytest.mark.parametrize("published", [9, 17, 100, 1000])
    def test_a_slow_reader_learns_exactly_how_many_it_lost(self, path: Path, published: int) -> None:
        slots = 8
        writer = EventRingWriter(path, slots=slots)
        reader = EventRingReader(path)
        for n in range(published):
            writer.publish(heartbeat(n))
        received = reader.drain()
        assert reader.lost == published - slots
        assert [m.message.quotes for m in received] == list(range(published - slots, published))  # type: ignore
        assert len(received) + reader.lost == published

    def test_losses_accumulate_across_drains(self, path: Path) -> None:
        writer = EventRingWriter(path, slots=4)
        reader = EventRingReader(path)
        total_received = 0
        for burst in (3, 10, 4, 25):
            for _ in range(burst):
                writer.publish(heartbeat(0))
            total_received += len(reader.drain())
        assert total_received + reader.lost == 42
        assert reader.lost == (10 - 4) + (25 - 4)

    def test_many_readers_have_independent_cursors(self, path: Path) -> None:
        writer = EventRingWriter(path, slots=8)
        fast, slow, late = EventRingReader(path), EventRingReader(path), None
        for n in range(6):
            writer.publish(heartbeat(n))
        assert len(fast.drain()) == 6
        late = EventRingReader(path, start="latest")
        for n in range(6, 20):
            writer.publish(heartbeat(n))
            fast.drain()
        assert fast.lost == 0
        assert [m.message.quotes for m in slow.drain()] == list(range(12, 20))  # type: ignore[union-attr]
        assert slow.lost == 12
        assert [m.message.quotes for m in late.drain()] == list(range(12, 20))  # type: ignore[union-attr]
        assert late.lost == 6


class TestTruncation:
    def test_a_long_text_is_shortened_flagged_and_still_decodes(self, path: Path) -> None:
        writer = EventRingWriter(path, slots=4, slot_size=256)
        reader = EventRingReader(path)
        intent = messages.IntentGenerated(intent_id="i-1", agent="momentum-01", intent_kind="TrendFollow",
                                          instrument="BTC-USDT-SWAP.OKX", confidence=0.8, title="Ride the trend",
                                          reasoning="because " * 200)
        writer.publish(intent)
        (received,) = reader.drain()
        assert received.truncated
        message = received.message
        assert isinstance(message, messages.IntentGenerated)
        assert message.intent_id == "i-1" and message.confidence == 0.8 and message.title == "Ride the trend"
        assert message.reasoning.startswith("because because") and message.reasoning.endswith("…")

    def test_a_message_that_cannot_be_shortened_keeps_a_flagged_raw_prefix(self, path: Path) -> None:
        writer = EventRingWriter(path, slots=4, slot_size=128)
        reader = EventRingReader(path)
        result = messages.AutoresearchResult(hypothesis_id="h", family="momentum",
                                             params={f"p{i}": float(i) for i in range(40)}, ir_before=0.1,
                                             ir_after=0.2, accepted=False)
        writer.publish(result)
        (received,) = reader.drain()
        assert received.truncated and received.message is None
        assert received.raw and "raw prefix" in received.error
        assert received.type_name == "AutoresearchResult"

    def test_a_message_that_fits_is_not_flagged(self, path: Path) -> None:
        writer = EventRingWriter(path)
        reader = EventRingReader(path)
        writer.publish(messages.IntentGenerated(intent_id="i", agent="a", intent_kind="Hold", instrument="X.SIM"))
        assert not reader.drain()[0].truncated

    def test_an_undecodable_payload_is_reported_not_dropped(self, path: Path) -> None:
        writer = EventRingWriter(path)
        reader = EventRingReader(path)
        writer.publish_raw(messages.OrderFilled.KIND, b"\xc1garbage")
        writer.publish(heartbeat(1))
        bad, good = reader.drain()
        assert bad.message is None and bad.raw == b"\xc1garbage" and "OrderFilled" in bad.error
        assert isinstance(good.message, messages.Heartbeat)


class TestCommandRing:
    def test_commands_round_trip_with_their_ids(self, tmp_path: Path) -> None:
        path = tmp_path / "commands.mmap"
        writer = CommandRingWriter(path)
        reader = CommandRingReader(path)
        sent = [messages.Approve(command_id="c1", intent_id="i1"),
                messages.Reject(command_id="c2", intent_id="i2", reason="too big"),
                messages.Modify(command_id="c3", intent_id="i3", quantity=0.5, price=60000.0, style="LIMIT"),
                messages.EStop(command_id="c4", engage=True),
                messages.SetAutonomy(command_id="c5", level="ASSISTED")]
        for command in sent:
            writer.publish(command)
        assert [m.message for m in reader.drain()] == sent

    def test_rings_accept_only_their_own_message_family(self, tmp_path: Path) -> None:
        with pytest.raises(TypeError, match="not a Command"):
            CommandRingWriter(tmp_path / "c.mmap").publish(heartbeat(1))  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="not a Event"):
            EventRingWriter(tmp_path / "e.mmap").publish(messages.EStop(command_id="x", engage=True))  # type: ignore

    def test_an_event_ring_is_not_opened_as_a_command_ring(self, path: Path) -> None:
        EventRingWriter(path)
        with pytest.raises(LayoutMismatchError, match="expected a CommandRing, found EventRing"):
            CommandRingReader(path)


class TestCorruptHeader:
    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"magic": 7}, "wrong magic"),
            ({"layout_version": LAYOUT_VERSION + 3}, "layout version"),
            ({"record_count": 300}, "size mismatch"),
            ({"layout_hash": 1}, "slot layout hash"),
            ({"record_count": 1, "record_size": EVENT_RING_SLOTS * EVENT_RING_SLOT_SIZE}, "implausible ring geometry"),
        ],
    )
    def test_a_corrupt_header_is_refused_and_the_file_left_untouched(
            self, path: Path, fields: dict[str, int], message: str) -> None:
        EventRingWriter(path).close()
        digest = hashlib.sha256(rewrite_header(path, **fields)).hexdigest()
        with pytest.raises(StateFileError, match=message):
            EventRingReader(path)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


WRITER_SCRIPT = """
import sys, time
from sextant.state.ring import EventRingWriter
from sextant.state.messages import Heartbeat
writer = EventRingWriter(sys.argv[1], slots=int(sys.argv[3]))
print("ready", flush=True)
sys.stdin.readline()
for n in range(int(sys.argv[2])):
    writer.publish(Heartbeat(pid=0, uptime_s=0.0, quotes=n))
print("done", flush=True)
sys.stdin.readline()
"""


@pytest.mark.slow
def test_across_processes_received_plus_lost_equals_published(path: Path) -> None:
    """A writer process publishes 200k messages while this process drains: nothing is duplicated or reordered,
    and every message is either received or counted as lost."""
    total, slots = 200_000, 256
    writer = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(path), str(total), str(slots)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert writer.stdin and writer.stdout
    try:
        assert writer.stdout.readline().strip() == "ready"
        reader = EventRingReader(path)
        writer.stdin.write("go\n")
        writer.stdin.flush()
        received: list[int] = []
        while reader.next_number < total:
            received += [m.message.quotes for m in reader.drain()]  # type: ignore[union-attr]
        assert writer.stdout.readline().strip() == "done"
        assert len(received) + reader.lost == total
        assert received == sorted(set(received))
        assert received[-1] == total - 1
    finally:
        writer.stdin.write("exit\n")
        writer.stdin.flush()
        writer.wait(timeout=30)
    print(json.dumps({"received": len(received), "lost": reader.lost}))


class TestCommandFlood:
    def test_an_estop_engage_is_latched_in_the_header_where_no_flood_overwrites_it(self, path: Path) -> None:
        writer = CommandRingWriter(path, slots=8)
        reader = CommandRingReader(path)
        writer.publish(messages.EStop(command_id="stop-1", engage=True), ts_ns=1_000)
        for n in range(100):
            writer.publish(messages.SetAutonomy(command_id=f"flood-{n}", level="AUTO"))
        assert "stop-1" not in [m.message.command_id for m in reader.drain() if m.message]
        latch = reader.estop_latch()
        assert (reader.estop_requests, latch.requests, latch.command_id, latch.ts_ns) == (1, 1, "stop-1", 1_000)

    def test_a_release_and_other_commands_leave_the_latch_alone(self, path: Path) -> None:
        writer = CommandRingWriter(path)
        reader = CommandRingReader(path)
        writer.publish(messages.EStop(command_id="go", engage=False))
        writer.publish(messages.Approve(command_id="a", intent_id="i"))
        assert reader.estop_requests == 0 and reader.estop_latch().command_id == ""

    def test_a_drain_names_every_message_it_will_never_see(self, path: Path) -> None:
        writer = CommandRingWriter(path, slots=8)
        follower = CommandRingFollower(path)
        assert follower.drain_batch().received == []  # attached before the flood
        numbers = [writer.publish(messages.Approve(command_id=f"c-{n}", intent_id="i")) for n in range(30)]
        first = follower.drain_batch(max_messages=3)
        rest = follower.drain_batch()
        read = [m.number for m in first.received + rest.received]
        lost = [n for low, high in first.lost + rest.lost for n in range(low, high + 1)]
        assert sorted(read + lost) == numbers and not set(read) & set(lost)
        assert len(first.received) == 3 and first.lost == [(0, 21)]


class TestBadFiles:
    @pytest.mark.parametrize("reader", [EventRingReader, CommandRingReader])
    def test_a_foreign_file_is_refused_by_a_reader_and_left_untouched(self, path: Path, reader: type) -> None:
        path.write_bytes(b"precious user data, not a state file" * 100)
        before = path.read_bytes()
        with pytest.raises(StateFileError, match="not a Sextant state file"):
            reader(path)
        assert path.read_bytes() == before

    @pytest.mark.parametrize("content", [b"short and foreign", b"precious user data, not a state file" * 100])
    def test_a_follower_refuses_a_path_where_no_command_ring_can_ever_be(self, path: Path, content: bytes) -> None:
        path.write_bytes(content)
        with pytest.raises(StateFileError, match="is not a Sextant state file"):
            CommandRingFollower(path)
        assert path.read_bytes() == content

    def test_a_follower_refuses_a_directory_and_a_ring_of_another_kind(self, tmp_path: Path) -> None:
        with pytest.raises(StateFileError, match="is a directory"):
            CommandRingFollower(tmp_path)
        EventRingWriter(tmp_path / "events.mmap").close()
        with pytest.raises(StateFileError, match="holds a EventRing, not a CommandRing"):
            CommandRingFollower(tmp_path / "events.mmap")

    def test_a_follower_waits_for_a_missing_ring_or_takes_a_stale_one(self, path: Path) -> None:
        assert CommandRingFollower(path).drain() == []
        CommandRingWriter(path).close()
        assert CommandRingFollower(path).drain() == []


FOLLOW_A_TRUNCATED_RING = """
import os, sys
from pathlib import Path
from sextant.state import messages
from sextant.state.ring import CommandRingFollower, CommandRingWriter
path = Path(sys.argv[1])
writer = CommandRingWriter(path)
follower = CommandRingFollower(path, recheck_ns=0)
approve = lambda n: messages.Approve(command_id=f"c-{n}", intent_id="i")
writer.publish(messages.EStop(command_id="stop-1", engage=True))
writer.publish(approve(1))
print([m.message.command_id for m in follower.drain()], follower.estop_requests)
whole = path.read_bytes()
os.truncate(path, 0)
print(follower.drain_batch().received, follower.estop_requests, follower.estop_latch())
print(follower.last_error)
path.write_bytes(whole)  # the same ring, whole again: taken up where it was, nothing read twice
writer.publish(approve(2))
print([m.message.command_id for m in follower.drain()], follower.estop_requests, repr(follower.last_error))
os.truncate(path, 200)
print(follower.drain(), "truncated to 200 bytes while mapped" in follower.last_error)
writer.close()
os.unlink(path)
writer = CommandRingWriter(path)  # the bridge restarted: a new ring, read from its start
writer.publish(approve(3))
print([m.message.command_id for m in follower.drain()], follower.estop_requests)
"""


def test_a_follower_lets_go_of_a_truncated_ring_and_takes_up_a_whole_one(path: Path) -> None:
    """In its own process: a read of the truncated ring would be a SIGBUS."""
    result = run_isolated(FOLLOW_A_TRUNCATED_RING, str(path))
    assert result.returncode == 0, f"returncode {result.returncode}: {result.stderr[-2000:]}"
    lines = result.stdout.splitlines()
    assert lines[:2] == ["['stop-1', 'c-1'] 1", "[] 0 None"]  # let go: no reads, and no latch to read
    assert lines[2].startswith(f"{path}: truncated to 0 bytes while mapped")
    assert lines[3:] == ["['c-2'] 1 ''", "[] True", "['c-3'] 0"]
