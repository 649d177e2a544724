"""The Attestor: every closed decision becomes a signed record on disk, a journal row, and then feedback on chain.

`attest()` runs in the engine's thread and only writes: the signed record file and the journal row (a few hundred
microseconds), then returns; a worker thread sends the journaled feedback in order, and retries with exponential
backoff while the RPC is down. Before each send it asks the chain how many of this agent's feedbacks from the
evaluator have landed (`getLastIndex`), so a send whose receipt was lost in a crash is recognised, not repeated:
none lost, none duplicated.

The embedded chain lives in memory, so at start the attestor rebuilds it from the journal: the same keys deploy
the registries at the same addresses, register the agents with the same ids, and re-send every mined feedback.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sextant.state import messages
from sextant.swarm.calibration import is_model_agent
from sextant.trust.chain import Chain, ChainError
from sextant.trust.journal import Journal
from sextant.trust.records import (
    VALUE_DECIMALS,
    RecordError,
    Verified,
    outcome_value,
    read_envelope,
    sign_record,
    verify_envelope,
    write_envelope,
)
from sextant.trust.registry import REPRODUCED_TAG, Erc8004, reason_of

SCORE_SCALE_BPS = 10.0  # score = logistic(average return / 10 bps): 0.5 at break-even, 0.9 at +22 bps a decision
BACKOFF_START_S = 0.25
BACKOFF_MAX_S = 30.0
VALIDATION_READ_S = 2.0  # how often, with a validator, its answers are read back for the bridge


def reputation_score(average_bps: float, count: int) -> float | None:
    """An agent's score in 0..1 from its average on-chain feedback; None before its first rated decision."""
    if count == 0:
        return None
    return 1.0 / (1.0 + math.exp(-average_bps / SCORE_SCALE_BPS))


@dataclass(frozen=True, slots=True)
class AgentReputation:
    name: str
    agent_id: int
    count: int
    average_bps: float
    score: float | None


class Attestor:
    def __init__(self, directory: str | Path, connect: Callable[[], Chain], *,
                 publish: Callable[[messages.Event], None] | None = None,
                 on_reputation: Callable[[dict[str, float | None]], None] | None = None, validator: str = "",
                 on_validated: Callable[[tuple[int, int]], None] | None = None) -> None:
        self.directory = Path(directory)
        self.records_dir = self.directory / "records"
        self.journal = Journal(self.directory / "journal.sqlite")
        self._connect = connect
        self._publish = publish or (lambda event: None)
        self._on_reputation = on_reputation or (lambda scores: None)
        self.validator = validator  # asked to re-run each rule agent's decision once it is on chain
        self._on_validated = on_validated or (lambda validated: None)
        self._validated_read_s = 0.0
        self.chain: Chain | None = None
        self.registry: Erc8004 | None = None
        self._agents: dict[str, int] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error = ""

    # ------------------------------------------------------------------------------------------- set-up

    def setup(self, agent_names: list[str]) -> dict[str, int]:
        """Connect, deploy or find the registries, rebuild an embedded chain from the journal, and register any
        agent not registered yet (each exactly once). Returns the agent ids."""
        chain = self._connect()
        self.chain = chain
        identity, reputation, validation = (self.journal.get_meta(name)
                                            for name in ("identity", "reputation", "validation"))
        if chain.embedded or identity is None or reputation is None or validation is None:
            registry = Erc8004.deploy(chain)
            assert registry.validation is not None  # deployed with all three
            if identity is not None and (registry.identity.address, registry.reputation.address) != (identity,
                                                                                                     reputation):
                raise ChainError(f"the embedded chain rebuilt the registries at {registry.identity.address}, not "
                                 f"{identity} as journaled: the journal belongs to another seed", retryable=False)
            self.journal.set_meta("identity", registry.identity.address)
            self.journal.set_meta("reputation", registry.reputation.address)
            self.journal.set_meta("validation", registry.validation.address)
        else:
            registry = Erc8004(chain, identity, reputation, validation)
        self.registry = registry
        self.journal.set_meta("endpoint", chain.endpoint)
        self.journal.set_meta("chain_id", str(chain.chain_id))
        known = self.journal.agents()
        if chain.embedded:
            self._replay(known)
        else:
            self.reconcile()
        self._agents = {name: agent_id for name, agent_id, _ in known}
        for name in agent_names:
            if name not in self._agents:
                kind = "sextant-model" if is_model_agent(name) else "sextant-crew"
                uri = f"data:application/json,{{\"name\":\"{name}\",\"type\":\"{kind}\"}}"
                agent_id = registry.register(chain.operator, uri)
                self.journal.add_agent(name, agent_id, uri)
                self._agents[name] = agent_id
        return dict(self._agents)

    def _replay(self, known: list[tuple[str, int, str]]) -> None:
        assert self.registry is not None and self.chain is not None
        for name, agent_id, uri in known:
            if self.registry.register(self.chain.operator, uri) != agent_id:
                raise ChainError(f"replaying the journal: agent {name} came back with another id", retryable=False)
        for row in self.journal.mined():
            self.registry.give_feedback(self.chain.evaluator, row.agent_id, row.value, row.decimals, row.tag1,
                                        row.tag2, "", row.uri, bytes.fromhex(row.hash[2:]))

    def reconcile(self) -> int:
        """Compare the journal with the chain: a node that restarted from an older snapshot may have lost blocks
        that held mined feedback. Those rows go back to the queue (in order), to be sent again. Returns how many."""
        assert self.registry is not None and self.chain is not None
        requeued = 0
        for _, agent_id, _ in self.journal.agents():
            on_chain = self.registry.last_index(agent_id, self.chain.evaluator.address)
            requeued += self.journal.requeue_beyond(agent_id, on_chain)
        if requeued:
            self._wake.set()
        return requeued

    # ------------------------------------------------------------------------------------------- attesting

    def attest(self, agent: str, outcome: dict[str, Any], *, instrument: str, strategy: str, context_hash: str = "",
               intent: dict[str, Any] | None = None, orders: list[dict[str, Any]] | None = None,
               fills: list[dict[str, Any]] | None = None, deciding_agent: dict[str, Any] | None = None,
               scene: str = "") -> str:
        """Record, sign and journal one closed decision; the worker puts it on chain, and asks the validator to
        re-run it if it is a rule agent's (`deciding_agent` names it) and a validator is set. `scene`: the URI of
        the scene recording that holds the context it was decided on. Returns the record id."""
        entry_notional = abs(float(outcome["quantity"])) * float(outcome["entry_price"]) * float(
            outcome.get("multiplier", 1.0))
        closed_at_ns = int(outcome["closed_at_ns"])
        return self._journaled(agent, f"{agent}-{closed_at_ns}-{outcome.get('intent_id') or 'position'}", outcome,
                               outcome_value(float(outcome["realized_pnl"]), entry_notional), closed_at_ns,
                               instrument=instrument, strategy=strategy,
                               context_hash=context_hash, intent=intent or {}, orders=orders or [], fills=fills or [],
                               deciding_agent=deciding_agent or {}, scene=scene)

    def attest_answer(self, agent: str, answer: dict[str, Any], *, instrument: str, strategy: str) -> str:
        """Record, sign and journal one scored answer of a model (an LlmAnswerScored event's fields and `ts_ns`):
        its value is the mid's move over the horizon in the direction it called, as a unit position's return."""
        direction = 1.0 if answer["action"] == "BUY" else -1.0
        asked_mid = float(answer["asked_mid"])
        value = outcome_value(direction * (float(answer["mid"]) - asked_mid), asked_mid)
        scored_ns = int(answer["ts_ns"])
        file_safe = re.sub(r"[^A-Za-z0-9._@+-]", "_", agent)  # the record id names its file: no slash, no colon
        return self._journaled(agent, f"{file_safe}-{scored_ns}-answer", answer, value, scored_ns,
                               instrument=instrument, strategy=strategy, context_hash="", intent={}, orders=[],
                               fills=[], deciding_agent={}, scene="")

    def _journaled(self, agent: str, record_id: str, outcome: dict[str, Any], value: int, closed_at_ns: int, *,
                   instrument: str, strategy: str, context_hash: str, intent: dict[str, Any],
                   orders: list[dict[str, Any]], fills: list[dict[str, Any]], deciding_agent: dict[str, Any],
                   scene: str) -> str:
        agent_id = self._agents.get(agent)
        if agent_id is None:
            raise KeyError(f"agent {agent!r} is not registered; known: {sorted(self._agents)}")
        existing = self.journal.by_record(record_id)
        if existing is not None:
            return record_id  # already journaled: attesting the same decision twice changes nothing
        # version 2: the deciding agent's kind and config and the scene of its context, for a validator to re-run it
        record = {"version": 2, "record_id": record_id, "agent": agent, "agent_id": agent_id,
                  "instrument": instrument, "strategy": strategy, "context_hash": context_hash,
                  "deciding_agent": deciding_agent, "scene": scene,
                  "intent": intent, "orders": orders, "fills": fills, "outcome": outcome, "value": value,
                  "value_decimals": VALUE_DECIMALS, "closed_at_ns": closed_at_ns}
        identity = self.journal.get_meta("identity") or ""
        chain_id = int(self.journal.get_meta("chain_id") or 0)
        assert self.chain is not None
        envelope = sign_record(record, self.chain.operator, chain_id, identity)
        path = write_envelope(self.records_dir, envelope)
        seq = self.journal.queue(record_id, agent, agent_id, value, VALUE_DECIMALS, strategy, instrument,
                                 path.resolve().as_uri(), envelope["hash"],
                                 self.validator if deciding_agent and self.validator else "")
        self._publish(messages.AttestationQueued(record_id=record_id, agent=agent, decision_hash=envelope["hash"],
                                                 journal_seq=seq))
        self._wake.set()
        return record_id

    # ------------------------------------------------------------------------------------------- the worker

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sextant-attestor", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    def flush(self, timeout_s: float) -> bool:
        """Wait until nothing is queued (no feedback, no validation request); False if something still is after
        `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.journal.pending(1) and not self.journal.unrequested(1):
                return True
            self._wake.set()
            time.sleep(0.05)
        return not self.journal.pending(1) and not self.journal.unrequested(1)

    def _run(self) -> None:
        backoff = BACKOFF_START_S
        while not self._stop.is_set():
            rows = self.journal.pending()
            if not rows:
                try:
                    self._ask_validator()
                except ChainError as error:
                    self.last_error = str(error)
                    self._stop.wait(backoff)
                    backoff = min(BACKOFF_MAX_S, backoff * 2)
                    continue
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            mined = 0
            for row in rows:
                if self._stop.is_set():
                    return
                try:
                    self._send(row)
                    mined += 1
                    backoff = BACKOFF_START_S
                except ChainError as error:
                    self.last_error = str(error)
                    self.journal.mark_attempt(row.seq, str(error), failed=not error.retryable)
                    if error.retryable:
                        self._stop.wait(backoff)
                        backoff = min(BACKOFF_MAX_S, backoff * 2)
                        self._after_outage()
                        break  # keep the order: retry this one first
            if mined:
                try:
                    self._on_reputation(self.scores())
                except ChainError as error:
                    self.last_error = str(error)

    def _ask_validator(self) -> None:
        """Ask the validator to re-run each mined rule-agent decision not asked about yet (once: the registry
        refuses a second request under the same hash, so one sent before a crash is recognised), then read its
        answers back every VALIDATION_READ_S."""
        if not self.validator:
            return
        assert self.registry is not None and self.chain is not None
        for row in self.journal.unrequested():
            if self._stop.is_set():
                return
            request_hash = bytes.fromhex(row.hash[2:])
            try:
                if not self.registry.validation_requested(request_hash):
                    self.registry.request_validation(self.chain.operator, row.validator, row.agent_id, row.uri,
                                                     request_hash)
            except ChainError as error:
                if error.retryable:
                    raise
                self.journal.mark_validation(row.seq, "failed", str(error))
                continue
            self.journal.mark_validation(row.seq, "requested")
        if time.monotonic() - self._validated_read_s >= VALIDATION_READ_S:
            self._validated_read_s = time.monotonic()
            self._on_validated(self.validated())

    def validated(self) -> tuple[int, int]:
        """The crew's decisions the validator reproduced, and those it answered, read from the Validation
        Registry."""
        assert self.registry is not None
        reproduced = answered = 0
        for name, agent_id, _ in self.journal.agents():
            if is_model_agent(name):
                continue
            answered += self.registry.validation_summary(agent_id, [self.validator])[0]
            reproduced += self.registry.validation_summary(agent_id, [self.validator], REPRODUCED_TAG)[0]
        return reproduced, answered

    def _after_outage(self) -> None:
        """Once the node answers again, check what it still holds (it may have restarted from a snapshot)."""
        if self.chain is not None:
            self.chain.forget_nonces()
        try:
            self.reconcile()
        except ChainError:
            pass  # still down: the next attempt waits longer

    def _send(self, row: Any) -> None:
        assert self.registry is not None and self.chain is not None
        evaluator = self.chain.evaluator
        expected = self.journal.mined_count(row.agent_id, row.seq) + 1
        landed = self.registry.last_index(row.agent_id, evaluator.address)
        if landed >= expected:  # sent before a crash or a lost receipt: it is on chain already
            self.journal.mark_mined(row.seq, "", 0, expected)
            self._publish(messages.AttestationMined(record_id=row.record_id, agent=row.agent, tx_hash="",
                                                    block_number=0, feedback_index=expected))
            return
        receipt, index = self.registry.give_feedback(evaluator, row.agent_id, row.value, row.decimals, row.tag1,
                                                     row.tag2, "", row.uri, bytes.fromhex(row.hash[2:]))
        self.journal.mark_mined(row.seq, receipt.tx_hash, receipt.block_number, index)
        self._publish(messages.AttestationMined(record_id=row.record_id, agent=row.agent, tx_hash=receipt.tx_hash,
                                                block_number=receipt.block_number, feedback_index=index))

    # ------------------------------------------------------------------------------------------- reading

    def reputations(self) -> list[AgentReputation]:
        """Each agent's score, read from the chain (getSummary over the evaluator)."""
        assert self.registry is not None and self.chain is not None
        out = []
        for name, agent_id, _ in self.journal.agents():
            summary = self.registry.summary(agent_id, [self.chain.evaluator.address])
            average_bps = summary.average
            out.append(AgentReputation(name, agent_id, summary.count, average_bps,
                                       reputation_score(average_bps, summary.count)))
        return out

    def scores(self) -> dict[str, float | None]:
        return {reputation.name: reputation.score for reputation in self.reputations()}

    def verify(self, path: Path) -> Verified:
        """Off-chain (hash, EIP-712 signature) and on-chain (the feedback's hash in its NewFeedback event)."""
        envelope = read_envelope(path)
        verified = verify_envelope(envelope)
        row = self.journal.by_record(verified.record_id)
        if row is None or row.status != "mined":
            raise RecordError(f"record {verified.record_id}: not mined on chain yet "
                              f"({'unknown to this journal' if row is None else row.status})")
        assert self.registry is not None and self.chain is not None
        events = self.registry.reputation.events.NewFeedback().get_logs(
            argument_filters={"agentId": row.agent_id, "clientAddress": self.chain.evaluator.address},
            from_block=0)
        on_chain = [e for e in events if int(e["args"]["feedbackIndex"]) == row.feedback_index]
        if not on_chain:
            raise RecordError(f"record {verified.record_id}: no feedback #{row.feedback_index} for agent "
                              f"{row.agent_id} on chain")
        chain_hash = "0x" + bytes(on_chain[-1]["args"]["feedbackHash"]).hex()
        if chain_hash != verified.hash:
            raise RecordError(f"record {verified.record_id}: the chain holds hash {chain_hash}, the record "
                              f"{verified.hash}")
        return verified

    def validation_of(self, record_hash: str) -> str:
        """What the Validation Registry says of the decision with this record hash, in a line."""
        assert self.registry is not None
        request_hash = bytes.fromhex(record_hash.removeprefix("0x"))
        if not self.registry.validation_requested(request_hash):
            return "none requested" + ("" if self.validator else " (no [trust] validator is set)")
        status = self.registry.validation_status(request_hash)
        answers = self.registry.validation_answers(request_hash=request_hash)
        if not answers:
            return f"requested from {status.validator}, no answer yet"
        answer = answers[-1]
        return f"{answer.response} by {answer.validator} ({answer.tag}): {reason_of(answer.response_uri)}"

    def close(self) -> None:
        self.stop()
        self.journal.close()
