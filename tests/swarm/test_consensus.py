"""Consensus: a veto always stops the crew; otherwise the most confident (or confident × reputable) intent wins,
and ties go to the agent registered first."""

from __future__ import annotations

import math

from sextant.swarm.consensus import resolve
from sextant.swarm.intent import AgentIntent, RiskBudget


def intent(agent: str, kind: str = "TrendFollow", confidence: float = 0.5, reputation: float = 0.5) -> AgentIntent:
    return AgentIntent(id=f"{agent}-1", agent=agent, kind=kind, instrument="X.SIM",  # type: ignore[arg-type]
                       target_position=None if kind in ("Hold", "Veto") else 1.0, confidence=confidence,
                       reputation=reputation, budget=RiskBudget(max_loss=1.0, max_position=1.0))


def test_pipeline_picks_the_highest_confidence() -> None:
    result = resolve([intent("a", confidence=0.4), intent("b", confidence=0.8), intent("c", confidence=0.6)])
    assert result.decision is not None and result.decision.agent == "b" and result.veto is None


def test_a_veto_stops_every_mode() -> None:
    crew = [intent("risk", kind="Veto", confidence=1.0), intent("a", confidence=0.99)]
    for mode in ("pipeline", "vote"):
        result = resolve(crew, mode)  # type: ignore[arg-type]
        assert result.decision is None and result.veto is not None and result.veto.agent == "risk"


def test_holds_never_win() -> None:
    assert resolve([intent("a", kind="Hold", confidence=1.0)]).decision is None


def test_vote_weighs_confidence_by_reputation() -> None:
    crew = [intent("a", confidence=0.9, reputation=0.2), intent("b", confidence=0.6, reputation=0.9)]
    assert resolve(crew, "pipeline").decision.agent == "a"  # type: ignore[union-attr]
    assert resolve(crew, "vote").decision.agent == "b"  # type: ignore[union-attr]


def test_ties_go_to_the_agent_registered_first() -> None:
    assert resolve([intent("first"), intent("second")]).decision.agent == "first"  # type: ignore[union-attr]
    assert resolve([intent("first"), intent("second")], "vote").decision.agent == "first"  # type: ignore


def test_nan_confidence_never_wins() -> None:
    assert resolve([intent("a", confidence=math.nan), intent("b", confidence=0.1)]).decision.agent == "b"  # type: ignore
    assert resolve([intent("a", confidence=math.nan)]).decision is None
