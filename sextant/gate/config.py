"""The gate's settings: how long an intent waits, what approves itself, and how long an E-stop may take to flatten."""

from __future__ import annotations

import msgspec

from sextant.state.layout import Autonomy


class GateConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    autonomy: Autonomy = Autonomy.MANUAL  # the human's level at start
    autonomy_ceiling: Autonomy = Autonomy.AUTO  # the highest level the human may select until the chain says more
    approval_ttl_ns: int = 30_000_000_000  # docs/gate.md: a pending intent expires after this
    assisted_countdown_ns: int = 30_000_000_000  # ASSISTED: a confident intent approves itself after this
    assisted_confidence: float = 0.7  # ASSISTED: the confidence at and above which an intent counts down
    flatten_timeout_ns: int = 10_000_000_000  # an E-stop still not flat after this halts anyway, and says so
    # After a human rejects a trade, the same agent's trades the same way are held back this long, unless the mid
    # moves this far from the rejected plan's; 0 turns the cool-down off.
    reject_cooldown_ns: int = 120_000_000_000
    reject_rearm_bps: float = 50.0

    def __post_init__(self) -> None:
        for name in ("approval_ttl_ns", "assisted_countdown_ns", "flatten_timeout_ns"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.reject_cooldown_ns < 0 or not self.reject_rearm_bps > 0:
            raise ValueError("reject_cooldown_ns must be 0 or more and reject_rearm_bps positive")
        if not 0.0 <= self.assisted_confidence <= 1.0:
            raise ValueError(f"assisted_confidence must be within [0, 1], got {self.assisted_confidence}")
        if self.autonomy > self.autonomy_ceiling:
            raise ValueError(f"autonomy {self.autonomy.name} is above the ceiling {self.autonomy_ceiling.name}")
