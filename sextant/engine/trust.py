"""The engine's side of the trust layer (SPEC §7, §8): closed decisions go to the attestor, and the crew's
on-chain reputation comes back as autonomy ceilings and consensus weights.

Threads: the attestor's worker talks to the chain; everything that touches the engine (events on the EventRing,
the strategy's gate) happens on the engine thread, in the strategy's timer, from two hand-over queues. Trading
never waits for the chain.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import queue
from collections import OrderedDict
from pathlib import Path
from typing import Any

import msgspec
from eth_utils import keccak

from sextant.engine.events import EventSink
from sextant.engine.strategy import SwarmStrategy
from sextant.state import messages
from sextant.state.context import ContextWriter
from sextant.state.layout import Autonomy
from sextant.trust.attestor import Attestor
from sextant.trust.chain import Chain

MAX_OPEN_DECISIONS = 10_000
AUTO_SCORE = 0.9  # SPEC §7
ASSISTED_SCORE = 0.5


def ceiling_for(score: float | None) -> Autonomy:
    """Auto needs ≥ 0.9, Assisted ≥ 0.5, otherwise Manual; an agent with no rated decision yet has no score, and
    earns its autonomy like any newcomer: Manual."""
    if score is None:
        return Autonomy.MANUAL
    if score >= AUTO_SCORE:
        return Autonomy.AUTO
    if score >= ASSISTED_SCORE:
        return Autonomy.ASSISTED
    return Autonomy.MANUAL


class TrustLink:
    """The attestor runs in a child process of its own: signing, the journal and above all the embedded py-evm
    chain (pure Python) would otherwise share the engine's interpreter, and mining would hold the GIL against
    quote handling (bench/trust_bench.py measured p99 quote → order 1.4 ms alone, 289 ms with an in-process
    attestor mining). The engine hands each closed decision over a queue and never waits."""

    def __init__(self, directory: Path, *, rpc_url: str, key: str, seed: int, instrument: str, multiplier: float,
                 strategy: SwarmStrategy, sink: EventSink, agents: list[str], writer: ContextWriter) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a running event loop and Nautilus threads
        self._to_child: multiprocessing.Queue = context.Queue()
        self._from_child: multiprocessing.Queue = context.Queue()
        self._process = context.Process(target=_attestor_process, name="sextant-attestor", daemon=True,
                                        args=(str(directory), rpc_url, key, seed, agents, self._to_child,
                                              self._from_child))
        self._instrument = instrument
        self._multiplier = multiplier
        self._strategy = strategy
        self._sink = sink
        self.endpoint = ""
        self.agent_ids: dict[str, int] = {}
        self._writer = writer
        # What each intent was decided on and what it did, until its position closes (bounded: most never trade).
        self._decisions: OrderedDict[str, dict[str, Any]] = OrderedDict()
        # The record each intent was decided on, copied at the decision: its IntentGenerated may be published after
        # the order has left (EventSink.publish_later), when the record already holds later quotes and fills.
        self._decided_on: OrderedDict[str, bytes] = OrderedDict()
        strategy.decision_listeners.append(self.on_decision)
        strategy.outcome_listeners.append(self.on_outcome)
        strategy.timer_listeners.append(self.on_timer)
        sink.add_listener(self.on_event)

    def start(self, timeout_s: float = 120.0) -> dict[str, int]:
        """Start the attestor process: it registers the crew (once, ever) and reads its reputation. Blocks until
        it is ready, so the engine trades under the right ceilings from its first quote."""
        self._process.start()
        kind, payload = self._from_child.get(timeout=timeout_s)
        if kind == "error":
            raise RuntimeError(f"the attestor could not start: {payload}")
        self.agent_ids, scores, self.endpoint = payload
        self._strategy.apply_reputation(scores)
        return dict(self.agent_ids)

    def on_decision(self, intent_id: str) -> None:
        self._decided_on[intent_id] = self._writer.record.tobytes()  # a copy; the hash waits for IntentGenerated
        while len(self._decided_on) > MAX_OPEN_DECISIONS:
            self._decided_on.popitem(last=False)

    def on_event(self, event: messages.Event, seq: int, ts_ns: int) -> None:
        """Collect each decision's record as it happens: the intent with the hash of the ContextWindow it was
        decided on, then its orders and fills."""
        if isinstance(event, messages.IntentGenerated):
            # a research card is announced as it is made, on the record of that moment
            decided_on = self._decided_on.pop(event.intent_id, None) or self._writer.record.tobytes()
            context_hash = "0x" + keccak(decided_on).hex()
            self._decisions[event.intent_id] = {"intent": msgspec.to_builtins(event), "context_hash": context_hash,
                                                "orders": [], "fills": []}
            while len(self._decisions) > MAX_OPEN_DECISIONS:
                self._decisions.popitem(last=False)
        elif isinstance(event, messages.OrderSubmitted | messages.OrderFilled) and event.intent_id:
            decision = self._decisions.get(event.intent_id)
            if decision is not None:
                key = "orders" if isinstance(event, messages.OrderSubmitted) else "fills"
                decision[key].append(msgspec.to_builtins(event) | {"ts_ns": ts_ns})

    def on_outcome(self, outcome: Any) -> None:
        if not outcome.agent:
            return  # a position no crew decision opened (a manual close): nothing to rate
        values = dataclasses.asdict(outcome)
        values["closed_at_ns"] = values.pop("ts_closed")
        values["multiplier"] = self._multiplier
        decision = self._decisions.pop(outcome.intent_id, None) if outcome.intent_id else None
        self._to_child.put(("attest", outcome.agent, values, self._instrument, outcome.agent.rsplit("-", 1)[0],
                            decision or {}))

    def on_timer(self, now: int) -> None:
        latest = None
        while True:
            try:
                kind, payload = self._from_child.get_nowait()
            except queue.Empty:
                break
            if kind == "event":
                self._sink.publish(payload, now)
            elif kind == "scores":
                latest = payload
        if latest is not None:
            self._strategy.apply_reputation(latest)

    def stop(self, timeout_s: float = 15.0) -> None:
        if self._process.is_alive():
            self._to_child.put(("stop",))
            self._process.join(timeout=timeout_s)
        if self._process.is_alive():
            self._process.terminate()


def _attestor_process(directory: str, rpc_url: str, key: str, seed: int, agents: list[str],
                      inbox: multiprocessing.Queue, outbox: multiprocessing.Queue) -> None:
    """The child: an Attestor with its worker thread; decisions in, events and scores out."""
    import os
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops us in order
    os.nice(19)  # attestation can wait a millisecond; a quote cannot: the engine gets the CPU first
    try:
        attestor = Attestor(Path(directory), lambda: Chain.connect(rpc_url, key, seed=seed),
                            publish=lambda event: outbox.put(("event", event)),
                            on_reputation=lambda scores: outbox.put(("scores", scores)))
        ids = attestor.setup(agents)
        outbox.put(("ready", (ids, attestor.scores(), attestor.journal.get_meta("endpoint") or "")))
    except Exception as error:  # noqa: BLE001 - reported to the parent, which fails with the message
        outbox.put(("error", f"{type(error).__name__}: {error}"))
        return
    attestor.start()
    parent = multiprocessing.parent_process()
    while True:
        try:
            message = inbox.get(timeout=1.0)
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                break  # the engine died (a crash, SIGKILL): mine what is journaled, then go, never linger
            continue
        if message[0] == "stop":
            break
        _, agent, values, instrument, strategy, decision = message
        try:
            attestor.attest(agent, values, instrument=instrument, strategy=strategy,
                            context_hash=decision.get("context_hash", ""), intent=decision.get("intent"),
                            orders=decision.get("orders"), fills=decision.get("fills"))
        except KeyError as error:
            outbox.put(("event", messages.CommandResult(command_id="", command="attest", applied=False,
                                                        reason=str(error))))
    attestor.flush(10.0)
    attestor.close()
