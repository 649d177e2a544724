"""How long the engine's event loop was unable to run anything: a task that sleeps a short interval and records how
late it woke.

Whatever holds the loop (a parse, a long callback, a garbage collection) delays every quote behind it by the same
amount, so the monitor's lateness is the stall a quote would have seen. A stall of D seconds is recorded as at least
D − interval (the monitor may have been part-way through its sleep when it began). The stalls go into `StallStats`:
the longest, exactly, and percentiles from log-spaced buckets (each reported at its bucket's upper edge, so a
percentile is never understated), in constant memory however long the engine runs.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

DEFAULT_INTERVAL_S = 0.01
_FLOOR_S = 1e-5  # stalls below 10 µs share the first bucket: scheduling noise
_GROWTH = 1.05  # each bucket 5 % wider than the last
_BUCKETS = int(math.log(1000.0 / _FLOOR_S) / math.log(_GROWTH)) + 2  # up to 1,000 s; the last bucket takes the rest


class StallStats:
    """Loop stalls in seconds: the longest and percentiles over everything recorded, and the longest since the last
    `take_recent_max`. Pure: no clock, no loop."""

    def __init__(self) -> None:
        self._counts = [0] * _BUCKETS
        self.count = 0
        self.max_s = 0.0
        self._recent_max_s = 0.0

    def record(self, stall_s: float) -> None:
        stall_s = max(stall_s, 0.0)
        self._counts[_bucket(stall_s)] += 1
        self.count += 1
        if stall_s > self.max_s:
            self.max_s = stall_s
        if stall_s > self._recent_max_s:
            self._recent_max_s = stall_s

    def percentile(self, q: float) -> float:
        """The q-th percentile (0 < q ≤ 100), as its bucket's upper edge, capped by the longest stall."""
        if not 0 < q <= 100:
            raise ValueError(f"percentile {q}: must be above 0 and at most 100")
        if not self.count:
            return 0.0
        rank = math.ceil(self.count * q / 100)
        seen = 0
        for index, count in enumerate(self._counts):
            seen += count
            if seen >= rank:
                return min(_upper_edge(index), self.max_s)
        return self.max_s

    def take_recent_max(self) -> float:
        """The longest stall since the previous call (or the start), and start a new window."""
        recent, self._recent_max_s = self._recent_max_s, 0.0
        return recent


def _bucket(stall_s: float) -> int:
    if stall_s < _FLOOR_S:
        return 0
    return min(int(math.log(stall_s / _FLOOR_S) / math.log(_GROWTH)) + 1, _BUCKETS - 1)


def _upper_edge(index: int) -> float:
    return _FLOOR_S * _GROWTH ** index


class LoopMonitor:
    """Run `start()` inside the loop to be watched; `stop()` before it ends. `stats` is readable at any time."""

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        if not (math.isfinite(interval_s) and interval_s > 0):
            raise ValueError(f"interval_s={interval_s}: must be a positive number of seconds")
        self.interval_s = interval_s
        self.stats = StallStats()
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="sextant-loop-monitor")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    def describe(self) -> str:
        stats = self.stats
        return (f"loop stall: longest {stats.max_s * 1e3:.1f} ms, p99 {stats.percentile(99) * 1e3:.1f} ms "
                f"over {stats.count} samples every {self.interval_s * 1e3:g} ms")

    async def _watch(self) -> None:
        while True:
            asleep = self._clock()
            await asyncio.sleep(self.interval_s)
            self.stats.record(self._clock() - asleep - self.interval_s)
