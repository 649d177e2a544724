"""The bridge's fixed tick where nothing else paces it (off screen, in the terminal)."""

from __future__ import annotations

import time


class FixedRate:
    """Sleeps to the next tick; after an overrun it skips ahead, never tries to catch up (a burst of ticks would
    only show stale frames faster)."""

    def __init__(self, tick_s: float) -> None:
        self.tick_s = tick_s
        self._next = time.perf_counter()

    def wait(self) -> None:
        self._next += self.tick_s
        slack = self._next - time.perf_counter()
        if slack > 0:
            time.sleep(slack)
        else:
            self._next = time.perf_counter()
