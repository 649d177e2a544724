"""Research into the live crew: an accepted change in the ledger becomes a research card; in Manual it waits for the
captain, and approved it changes the agent's parameters in the running engine. The decision is kept: a restarted
engine starts with what was approved and never asks again about what was rejected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sextant.research.hypothesis import baseline, make
from sextant.research.ledger import Ledger
from sextant.state import messages
from sextant.swarm.agents.momentum import MomentumAgent, MomentumConfig
from tests.engine.test_gate_and_commands import of, scenario

NEW = {"horizon_index": 2, "volatility_index": 3, "entry_z": 1.7, "exit_z": 0.1}


def ledger_with_an_accepted_change(path: Path) -> str:
    ledger = Ledger(path)
    base = baseline("momentum")
    ledger.propose(base.id, "momentum", base.params, None, "baseline")
    ledger.judge(base.id, selection=[], selection_ir=-120.0, selection_sharpe=-0.1, hold_ir=0.0, holdout=None,
                 dsr=None, best_ir_before=None, verdict="baseline", accepted=False)
    worse = make("momentum", {**base.params, "entry_z": 0.5}, parent_id=base.id, origin="mutation")
    ledger.propose(worse.id, "momentum", worse.params, base.id, "mutation")
    ledger.judge(worse.id, selection=[], selection_ir=-300.0, selection_sharpe=-0.3, hold_ir=0.0, holdout=None,
                 dsr=None, best_ir_before=-120.0, verdict="rejected: selection IR -300.00 does not beat the best",
                 accepted=False)
    better = make("momentum", NEW, parent_id=base.id, origin="mutation")
    ledger.propose(better.id, "momentum", better.params, base.id, "mutation")
    ledger.judge(better.id, selection=[], selection_ir=240.0, selection_sharpe=0.2, hold_ir=0.0,
                 holdout={"ir": 200.0}, dsr=0.99, best_ir_before=-120.0,
                 verdict="accepted: IR -120.00 → 240.00 on selection", accepted=True)
    ledger.close()
    return better.id


def crew() -> list[Any]:
    return [MomentumAgent(MomentumConfig(entry_z=50.0))]  # a crew member that will not trade during the test


def momentum_config(parts: Any) -> MomentumConfig:
    (agent,) = parts.strategy.crew
    return agent.config


def run(tmp_path: Path, ledger: Path, steps: list, **config: Any) -> tuple[Any, list]:
    tmp_path.mkdir(exist_ok=True)
    return scenario(tmp_path, steps, research_ledger=str(ledger), agents=crew(), **config)


@pytest.mark.slow
def test_in_manual_the_change_waits_for_approval_then_retunes_the_running_agent(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    hypothesis = ledger_with_an_accepted_change(ledger)
    seen: dict[str, MomentumConfig] = {}
    parts, collected = run(tmp_path / "a", ledger, [
        (2.0, lambda parts: seen.update(before=momentum_config(parts))),
        (2.5, messages.Approve(command_id="c-1", intent_id=f"research-{hypothesis}")),
        (3.5, lambda parts: seen.update(after=momentum_config(parts))),
    ], autonomy="MANUAL", duration_s=4.0)
    (card,) = [g for g in of(collected, messages.IntentGenerated) if g.intent_kind == "Research"]
    assert card.requires_approval and card.agent == "momentum-01" and card.auto_approve_at_ns is None
    assert "entry_z 50 → 1.7" in card.plan and "horizon_index 0 → 2" in card.plan
    assert seen["before"].entry_z == 50.0, "nothing may change before the captain approves"
    assert seen["after"] == MomentumConfig(entry_z=1.7, exit_z=0.1, horizon_index=2, volatility_index=3)
    assert isinstance(seen["after"].horizon_index, int)
    (approved,) = of(collected, messages.IntentApproved)
    assert approved.by == "human" and approved.intent_id == card.intent_id
    results = of(collected, messages.AutoresearchResult)
    assert [r.accepted for r in results[:2]] == [False, True]  # the ledger's hypotheses, for the Research drawer
    assert results[-1].verdict == "applied to momentum-01 (human)" and results[-1].hypothesis_id == hypothesis
    assert not of(collected, messages.OrderSubmitted), "a research card places no order"
    assert Ledger(ledger).applications() == {hypothesis: "applied"}

    # a restarted engine starts with the approved parameters and does not ask again
    parts, collected = run(tmp_path / "b", ledger, [], autonomy="MANUAL", duration_s=1.5)
    assert momentum_config(parts).entry_z == 1.7 and momentum_config(parts).horizon_index == 2
    assert not [g for g in of(collected, messages.IntentGenerated) if g.intent_kind == "Research"]


@pytest.mark.slow
def test_in_auto_the_change_is_applied_at_once(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    hypothesis = ledger_with_an_accepted_change(ledger)
    parts, collected = run(tmp_path / "a", ledger, [], autonomy="AUTO", duration_s=1.5)
    (card,) = [g for g in of(collected, messages.IntentGenerated) if g.intent_kind == "Research"]
    assert not card.requires_approval
    assert of(collected, messages.IntentApproved)[0].by == "auto"
    assert momentum_config(parts).entry_z == 1.7
    assert Ledger(ledger).applications() == {hypothesis: "applied"}


@pytest.mark.slow
def test_a_rejected_change_is_not_applied_and_not_offered_again(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    hypothesis = ledger_with_an_accepted_change(ledger)
    parts, collected = run(tmp_path / "a", ledger, [
        (1.0, messages.Modify(command_id="c-0", intent_id=f"research-{hypothesis}", quantity=2.0)),
        (1.5, messages.Reject(command_id="c-1", intent_id=f"research-{hypothesis}")),
    ], autonomy="MANUAL", duration_s=2.5)
    modify = next(r for r in of(collected, messages.CommandResult) if r.command_id == "c-0")
    assert not modify.applied and "cannot be modified" in modify.reason
    assert momentum_config(parts).entry_z == 50.0
    assert Ledger(ledger).applications() == {hypothesis: "rejected"}
    parts, collected = run(tmp_path / "b", ledger, [], autonomy="MANUAL", duration_s=1.5)
    assert momentum_config(parts).entry_z == 50.0
    assert not [g for g in of(collected, messages.IntentGenerated) if g.intent_kind == "Research"]
