"""The strategy's CommandInbox: what one poll of the bridge's CommandRing hands the gate."""

from __future__ import annotations

import time
from pathlib import Path

from sextant.engine.strategy import CommandInbox
from sextant.state import messages
from sextant.state.ring import CommandRingWriter


class TestCommandInbox:
    def test_an_engage_written_after_the_latch_was_last_read_comes_with_its_latch(self, tmp_path: Path) -> None:
        # The race a 10,000-command flood once hit: the engine reads the latch (nothing), the bridge latches and
        # publishes an engage, the engine drains it. Were the engage answered from the ring and then again from
        # the latch on the next read, it would get two answers.
        ring = CommandRingWriter(tmp_path / "commands.mmap")
        inbox = CommandInbox(str(ring.path), started_wall_ns=time.time_ns())
        assert inbox.drain().estop is None
        assert inbox.estop_latched() is None
        ring.publish(messages.Approve(command_id="a-1", intent_id="i-1"))
        ring.publish(messages.EStop(command_id="stop", engage=True))
        batch = inbox.drain()
        assert [m.message.command_id for m in batch.fresh if m.message] == ["a-1", "stop"]
        assert batch.estop is not None and batch.estop.command_id == "stop"
        assert inbox.estop_latched() is None and inbox.drain().estop is None, "each engage is handed over once"

    def test_an_engage_taken_from_the_latch_before_the_drain_is_not_handed_over_again(self, tmp_path: Path) -> None:
        ring = CommandRingWriter(tmp_path / "commands.mmap")
        inbox = CommandInbox(str(ring.path), started_wall_ns=time.time_ns())
        inbox.drain()
        ring.publish(messages.EStop(command_id="stop", engage=True))
        latch = inbox.estop_latched()
        assert latch is not None and latch.command_id == "stop"
        batch = inbox.drain()
        assert [m.message.command_id for m in batch.fresh if m.message] == ["stop"]
        assert batch.estop is None

    def test_commands_from_before_the_engine_started_are_stale_and_their_engage_is_not_taken(
            self, tmp_path: Path) -> None:
        ring = CommandRingWriter(tmp_path / "commands.mmap")
        ring.publish(messages.EStop(command_id="old", engage=True))
        inbox = CommandInbox(str(ring.path), started_wall_ns=time.time_ns() + 1)
        batch = inbox.drain()
        assert [m.message.command_id for m in batch.stale if m.message] == ["old"] and not batch.fresh
        assert batch.estop is None
