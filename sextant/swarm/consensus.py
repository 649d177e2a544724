"""Consensus: from the crew's intents to at most one decision.

    pipeline   the actionable intent with the highest confidence
    vote       the actionable intent with the highest confidence × reputation (reputation from the chain, #7)

In both, any Veto means no decision and the veto is reported: the risk agent is never outvoted (the original let
a veto count as one more vote outside the pipeline).

Ties go to the agent registered first (the crew order is the priority order). The original took the last of equal
maxima, which made the result depend on iteration details; ours is stated and tested. NaN confidences never win.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from sextant.swarm.intent import AgentIntent

ConsensusMode = Literal["pipeline", "vote"]


@dataclass(frozen=True, slots=True)
class Consensus:
    decision: AgentIntent | None
    veto: AgentIntent | None


def _score(intent: AgentIntent, mode: ConsensusMode) -> float:
    score = intent.confidence * (intent.reputation if mode == "vote" else 1.0)
    return score if math.isfinite(score) else -math.inf


def resolve(intents: list[AgentIntent], mode: ConsensusMode = "pipeline") -> Consensus:
    """`intents` in crew order (one per agent that spoke this cycle)."""
    veto = next((intent for intent in intents if intent.kind == "Veto"), None)
    actionable = [intent for intent in intents if intent.is_actionable]
    if veto is not None:
        return Consensus(None, veto)
    best: AgentIntent | None = None
    for intent in actionable:  # strict > keeps the first of equal scores
        if best is None or _score(intent, mode) > _score(best, mode):
            best = intent
    if best is not None and _score(best, mode) == -math.inf:
        best = None
    return Consensus(best, veto)
