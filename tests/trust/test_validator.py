"""A validator re-runs a decision on the context its record names: a recorded `sextant sim` validates at 100, and a
record with a changed fill, a changed context or a changed config at 0, saying what differs."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from eth_account import Account
from eth_utils import keccak

from sextant.engine.config import EngineConfig
from sextant.engine.node import default_crews
from sextant.replay.format import read_decisions, read_metadata, read_table
from sextant.state import messages
from sextant.trust.chain import Chain, derived_key
from sextant.trust.records import record_hash
from sextant.trust.registry import Erc8004
from sextant.trust.validator import NOT_REPRODUCED, REPRODUCED, validate
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    done = subprocess.run([sys.executable, "-m", "sextant.cli", "sim", "--quotes", "6000", "--out", str(out)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return out / "scene"


def records_as_the_trust_link_writes_them(scene: Path) -> list[dict[str, Any]]:
    """Each decision of the scene as its record holds it (trust/link.py): the intent, the decided-on context's hash,
    the deciding member's kind and config, its orders and fills with their times."""
    events = read_table(scene, "events")
    decoded = [(messages.decode(kind, payload), ts) for kind, payload, ts in zip(
        events.column("kind").to_pylist(), events.column("payload").to_pylist(), events.column("ts_ns").to_pylist(),
        strict=True)]
    settings = read_metadata(scene)["config"]
    config = EngineConfig(base_size=settings["base_size"])
    (crew,) = default_crews(config, [config.base_size])
    members = {agent.agent_id: agent for agent in crew}
    hashes = {intent_id: "0x" + context_hash.hex() for context_hash, (intent_id, _) in read_decisions(scene).items()}
    records = []
    for event, _ in decoded:
        if isinstance(event, messages.IntentGenerated):
            member = members[event.agent]
            records.append({
                "agent": event.agent, "instrument": event.instrument, "context_hash": hashes[event.intent_id],
                "deciding_agent": {"kind": type(member).__name__, "config": msgspec.to_builtins(member.config)},
                "intent": msgspec.to_builtins(event),
                "orders": [msgspec.to_builtins(e) | {"ts_ns": ts} for e, ts in decoded
                           if isinstance(e, messages.OrderSubmitted) and e.intent_id == event.intent_id],
                "fills": [msgspec.to_builtins(e) | {"ts_ns": ts} for e, ts in decoded
                          if isinstance(e, messages.OrderFilled) and e.intent_id == event.intent_id]})
    return records


def test_every_decision_of_a_recorded_sim_validates_at_100(scene: Path) -> None:
    records = records_as_the_trust_link_writes_them(scene)
    assert len(records) >= 2 and any(record["fills"] for record in records)
    for record in records:
        validation = validate(record, scene)
        assert validation.response == REPRODUCED, validation.reason
        assert validation.reason.startswith("reproduced")


def test_a_changed_fill_a_changed_context_or_a_changed_config_validates_at_0_with_the_reason(scene: Path) -> None:
    record = next(record for record in records_as_the_trust_link_writes_them(scene) if record["fills"])

    fill = copy.deepcopy(record)
    fill["fills"][0]["fill_price"] += 1.0
    validation = validate(fill, scene)
    assert validation.response == NOT_REPRODUCED and "fill_price" in validation.reason

    context = copy.deepcopy(record)
    context["context_hash"] = "0x" + keccak(b"another market").hex()
    validation = validate(context, scene)
    assert validation.response == NOT_REPRODUCED and "no ContextWindow record hashing to" in validation.reason

    config = copy.deepcopy(record)
    threshold = "entry_z" if "entry_z" in config["deciding_agent"]["config"] else next(iter(
        config["deciding_agent"]["config"]))
    config["deciding_agent"]["config"][threshold] = 9.0
    validation = validate(config, scene)
    assert validation.response == NOT_REPRODUCED and "re-run on its context" in validation.reason

    model = copy.deepcopy(record) | {"deciding_agent": {"kind": "PerceptionRouter", "config": {}}}
    validation = validate(model, scene)
    assert validation.response == NOT_REPRODUCED and "only a rule agent is re-run" in validation.reason


def test_the_answer_goes_on_chain_as_the_standards_validation_response(scene: Path) -> None:
    """The operator (the agent's owner) asks a validator of its own key; the validator answers 100 for the recorded
    decision and 0 for its tampered copy, and getValidationStatus says so to anyone."""
    chain = Chain.embedded_chain(seed=21)
    registry = Erc8004.deploy(chain)
    validator = Account.from_key(derived_key(bytes(chain.operator.key), "validator"))
    chain.fund(validator.address, 10**18, minimum=10**17)
    record = next(record for record in records_as_the_trust_link_writes_them(scene) if record["fills"])
    tampered = copy.deepcopy(record)
    tampered["fills"][0]["fill_price"] += 1.0
    agent_id = registry.register(chain.operator, "https://agents.example/crew.json")
    for each, expected in ((record, REPRODUCED), (tampered, NOT_REPRODUCED)):
        request = record_hash(each)
        registry.request_validation(chain.operator, validator.address, agent_id, "file:///records/x.json", request)
        validation = validate(each, scene)
        reason = validation.reason.encode()
        registry.respond_validation(validator, request, validation.response,
                                    "data:text/plain," + validation.reason, keccak(reason),
                                    "reproduced" if validation.response == REPRODUCED else "differs")
        status = registry.validation_status(request)
        assert (status.validator, status.agent_id, status.response) == (validator.address, agent_id, expected)
        assert status.response_hash == keccak(reason) and status.last_update > 0
