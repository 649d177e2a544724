"""A validator re-runs a decision on the context its record names: a recorded `sextant sim` validates at 100, and a
record with a changed fill, a changed context or a changed config at 0, saying what differs; on chain, the validator
process answers each request the attestor made for a `sextant sim --attest` run."""

from __future__ import annotations

import copy
import json
import os
import shutil
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
from sextant.trust.attestor import Attestor
from sextant.trust.chain import Chain, derived_key
from sextant.trust.journal import Journal
from sextant.trust.records import record_hash, sign_record, write_envelope
from sextant.trust.registry import Erc8004, reason_of
from sextant.trust.validator import NOT_REPRODUCED, REPRODUCED, validate
from tests.conftest import REPO_ROOT
from tests.trust.conftest import ANVIL_KEY, Anvil

# anvil's second default account: the validator's own key, apart from the operator's (the first)
VALIDATOR_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
VALIDATOR = Account.from_key(VALIDATOR_KEY).address


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


def test_while_its_scene_is_still_being_recorded_a_missing_context_waits_instead_of_failing(
        scene: Path, tmp_path: Path) -> None:
    """A live session's recorder flushes every second and writes `stopped_ns` at the end: until then, what the scene
    does not hold yet may still come, and the validator asks again later; a changed config is final at once."""
    live = tmp_path / "live-scene"
    shutil.copytree(scene, live)
    metadata = json.loads((live / "metadata.json").read_text())
    del metadata["stopped_ns"]
    (live / "metadata.json").write_text(json.dumps(metadata))
    record = next(record for record in records_as_the_trust_link_writes_them(scene) if record["fills"])
    unseen = copy.deepcopy(record) | {"context_hash": "0x" + keccak(b"not flushed yet").hex()}
    assert not validate(unseen, live).final
    assert validate(unseen, scene).final, "a stopped scene's answer is final"
    assert validate(record, live) == validate(record, scene)
    config = copy.deepcopy(record)
    config["deciding_agent"]["config"] = config["deciding_agent"]["config"] | {
        name: 9.0 for name, value in config["deciding_agent"]["config"].items() if isinstance(value, float)}
    assert validate(config, live).final and validate(config, live).response == NOT_REPRODUCED


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


def sextant(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "sextant.cli", *args], env=env, capture_output=True, text=True,
                          timeout=600, cwd=REPO_ROOT, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.mark.slow  # a portfolio sim attested on anvil, and a validator process answering each decision
def test_the_validator_process_answers_every_request_of_an_attested_sim(anvil: Anvil, tmp_path: Path) -> None:
    """`sextant sim --attest` puts each closed decision on chain and asks the configured validator about each; the
    validator process (its own key) re-runs each on the recorded scene and answers 100; records tampered with after
    the run (a changed fill, a changed context, a file changed after its request) are answered 0 with the reason.
    `sextant trust verify` and the crew's validated share read it back from the chain."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEXTANT_")} | {
        "SEXTANT_CHAIN_RPC": anvil.url, "SEXTANT_CHAIN_KEY": ANVIL_KEY, "SEXTANT_TRUST_VALIDATOR": VALIDATOR}
    out = tmp_path / "sim"
    run = sextant("sim", "--portfolio", "--quotes", "20000", "--out", str(out), "--attest", env=env)
    attested = json.loads((out / "summary.json").read_text())["attested"]
    assert attested["mined"] >= 4 and attested["failed"] == 0, run.stdout
    assert attested["validation_requested"] == attested["mined"], "every decision was a rule agent's"
    trust = out / "trust"
    env_validator = env | {"SEXTANT_TRUST_DIR": str(trust), "SEXTANT_VALIDATOR_KEY": VALIDATOR_KEY}
    answered = sextant("trust", "validator", "--once", env=env_validator).stdout.splitlines()
    assert answered[0].startswith(f"validator {VALIDATOR}")
    assert [line.split()[0] for line in answered[1:-1]] == ["100"] * attested["mined"], answered
    assert answered[-1].startswith("0 waiting")

    records = sorted((trust / "records").glob("*.json"))
    verified = sextant("trust", "verify", str(records[0]), env=env | {"SEXTANT_TRUST_DIR": str(trust)}).stdout
    assert f"validation: 100 by {VALIDATOR} (reproduced): reproduced:" in verified

    journal = Journal(trust / "journal.sqlite")
    addresses = {name: journal.get_meta(name) for name in ("identity", "reputation", "validation")}
    journal.close()
    chain = Chain.connect(anvil.url, ANVIL_KEY)
    registry = Erc8004(chain, str(addresses["identity"]), str(addresses["reputation"]), addresses["validation"])
    for path in records:
        envelope = json.loads(path.read_text())
        status = registry.validation_status(bytes.fromhex(envelope["hash"][2:]))
        assert (status.validator, status.response, status.tag) == (VALIDATOR, REPRODUCED, "reproduced")

    # The operator asks about records that do not hold: each is signed as the attestor signs.
    envelope = json.loads(next(path for path in records if json.loads(path.read_text())["record"]["fills"])
                          .read_text())
    identity, chain_id = str(addresses["identity"]), chain.chain_id
    tampered_dir = tmp_path / "tampered"

    def ask(record: dict[str, Any], name: str) -> Path:
        signed = sign_record(record | {"record_id": name}, chain.operator, chain_id, identity)
        path = write_envelope(tampered_dir, signed)
        registry.request_validation(chain.operator, VALIDATOR, record["agent_id"], path.resolve().as_uri(),
                                    bytes.fromhex(signed["hash"][2:]))
        return path

    fill = copy.deepcopy(envelope["record"])
    fill["fills"][0]["fill_price"] += 1.0
    ask(fill, "changed-fill")
    context = copy.deepcopy(envelope["record"])
    context["context_hash"] = "0x" + keccak(b"another market").hex()
    ask(context, "changed-context")
    after = ask(copy.deepcopy(envelope["record"]) | {"closed_at_ns": 1}, "changed-after-request")
    changed = json.loads(after.read_text())
    changed["record"]["outcome"]["realized_pnl"] = 1e6
    after.write_text(json.dumps(changed))
    (tmp_path / "not-a-record").mkdir()  # anyone who owns an agent may ask: a URI may name anything
    registry.request_validation(chain.operator, VALIDATOR, envelope["record"]["agent_id"],
                                (tmp_path / "not-a-record").as_uri(), keccak(b"a directory"))

    answered = sextant("trust", "validator", "--once", env=env_validator).stdout.splitlines()
    zeros = {line.split()[3]: line for line in answered[1:-1]}
    assert set(zeros) == {"changed-fill.json", "changed-context.json", "changed-after-request.json",
                          "not-a-record"}, answered
    assert all(line.split()[0] == "0" for line in zeros.values())
    assert "fill_price" in zeros["changed-fill.json"]
    assert "no ContextWindow record hashing to" in zeros["changed-context.json"]
    assert "the record was changed after it was signed" in zeros["changed-after-request.json"]
    assert "names no record file" in zeros["not-a-record"]
    answers = registry.validation_answers(validator=VALIDATOR)
    assert len(answers) == len(records) + 4
    assert "fill_price" in reason_of(answers[-4].response_uri) and answers[-4].tag == "not-reproduced"
    assert answers[-4].response_hash == keccak(reason_of(answers[-4].response_uri).encode())

    attestor = Attestor(trust, lambda: Chain.connect(anvil.url, ANVIL_KEY), validator=VALIDATOR)
    attestor.setup([])
    assert attestor.validated() == (len(records), len(records) + 4), "the crew's validated share, from the chain"
    attestor.close()
