"""Attestation on the embedded chain: the crew registered once, 50 decisions of a sim run attested and read back
as scores, self-feedback refused, records verified (and a tampered one not), and the chain rebuilt from the
journal after a restart."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from sextant.engine.config import EngineConfig
from sextant.engine.node import default_crew
from sextant.engine.sim import run_sim, scene_quotes
from sextant.state import messages
from sextant.trust.attestor import Attestor
from sextant.trust.chain import Chain, ChainError
from sextant.trust.records import RecordError
from tests.conftest import REPO_ROOT
from tests.trust.conftest import ANVIL_KEY, Anvil, assert_each_decision_on_chain_once

CONTRACT_BTC = 0.01


@pytest.fixture(scope="module")
def sim_decisions() -> list[dict]:
    config = EngineConfig(cooldown_secs=0.0)
    with tempfile.TemporaryDirectory() as folder:
        summary = run_sim(config, scene_quotes(config, REPO_ROOT / "scenes" / "aapl-2018"), Path(folder),
                          record=False)
    assert len(summary.outcomes) >= 50
    return summary.outcomes[:50]


def crew_names() -> list[str]:
    return [agent.agent_id for agent in default_crew(EngineConfig(llm_config=None))]


def attest_all(attestor: Attestor, decisions: list[dict]) -> list[str]:
    return [attestor.attest(d["agent"], {**d, "closed_at_ns": d["ts_closed"], "multiplier": CONTRACT_BTC},
                            instrument="BTC-USDT-SWAP.OKX", strategy=d["agent"].rsplit("-", 1)[0])
            for d in decisions]


@pytest.mark.slow
def test_register_the_crew_attest_50_sim_decisions_and_read_the_scores(tmp_path: Path, sim_decisions) -> None:
    events: list[messages.Event] = []
    attestor = Attestor(tmp_path, lambda: Chain.embedded_chain(42), publish=events.append)
    ids = attestor.setup(crew_names())
    assert sorted(ids.values()) == list(range(len(ids))) and len(ids) >= 4
    assert attestor.setup(crew_names()) == ids, "registered once: a second setup registers nothing new"
    attestor.start()
    record_ids = attest_all(attestor, sim_decisions)
    assert attestor.flush(60)
    attestor.stop()
    queued = [e for e in events if isinstance(e, messages.AttestationQueued)]
    mined = [e for e in events if isinstance(e, messages.AttestationMined)]
    assert [e.record_id for e in queued] == record_ids and sorted(e.record_id for e in mined) == sorted(record_ids)
    assert attestor.journal.counts() == {"mined": 50}
    by_agent: dict[str, list[int]] = {}
    for row in attestor.journal.all():
        by_agent.setdefault(row.agent, []).append(row.value)
    for reputation in attestor.reputations():
        values = by_agent.get(reputation.name, [])
        assert reputation.count == len(values)
        if values:
            assert reputation.average_bps == pytest.approx(int(sum(values) / len(values)) / 100, abs=0.01)
            assert 0 < reputation.score < 1
        else:
            assert reputation.score is None
    attestor.close()


def test_self_feedback_is_refused(tmp_path: Path) -> None:
    attestor = Attestor(tmp_path, lambda: Chain.embedded_chain(7))
    ids = attestor.setup(["momentum-01"])
    chain, registry = attestor.chain, attestor.registry
    with pytest.raises(ChainError, match="Self-feedback not allowed") as refused:
        registry.give_feedback(chain.operator, ids["momentum-01"], 100, 2, "momentum", "BTC", "", "", b"\0" * 32)
    assert not refused.value.retryable
    registry.give_feedback(chain.evaluator, ids["momentum-01"], 100, 2, "momentum", "BTC", "", "", b"\0" * 32)
    assert registry.last_index(ids["momentum-01"], chain.evaluator.address) == 1
    attestor.close()


@pytest.mark.slow
def test_records_verify_and_a_tampered_record_does_not(tmp_path: Path, sim_decisions) -> None:
    attestor = Attestor(tmp_path, lambda: Chain.embedded_chain(42))
    attestor.setup(crew_names())
    attestor.start()
    record_id = attest_all(attestor, sim_decisions[:3])[0]
    assert attestor.flush(30)
    path = tmp_path / "records" / f"{record_id}.json"
    assert attestor.verify(path).record_id == record_id
    envelope = json.loads(path.read_text())
    envelope["record"]["outcome"]["realized_pnl"] += 100.0  # a better story than what happened
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(envelope))
    with pytest.raises(RecordError, match="changed after it was signed"):
        attestor.verify(tampered)
    envelope = json.loads(path.read_text())
    envelope["signer"] = attestor.chain.evaluator.address  # claims another signer
    tampered.write_text(json.dumps(envelope))
    with pytest.raises(RecordError, match="recovers to"):
        attestor.verify(tampered)
    attestor.close()


@pytest.mark.slow
def test_the_embedded_chain_is_rebuilt_from_the_journal_after_a_restart(tmp_path: Path, sim_decisions) -> None:
    first = Attestor(tmp_path, lambda: Chain.embedded_chain(42))
    ids = first.setup(crew_names())
    first.start()
    attest_all(first, sim_decisions[:10])
    assert first.flush(30)
    before = {r.name: (r.count, r.average_bps) for r in first.reputations()}
    first.close()
    second = Attestor(tmp_path, lambda: Chain.embedded_chain(42))
    assert second.setup(crew_names()) == ids
    assert {r.name: (r.count, r.average_bps) for r in second.reputations()} == before
    record = next((tmp_path / "records").iterdir())
    assert second.verify(record)
    second.close()


def test_a_model_is_an_agent_of_its_own_and_its_scored_answers_are_its_feedback(tmp_path: Path) -> None:
    """Issue #24: each model can be an ERC-8004 agent with its record attested like any crew member's. Its identity
    says it is a model; each scored answer is feedback worth the mid's move in the direction it called."""
    attestor = Attestor(tmp_path, lambda: Chain.embedded_chain(7))
    model = "local/smollm2@perception"
    ids = attestor.setup(["momentum-01", model])
    attestor.start()
    answer = {"model": "local/smollm2", "role": "perception", "action": "SELL", "confidence": 0.9,
              "asked_mid": 60_000.0, "mid": 59_940.0, "hit": 1, "answers": 1, "hits": 1, "ts_ns": 1_000}
    record_id = attestor.attest_answer(model, answer, instrument="BTC-USDT-SWAP.OKX", strategy="llm-perception")
    wrong = attestor.attest_answer(model, {**answer, "mid": 60_030.0, "hit": 0, "ts_ns": 2_000},
                                   instrument="BTC-USDT-SWAP.OKX", strategy="llm-perception")
    assert attestor.attest_answer(model, answer, instrument="BTC-USDT-SWAP.OKX",
                                  strategy="llm-perception") == record_id, "the same answer is attested once"
    assert attestor.flush(30)
    assert record_id == "local_smollm2@perception-1000-answer"
    assert attestor.verify(tmp_path / "records" / f"{record_id}.json").record_id == record_id
    values = {row.record_id: row.value for row in attestor.journal.mined()}
    assert values == {record_id: 1_000, wrong: -500}  # +10 bps its way, then -5 bps: bps × 100
    uri = attestor.registry.identity.functions.tokenURI(ids[model]).call()
    assert '"type":"sextant-model"' in uri and model in uri
    reputation = {r.name: r for r in attestor.reputations()}
    assert reputation[model].count == 2 and reputation["momentum-01"].count == 0
    attestor.close()


@pytest.mark.slow  # anvil
def test_a_burst_goes_in_batches_and_the_operator_keeps_the_evaluator_able_to_pay(
        anvil: Anvil, tmp_path: Path, sim_decisions) -> None:
    """The evaluator starts nearly dry (0.001 ETH, a few feedbacks' worth): before each batch the operator tops it
    up, so all 50 decisions land, each once and in order, and a feedback that reverts in the middle of a batch is
    marked failed with its reason without holding up the ones after it."""
    attestor = Attestor(tmp_path, lambda: Chain.connect(anvil.url, ANVIL_KEY), batch=16)
    ids = attestor.setup(crew_names())
    assert attestor.chain is not None
    evaluator = attestor.chain.evaluator.address
    attestor.chain.w3.provider.make_request("anvil_setBalance", [evaluator, hex(10**15)])  # type: ignore[arg-type]
    attest_all(attestor, sim_decisions[:20])
    no_such_agent = attestor.journal.queue("nobody-1", "nobody", 999, 100, 2, "x", "BTC", "file:///nowhere",
                                           "0x" + "00" * 32)
    attest_all(attestor, sim_decisions[20:])
    attestor.start()
    assert attestor.flush(120), attestor.last_error
    failed = [row for row in attestor.journal.all() if row.seq == no_such_agent]
    assert failed[0].status == "failed" and "reverted on chain" in failed[0].last_error
    attestor.journal._db.execute("DELETE FROM attestations WHERE seq = ?", (no_such_agent,))
    assert_each_decision_on_chain_once(attestor, {name: ids[name] for name in {d["agent"] for d in sim_decisions}},
                                       50)
    assert attestor.chain.w3.eth.get_balance(evaluator) > 10**15, "topped up by the operator"
    attestor.close()
