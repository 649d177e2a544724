"""A fixed ring of latency samples (ns), for tests and benchmarks that ask how long the engine took."""

from __future__ import annotations

import numpy as np


class LatencySamples:
    def __init__(self, capacity: int = 4096) -> None:
        self._samples = np.zeros(capacity, np.int64)
        self._count = 0

    def add(self, nanoseconds: int) -> None:
        self._samples[self._count % self._samples.shape[0]] = nanoseconds
        self._count += 1

    def last(self, count: int | None = None) -> np.ndarray:
        """The most recent samples, oldest first."""
        kept = min(self._count, self._samples.shape[0], count or self._samples.shape[0])
        order = np.arange(self._count - kept, self._count) % self._samples.shape[0]
        return self._samples[order].copy()
