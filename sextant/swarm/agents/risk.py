"""The risk agent: reads the risk field from the ContextWindow and vetoes at the threshold, warns below it."""

from __future__ import annotations

import msgspec
import numpy as np

from sextant.state.layout import CrewState, CrewTask
from sextant.swarm.agents.base import CrewMember
from sextant.swarm.intent import AgentIntent, RiskBudget


class RiskAgentConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    agent_id: str = "risk-01"


class RiskAgent(CrewMember):
    """Veto when U ≥ the veto threshold written by the encoder (docs/spec.md#risk-field: 2.0), a warning Hold when
    U ≥ warn (1.0)."""

    def __init__(self, config: RiskAgentConfig | None = None) -> None:
        super().__init__(config or RiskAgentConfig())

    def perceive(self, record: np.void, instrument: str, now_ns: int) -> AgentIntent | None:
        f = self.fields(record)
        total = f.risk_total.item()
        veto, warn = f.risk_veto.item(), f.risk_warn.item()
        budget = RiskBudget(max_loss=0.0, max_position=0.0)
        if veto > 0 and total >= veto:
            self.status = (CrewState.ALERT, CrewTask.RISK_VETO, total)
            return AgentIntent(id=self._next_id(), agent=self.agent_id, kind="Veto",
                               instrument=instrument, confidence=1.0, budget=budget, created_ns=now_ns,
                               title=f"VETO: hull potential {total:.2f}",
                               reasoning=f"risk potential U={total:.2f} is at or above the veto threshold {veto:g}")
        if warn > 0 and total >= warn:
            self.status = (CrewState.SUGGESTING, CrewTask.RISK_WARNING, total)
            return None
        self.status = (CrewState.ACTIVE, CrewTask.RISK_NOMINAL, total)
        return None
