"""When a dead attestor is started again: exponential back-off with a cap, and a limit on deaths in a row.

A child that dies soon after each start (a broken chain, a bad journal) should not be restarted in a tight loop;
one that ran well for a while and then died restarts at once. Nothing waits on the policy: the decisions are in
the engine's write-ahead file, so giving up loses nothing, and the next engine start catches up.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartPolicy:
    first_delay_s: float = 0.25
    max_delay_s: float = 30.0
    stable_after_s: float = 60.0  # a child up this long has recovered: its death counts as the first in a row
    max_deaths_in_a_row: int = 10  # then restarting stops until the engine starts again

    def __post_init__(self) -> None:
        if not 0 < self.first_delay_s <= self.max_delay_s:
            raise ValueError(f"RestartPolicy: need 0 < first_delay_s ({self.first_delay_s}) <= max_delay_s "
                             f"({self.max_delay_s})")
        if self.stable_after_s <= 0 or self.max_deaths_in_a_row < 1:
            raise ValueError("RestartPolicy: stable_after_s must be > 0 and max_deaths_in_a_row >= 1")

    def deaths_in_a_row(self, previous: int, up_for_s: float) -> int:
        """The count after a death, given the count before it and how long the child had been up."""
        return 1 if up_for_s >= self.stable_after_s else previous + 1

    def delay_s(self, deaths_in_a_row: int) -> float | None:
        """How long to wait before the next start; None: give up."""
        if deaths_in_a_row > self.max_deaths_in_a_row:
            return None
        return min(self.max_delay_s, self.first_delay_s * 2.0 ** (deaths_in_a_row - 1))
