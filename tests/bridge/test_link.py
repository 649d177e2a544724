"""The link's badge: an engine that is alive but has no market state yet is STARTING, not STALE."""

from __future__ import annotations

import time
from pathlib import Path

from sextant.bridge.link import LinkStatus, StateLink
from sextant.state.context import ContextWriter
from sextant.state.ring import EventRingWriter


def test_an_alive_engine_without_state_is_starting_and_a_silent_one_is_stale(tmp_path: Path) -> None:
    context = ContextWriter(tmp_path / "context.mmap", "BTC-USDT-SWAP.OKX")
    events = EventRingWriter(tmp_path / "events.mmap")
    now = [time.time_ns()]
    link = StateLink(tmp_path / "context.mmap", tmp_path / "events.mmap", tmp_path / "commands.mmap",
                     clock=lambda: now[0])
    context.heartbeat(now[0])
    assert link.poll().status == LinkStatus.STARTING
    now[0] += 1_500_000_000  # no heartbeat for 1.5 s: whatever it was doing, it is not alive now
    assert link.poll().status == LinkStatus.STALE
    context.heartbeat(now[0])
    context.record["quote_count"] = 1  # the first quote
    context.commit(now[0])
    assert link.poll().status == LinkStatus.LIVE
    events.close()
    context.close()
