"""Reputation → autonomy (docs/trust.md#reputation--autonomy): each agent's ceiling comes from its on-chain score.
With the human at AUTO, an agent whose reputation fell below 0.5 is held to Manual (its next intent waits for
approval), while a well-rated agent's intent executes at once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from sextant.state import messages
from sextant.state.bus import EventPublished, IntentDecided, PositionClosed
from sextant.state.layout import Autonomy
from sextant.swarm.intent import AgentIntent, RiskBudget
from sextant.trust.attestor import Attestor
from sextant.trust.chain import Chain
from sextant.trust.link import ceiling_for
from tests.engine.conftest import engine_config, run_engine


def test_scores_map_to_ceilings() -> None:
    assert ceiling_for(None) == Autonomy.MANUAL
    assert ceiling_for(0.49) == Autonomy.MANUAL
    assert ceiling_for(0.5) == Autonomy.ASSISTED
    assert ceiling_for(0.89) == Autonomy.ASSISTED
    assert ceiling_for(0.9) == Autonomy.AUTO


def seed_reputation(directory: Path) -> None:
    """Rate two agents on the embedded chain: one losing (score < 0.5), one winning clearly (score ≥ 0.9)."""
    attestor = Attestor(directory, lambda: Chain.embedded_chain(42))
    attestor.setup(["weak-agent", "strong-agent"])
    attestor.start()
    for index in range(6):
        for agent, pnl in (("weak-agent", -3.0), ("strong-agent", +3.0)):  # ∓50 bps on 600 USDT of notional
            attestor.attest(agent, {"quantity": 1.0, "entry_price": 60_000.0, "multiplier": 0.01, "realized_pnl": pnl,
                                    "closed_at_ns": 1_767_225_600_000_000_000 + index, "intent_id": f"{agent}-{index}"},
                            instrument="BTC-USDT-SWAP.OKX", strategy="test")
    assert attestor.flush(30)
    scores = attestor.scores()
    assert scores["weak-agent"] < 0.5 and scores["strong-agent"] >= 0.9
    attestor.close()


def propose_from(agent: str, intent_id: str, target: float | None = None) -> Any:
    """An intent from `agent` to go one contract longer, or to `target`."""
    def step(parts: Any) -> None:
        strategy = parts.strategy
        position = float(strategy.portfolio.net_position(strategy.desks[0].instrument_id) or 0)
        strategy.propose(AgentIntent(id=intent_id, agent=agent, kind="TrendFollow", instrument="BTC-USDT-SWAP.OKX",
                                     target_position=position + 1.0 if target is None else target, confidence=0.9,
                                     style="MARKET", budget=RiskBudget(max_loss=10_000.0, max_position=20.0)))
    return step


@pytest.mark.slow
def test_reputation_below_half_forces_manual_for_that_agent(tmp_path: Path) -> None:
    seed_reputation(tmp_path / "trust")

    def schedule(parts: Any, loop: Any) -> None:
        loop.call_later(1.0, propose_from("weak-agent", "weak-1"), parts)
        loop.call_later(2.0, propose_from("strong-agent", "strong-1"), parts)

    parts, collected = run_engine(engine_config(tmp_path, autonomy="AUTO", trust_dir=str(tmp_path / "trust"),
                                                duration_s=4.0), schedule)
    generated = {m.message.intent_id: m.message for m in collected if isinstance(m.message, messages.IntentGenerated)}
    submitted = {m.message.intent_id for m in collected if isinstance(m.message, messages.OrderSubmitted)}
    assert generated["weak-1"].requires_approval, "the weak agent's intent waits for a human"
    assert "weak-1" not in submitted and "weak-1" in parts.strategy.pending or \
        any(isinstance(m.message, messages.IntentExpired) for m in collected)
    assert not generated["strong-1"].requires_approval and "strong-1" in submitted
    assert parts.strategy.autonomy == Autonomy.AUTO, "the human's level stands; only the weak agent is held back"
    assert parts.strategy.level_for("weak-agent") == Autonomy.MANUAL
    assert parts.strategy.level_for("strong-agent") == Autonomy.AUTO
    assert float(parts.context.record["reputation"]) > 0


@pytest.mark.slow
def test_a_closed_decision_is_recorded_signed_and_attested(tmp_path: Path) -> None:
    import json

    from eth_utils import keccak

    from sextant.trust.records import verify_envelope

    seed_reputation(tmp_path / "trust")
    decided_on: dict[str, bytes] = {}

    def schedule(parts: Any, loop: Any) -> None:
        parts.bus.subscribe(IntentDecided, lambda decided: decided_on.setdefault(
            decided.intent_id, parts.context.record.tobytes()))
        loop.call_later(1.0, propose_from("strong-agent", "open-1"), parts)
        loop.call_later(2.5, propose_from("strong-agent", "close-1", target=0.0), parts)

    _, collected = run_engine(engine_config(tmp_path, autonomy="AUTO", trust_dir=str(tmp_path / "trust"),
                                            duration_s=5.0), schedule)
    assert any(isinstance(m.message, messages.AttestationQueued) for m in collected)
    records = [json.loads(p.read_text()) for p in (tmp_path / "trust" / "records").glob("strong-agent-*open-1.json")]
    assert len(records) == 1
    envelope = records[0]
    record = envelope["record"]
    assert record["intent"]["intent_id"] == "open-1"
    # the ContextWindow the crew decided on, though its IntentGenerated went out after the order had left
    assert record["context_hash"] == "0x" + keccak(decided_on["open-1"]).hex()
    assert [o["intent_id"] for o in record["orders"]] == ["open-1"] and record["fills"]
    assert record["outcome"]["agent"] == "strong-agent" and record["outcome"]["intent_id"] == "open-1"
    assert verify_envelope(envelope).record_id == record["record_id"]
    check = Attestor(tmp_path / "trust", lambda: Chain.embedded_chain(42))
    check.setup([])
    row = check.journal.by_record(record["record_id"])
    assert row is not None and row.status == "mined"
    assert check.verify(tmp_path / "trust" / "records" / f"{record['record_id']}.json")
    check.close()


@pytest.mark.slow
def test_reputation_falling_below_half_mid_run_forces_manual(tmp_path: Path) -> None:
    """The agent starts trusted (AUTO); then its decisions close at a loss, go through the engine's own outcome
    hook to the attestor process and onto the chain; the score read back falls below 0.5, and its next intent
    waits for approval."""
    from sextant.engine.outcomes import DecisionOutcome

    seed_reputation(tmp_path / "trust")

    def losses(parts: Any) -> None:
        for index in range(20):  # −100 bps each, closed positions as the OutcomeBook reports them
            parts.bus.publish(PositionClosed(DecisionOutcome(
                intent_id=f"loss-{index}", agent="strong-agent", side="LONG", quantity=1.0, entry_price=60_000.0,
                exit_price=59_400.0, realized_pnl=-6.0, win=False, ts_closed=1_767_300_000_000_000_000 + index)))

    stop = asyncio.Event()
    mined: list[messages.AttestationMined] = []

    def propose_once_attested(parts: Any, loop: Any) -> None:
        # Ordered, not timed: the next intent comes once all 20 losses are on chain and their score is read back,
        # however long mining takes on a busy machine.
        if len(mined) < 20 or parts.strategy.level_for("strong-agent") != Autonomy.MANUAL:
            loop.call_later(0.2, propose_once_attested, parts, loop)
            return
        propose_from("strong-agent", "after")(parts)
        loop.call_later(0.5, stop.set)

    def schedule(parts: Any, loop: Any) -> None:
        parts.bus.subscribe(EventPublished, lambda published: mined.append(published.event)
                            if isinstance(published.event, messages.AttestationMined) else None)
        loop.call_later(1.0, propose_from("strong-agent", "before"), parts)
        loop.call_later(1.5, losses, parts)
        loop.call_later(1.5, propose_once_attested, parts, loop)

    parts, collected = run_engine(engine_config(tmp_path, autonomy="AUTO", trust_dir=str(tmp_path / "trust"),
                                                duration_s=180.0), schedule, stop=stop)
    generated = {m.message.intent_id: m.message for m in collected if isinstance(m.message, messages.IntentGenerated)}
    assert not generated["before"].requires_approval, "trusted at first: AUTO"
    assert "after" in generated, "the 20 losses never brought the agent down to Manual within the run"
    assert generated["after"].requires_approval, "after the losses were attested: Manual, the intent waits"
    assert len([m for m in collected if isinstance(m.message, messages.AttestationMined)]) >= 20
    assert parts.strategy.level_for("strong-agent") == Autonomy.MANUAL


def _running(pid: str) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_the_attestor_process_does_not_outlive_a_killed_engine(tmp_path: Path) -> None:
    """An engine killed with SIGKILL cannot stop its attestor; the attestor notices and exits by itself."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO_ROOT, free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEXTANT_", "OKX_"))}
    env.update(SEXTANT_WS_PORT=str(free_port()), SEXTANT_TRUST_DIR=str(tmp_path / "trust"), SEXTANT_RECORD_DIR="",
               SEXTANT_LLM_CONFIG=str(REPO_ROOT / "llm.toml"))
    log = tmp_path / "engine.log"
    with open(log, "w") as output:
        engine = subprocess.Popen([sys.executable, "-m", "sextant.cli", "engine", "--duration", "60"], cwd=tmp_path,
                                  env=env, stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while "trust:" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    children = subprocess.run(["pgrep", "-P", str(engine.pid)], capture_output=True, text=True,
                              check=False).stdout.split()
    assert children, log.read_text()[-2000:]
    engine.send_signal(signal.SIGKILL)
    engine.wait(timeout=10)
    deadline = time.monotonic() + 15
    alive = children
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [pid for pid in alive if _running(pid)]
    assert not alive, f"left behind: {alive}"


def test_each_model_the_crew_asks_gets_an_identity_beside_the_crew_and_sets_no_ceiling(tmp_path: Path) -> None:
    from sextant.engine.node import trust_agents
    from sextant.swarm.agents.risk import RiskAgent
    from sextant.swarm.llm import LlmClient
    from sextant.swarm.router import PerceptionRouter
    from tests.fixtures.llm_toml import local_llm_config

    client = LlmClient(local_llm_config(tmp_path, "http://127.0.0.1:9/v1"), deadline_s=1.0)
    crew = [RiskAgent(), PerceptionRouter(llm=client)]
    assert trust_agents(crew) == ["risk-01", "perception-01", "local/large-model@strategy",
                                  "local/small-model@perception"]
    assert trust_agents([RiskAgent(), PerceptionRouter()]) == ["risk-01", "perception-01"]  # rules only: no model
