"""The loop monitor: a task that sleeps a short interval and records how late it woke, so a callback that holds the
engine's loop shows up as a stall at least as long as it held it (less the monitor's own interval)."""

from __future__ import annotations

import asyncio
import time

import pytest

from sextant.engine.loop_monitor import LoopMonitor, StallStats


def test_a_deliberate_stall_is_recorded_as_at_least_its_length_less_the_interval() -> None:
    interval_s, stall_s = 0.005, 0.2

    async def scenario() -> LoopMonitor:
        monitor = LoopMonitor(interval_s=interval_s)
        monitor.start()
        await asyncio.sleep(0.05)
        time.sleep(stall_s)  # holds the loop, as a parse on it would
        await asyncio.sleep(0.05)
        await monitor.stop()
        return monitor

    monitor = asyncio.run(scenario())
    assert monitor.stats.max_s >= stall_s - interval_s
    assert monitor.stats.count >= 2
    assert monitor.stats.take_recent_max() == monitor.stats.max_s
    assert monitor.stats.take_recent_max() == 0.0  # a new window


def test_percentiles_never_understate_and_never_exceed_the_longest_stall() -> None:
    stats = StallStats()
    for index in range(1000):
        stats.record(0.001 if index < 990 else 0.050)
    stats.record(-0.0001)  # woke a little early: no stall
    assert stats.count == 1001
    assert stats.max_s == 0.050
    assert 0.001 <= stats.percentile(50) <= 0.001 * 1.05
    assert 0.050 >= stats.percentile(99.5) >= 0.050 / 1.05
    assert stats.percentile(100) == 0.050
    assert StallStats().percentile(99) == 0.0
    with pytest.raises(ValueError):
        stats.percentile(0)


def test_a_monitor_needs_a_positive_interval() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        LoopMonitor(interval_s=0.0)
