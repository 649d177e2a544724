"""The momentum agent: trend following on the ContextWindow's numeric momentum.

It reads momentum over a short horizon and scales it by the move realised volatility would explain over that
horizon (a z-score), so its threshold means the same in calm water and in a storm. Entering: |z| above the entry
threshold while flat or positioned against the signal → TrendFollow to ±base size. Leaving: holding and |z| below
the exit threshold → back to flat at market. Whether it "holds" comes from the real position, not from what it
last proposed (the original marked itself holding whether or not its intent ever filled).
"""

from __future__ import annotations

import math

import msgspec
import numpy as np

from sextant.state.layout import CrewState, CrewTask
from sextant.swarm.agents.base import CrewMember
from sextant.swarm.intent import AgentIntent, RiskBudget

SECONDS_PER_YEAR = 365.0 * 24 * 3600


class MomentumConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    agent_id: str = "momentum-01"
    horizon_index: int = 0  # which ContextWindow horizon to read (0 = the shortest)
    volatility_index: int = 1  # which realised volatility scales it
    entry_z: float = 1.0  # |z| above this: the move is beyond what volatility explains (tuned by research, #8)
    exit_z: float = 0.2
    base_size: float = 1.0  # contracts
    max_loss_usdt: float = 50.0
    horizon_s: float = 300.0


class MomentumAgent(CrewMember):
    def __init__(self, config: MomentumConfig | None = None) -> None:
        super().__init__(config or MomentumConfig())
        self.last_z = 0.0

    def signal(self, record: np.void) -> float:
        """The momentum z-score from a ContextWindow record (0 when there is no volatility estimate yet)."""
        c = self.config
        f = self.fields(record)
        horizon = f.horizon_s.item(c.horizon_index)
        momentum = f.momentum.item(c.horizon_index)
        volatility = f.volatility.item(c.volatility_index)
        expected = volatility * math.sqrt(horizon / SECONDS_PER_YEAR) if horizon > 0 else 0.0
        return momentum / expected if expected > 0 and math.isfinite(momentum) else 0.0

    def perceive(self, record: np.void, instrument: str, now_ns: int) -> AgentIntent | None:
        """An intent when the signal calls for a change of position, else None."""
        c = self.config
        z = self.signal(record)
        self.last_z = z
        self.status = (CrewState.ACTIVE, CrewTask.MOMENTUM_Z, z)
        f = self.fields(record)
        position = f.position_size.item()
        budget = RiskBudget(max_loss=c.max_loss_usdt, max_position=c.base_size)
        common = {"agent": c.agent_id, "instrument": instrument, "budget": budget, "horizon_s": c.horizon_s,
                  "created_ns": now_ns, "reputation": f.reputation.item() or 0.5}
        direction = 1.0 if z > 0 else -1.0
        if abs(z) >= c.entry_z and direction * position <= 0:
            self.status = (CrewState.SUGGESTING, CrewTask.MOMENTUM_Z, z)
            target = direction * c.base_size
            return AgentIntent(id=self._next_id(), kind="TrendFollow", target_position=target,
                               confidence=min(0.95, max(0.3, abs(z) / (2 * c.entry_z))),
                               title=f"{'Long' if target > 0 else 'Short'} {c.base_size:g} on momentum",
                               reasoning=f"momentum z {z:+.2f} beyond ±{c.entry_z:g}", **common)
        if position != 0 and abs(z) < c.exit_z:
            return AgentIntent(id=self._next_id(), kind="TrendFollow", target_position=0.0, style="MARKET",
                               confidence=0.6, title="Flatten: momentum faded",
                               reasoning=f"momentum z {z:+.2f} inside ±{c.exit_z:g}", **common)
        return None
