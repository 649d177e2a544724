"""The Attestor: every closed decision becomes a signed record on disk, a journal row, and then feedback on chain.

`attest()` only writes: the signed record file and the journal row, then returns; a worker thread sends the
journaled feedback in order, up to BATCH at once (consecutive nonces, one JSON-RPC batch on an HTTP node), and
retries with exponential backoff while the RPC is down. Before each batch it waits for the evaluator's transactions
in flight, then asks the chain how many of each agent's feedbacks from the evaluator have landed (`getLastIndex`),
so a send whose receipt was lost in a crash is recognised, not repeated: none lost, none duplicated.

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

from eth_utils import to_checksum_address

from sextant.state import messages
from sextant.swarm.calibration import is_model_agent
from sextant.trust.chain import Chain, ChainError
from sextant.trust.journal import Attestation, Journal
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
from sextant.trust.registry import REPRODUCED_TAG, Erc8004, Feedback, ValidationAsked, reason_of

SCORE_SCALE_BPS = 10.0  # score = logistic(average return / 10 bps): 0.5 at break-even, 0.9 at +22 bps a decision
BACKOFF_START_S = 0.25
BACKOFF_MAX_S = 30.0
BATCH = 64  # feedback sent at once: signed with consecutive nonces, one JSON-RPC batch on an HTTP node
SETTLE_S = 60.0  # how long the evaluator's in-flight transactions are waited for before a batch
SCORES_READ_S = 1.0  # while a burst is being sent, how often the crew's scores are read for the engine
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
                 on_validated: Callable[[tuple[int, int]], None] | None = None, batch: int = BATCH) -> None:
        # asked to re-run each rule agent's decision once it is on chain (web3 takes only checksummed addresses)
        self.validator = to_checksum_address(validator) if validator else ""
        self.directory = Path(directory)
        self.records_dir = self.directory / "records"
        self.journal = Journal(self.directory / "journal.sqlite")
        self._connect = connect
        self._publish = publish or (lambda event: None)
        self._on_reputation = on_reputation or (lambda scores: None)
        self._on_validated = on_validated or (lambda validated: None)
        self._validated_read_s = self._scores_read_s = 0.0
        self.batch = batch  # feedback sent at once (bench/trust_bench.py compares 1 with BATCH)
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
        if not chain.embedded and identity is not None and validation is None:
            raise ChainError(f"the journal in {self.directory} names registries from before ERC-8004 v2.0.0 (no "
                             f"Validation Registry): their agents and feedback stay on that chain. Fix: move the "
                             f"folder aside to deploy the v2.0.0 registries anew.", retryable=False)
        if chain.embedded or identity is None or reputation is None or validation is None:
            registry = Erc8004.deploy(chain)
            assert registry.validation is not None  # deployed with all three
            if identity is not None and (registry.identity.address, registry.reputation.address) != (identity,
                                                                                                     reputation):
                raise ChainError(f"the embedded chain rebuilt the registries at {registry.identity.address}, not "
                                 f"{identity} as journaled: the journal belongs to another seed, or to registries "
                                 f"from before ERC-8004 v2.0.0. Fix: move {self.directory} aside to start anew.",
                                 retryable=False)
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
            if self._drained():
                return True
            self._wake.set()
            time.sleep(0.05)
        return self._drained()

    def _drained(self) -> bool:
        return not self.journal.pending(1) and not (self.validator and self.journal.unrequested(1))

    def _run(self) -> None:
        backoff = BACKOFF_START_S
        scores_stale = False
        while not self._stop.is_set():
            rows = self.journal.pending(self.batch)
            try:
                if not rows:
                    self._ask_validator()
                    self._wake.wait(0.5)
                    self._wake.clear()
                    continue
                mined = self._send_batch(rows)
                backoff = BACKOFF_START_S
            except ChainError as error:
                self.last_error = str(error)
                for first in self.journal.pending(1):  # the first not on chain (rows may have been mined since)
                    self.journal.mark_attempt(first.seq, str(error), failed=False)
                self._stop.wait(backoff)
                backoff = min(BACKOFF_MAX_S, backoff * 2)
                self._after_outage()
                continue  # in order: the first unmined row is the first sent again
            scores_stale = scores_stale or mined > 0
            # getSummary walks an agent's whole feedback: the scores are read once the queue is empty, or once
            # every SCORES_READ_S while a burst is being sent, not after every batch
            if scores_stale and (not self.journal.pending(1)
                                 or time.monotonic() - self._scores_read_s >= SCORES_READ_S):
                self._scores_read_s, scores_stale = time.monotonic(), False
                try:
                    self._on_reputation(self.scores())
                except ChainError as error:
                    self.last_error = str(error)

    def _ask_validator(self) -> None:
        """Ask the validator to re-run each mined rule-agent decision not asked about yet, up to `batch` at once
        (once: the registry refuses a second request under the same hash, so one sent before a crash is recognised
        by reading it first), then read its answers back every VALIDATION_READ_S."""
        if not self.validator:
            return
        assert self.registry is not None and self.chain is not None
        while rows := self.journal.unrequested(self.batch):
            if self._stop.is_set():
                return
            to_ask = []
            for row in rows:  # asked before a crash, its journal row not marked: the registry has it
                if self.registry.validation_requested(bytes.fromhex(row.hash[2:])):
                    self.journal.mark_validation(row.seq, "requested")
                else:
                    to_ask.append(row)
            reverted, refused = self.registry.request_validation_many(self.chain.operator, [
                ValidationAsked(row.validator, row.agent_id, row.uri, bytes.fromhex(row.hash[2:])) for row in to_ask])
            for row, reason in zip(to_ask, reverted, strict=False):
                # "exists": a request of ours still unmined when we looked (a node with block times) has landed
                failed = bool(reason) and not self.registry.validation_requested(bytes.fromhex(row.hash[2:]))
                self.journal.mark_validation(row.seq, "failed" if failed else "requested", reason if failed else "")
            if refused is not None:
                raise refused
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

    def _send_batch(self, rows: list[Attestation]) -> int:
        """Put queued feedback on chain, in order, up to `batch` at once (Erc8004.give_feedback_many); returns how many
        were mined. First, what is on chain already is recognised, so a send whose receipt was lost in a crash is
        not repeated: the evaluator's transactions still in flight are waited for, then each agent's count of our
        feedback (getLastIndex) is compared with the journal's. A feedback that reverts is marked failed with its
        reason; a refused send, or none, raises ChainError, and the rest waits for the next try."""
        assert self.registry is not None and self.chain is not None
        evaluator = self.chain.evaluator
        self._wait_settled()
        landed = {agent_id: self.registry.last_index(agent_id, evaluator.address)
                  for agent_id in dict.fromkeys(row.agent_id for row in rows)}
        before: dict[int, int] = {}  # each agent's feedback mined ahead of this batch's rows, in the journal
        to_send, mined = [], 0
        for row in rows:
            if row.agent_id not in before:
                before[row.agent_id] = self.journal.mined_count(row.agent_id, row.seq)
            before[row.agent_id] += 1
            if landed[row.agent_id] >= before[row.agent_id]:  # on chain already: sent before a crash
                self._mined(row, "", 0, before[row.agent_id])
                mined += 1
            else:
                to_send.append(row)
        sent, refused = self.registry.give_feedback_many(evaluator, [
            Feedback(row.agent_id, row.value, row.decimals, row.tag1, row.tag2, "", row.uri,
                     bytes.fromhex(row.hash[2:])) for row in to_send])
        for row, each in zip(to_send, sent, strict=False):
            if each.reverted:
                self.journal.mark_attempt(row.seq, each.reverted, failed=True)
                continue
            self._mined(row, each.receipt.tx_hash, each.receipt.block_number, each.index)
            mined += 1
        if refused is not None:
            raise refused
        return mined

    def _mined(self, row: Attestation, tx_hash: str, block_number: int, index: int) -> None:
        self.journal.mark_mined(row.seq, tx_hash, block_number, index)
        self._publish(messages.AttestationMined(record_id=row.record_id, agent=row.agent, tx_hash=tx_hash,
                                                block_number=block_number, feedback_index=index))

    def _wait_settled(self) -> None:
        """Wait while the evaluator has transactions sent and not mined (a node with block times, after a
        restart): until they land, getLastIndex cannot count them."""
        assert self.chain is not None
        deadline = time.monotonic() + SETTLE_S
        while (in_flight := self.chain.in_flight(self.chain.evaluator)) > 0:
            if time.monotonic() > deadline or self._stop.is_set():
                raise ChainError(f"{in_flight} of the evaluator's transactions are still not mined after "
                                 f"{SETTLE_S:g} s", retryable=True)
            time.sleep(0.2)

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
