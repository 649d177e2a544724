"""The engine's side of the trust layer (docs/trust.md): closed decisions go to the attestor, and the crew's
on-chain reputation comes back as autonomy ceilings and consensus weights.

The attestor is a supervised child process. Each closed decision is appended to the engine's write-ahead file
(trust/handoff.py) before the child sees it; the child journals it and acknowledges by file offset. The strategy's
timer (every command poll) reads what the child sends back (events, scores, progress) and checks that it is
alive: a dead child is seen at the next poll, announced (AttestorDown), restarted with back-off
(trust/restart.py), and catches up from the file (AttestorUp). Trading never waits for the child or the chain,
and shutdown never waits on a dead child.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

import msgspec
from eth_utils import keccak

from sextant.state import messages
from sextant.state.bus import Bus, EventPublished, IntentDecided, PositionClosed, TimerTick
from sextant.state.context import ContextWriter
from sextant.state.layout import Autonomy
from sextant.swarm.calibration import model_agent
from sextant.trust.child import run_child
from sextant.trust.handoff import HANDOFF_FILE, HandoffWriter
from sextant.trust.restart import RestartPolicy

MAX_OPEN_DECISIONS = 10_000
STOP_WAIT_S = 1.5  # a live child gets this long to stop in order; then it is terminated (nothing is lost)
START_POLL_S = 0.05  # while starting, how often a request to stop is looked for
AUTO_SCORE = 0.9  # docs/trust.md#reputation--autonomy
ASSISTED_SCORE = 0.5


class StartCancelled(Exception):
    """The start was given up on request; the child is gone."""


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


class TrustTarget(Protocol):
    """What the link uses of the trading strategy (engine/strategy.py), so that trust does not import the engine."""

    def apply_reputation(self, scores: dict[str, float | None]) -> None: ...

    def member(self, agent_id: str, instrument: str) -> Any: ...  # the crew member of that instrument, or None

    def apply_validated(self, reproduced: int, answered: int) -> None: ...


@dataclass(slots=True)
class _Child:
    process: Any  # a multiprocessing SpawnProcess
    conn: Connection
    started_s: float  # time.monotonic() at start
    ready: bool = False


class TrustLink:
    """The attestor runs in a child process of its own: signing, the journal and above all the embedded py-evm
    chain (pure Python) would otherwise share the engine's interpreter, and mining would hold the GIL against
    quote handling (bench/trust_bench.py measured p99 quote → order 1.4 ms alone, 289 ms with an in-process
    attestor mining). The engine hands each closed decision over through its write-ahead file and never waits."""

    def __init__(self, directory: Path, *, rpc_url: str, key: str, seed: int, multipliers: Mapping[str, float],
                 strategy: TrustTarget, sink: messages.EventPublisher, bus: Bus, agents: list[str],
                 writer: ContextWriter, restart_policy: RestartPolicy | None = None, validator: str = "",
                 scene: Path | None = None) -> None:
        self._context = multiprocessing.get_context("spawn")  # no fork of a running event loop and Nautilus threads
        self._child_args = (str(directory), rpc_url, key, seed, list(agents), validator)
        # the scene recording this session writes: each record names it, for a validator to find the context in
        self._scene = scene.resolve().as_uri() if scene is not None else ""
        self._handoff = HandoffWriter(directory / HANDOFF_FILE)
        self._policy = restart_policy or RestartPolicy()
        self._child: _Child | None = None
        self._restart_at_s: float | None = None
        self._deaths_in_a_row = 0
        self.restarts = 0
        self._unjournaled: deque[int] = deque()  # end offsets of decisions handed over, not yet journaled
        self._queued_on_chain = 0  # journaled, not yet mined (as the child last reported)
        self._announce_up = False
        self._catching_up = False
        self._stopped = False
        # each traded instrument's contract multiplier, for its decisions' records; the first names a model's answers
        self._multipliers = dict(multipliers)
        self._instrument = next(iter(self._multipliers))
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
        bus.subscribe(IntentDecided, self.on_decision)
        bus.subscribe(PositionClosed, self.on_outcome)
        bus.subscribe(TimerTick, self.on_timer)
        bus.subscribe(EventPublished, self.on_event)

    @property
    def backlog(self) -> int:
        """Decisions handed over and not yet on chain: waiting in the write-ahead file or queued in the journal."""
        return len(self._unjournaled) + self._queued_on_chain

    def start(self, timeout_s: float = 120.0, cancelled: threading.Event | None = None) -> dict[str, int]:
        """Start the attestor process: it registers the crew (once, ever) and reads its reputation. Blocks until
        it is ready, so the engine trades under the right ceilings from its first quote; or until `cancelled` is
        set (the engine is asked to stop while the chain is still being set up), which ends the child and raises
        StartCancelled. The chain's journal is transactional: an interrupted setup resumes at the next start."""
        child = self._spawn()
        deadline = time.monotonic() + timeout_s
        while not child.ready:
            if cancelled is not None and cancelled.is_set():
                self._end(child)
                raise StartCancelled("the engine was asked to stop while the attestor was starting")
            try:
                waited = min(START_POLL_S, max(0.0, deadline - time.monotonic()))
                if not child.conn.poll(waited) and time.monotonic() < deadline:
                    continue
                message = child.conn.recv() if child.conn.poll() else None
            except (EOFError, OSError):
                message = None  # it died before it was ready
            if message is None or message[0] == "error":
                alive = child.process.is_alive()
                reason = (message[1] if message is not None else f"no answer in {timeout_s:g} s" if alive
                          else f"it exited with code {child.process.exitcode}")
                self._end(child)
                raise RuntimeError(f"the attestor could not start: {reason}")
            self._receive(message, now=None)
        self._announce_up = True  # on the engine thread, at the first timer: this runs in a helper thread
        return dict(self.agent_ids)

    def on_decision(self, decided: IntentDecided) -> None:
        # a copy; the hash waits for IntentGenerated
        self._decided_on[decided.intent_id] = self._writer.record.tobytes()
        while len(self._decided_on) > MAX_OPEN_DECISIONS:
            self._decided_on.popitem(last=False)

    def on_event(self, published: EventPublished) -> None:
        """Collect each decision's record as it happens: the intent with the hash of the ContextWindow it was
        decided on, then its orders and fills."""
        event, ts_ns = published.event, published.ts_ns
        if isinstance(event, messages.IntentGenerated):
            # a research card is announced as it is made, on the record of that moment
            decided_on = self._decided_on.pop(event.intent_id, None) or self._writer.record.tobytes()
            context_hash = "0x" + keccak(decided_on).hex()
            self._decisions[event.intent_id] = {"intent": msgspec.to_builtins(event), "context_hash": context_hash,
                                                "orders": [], "fills": [],
                                                "deciding_agent": self._deciding_agent(event)}
            while len(self._decisions) > MAX_OPEN_DECISIONS:
                self._decisions.popitem(last=False)
        elif isinstance(event, messages.LlmAnswerScored):
            # a model's scored answer: its own feedback, as a crew member's closed decision is theirs
            self._unjournaled.append(self._handoff.append({
                "kind": "answer", "agent": model_agent(event.model, event.role),
                "answer": msgspec.to_builtins(event) | {"ts_ns": ts_ns}, "instrument": self._instrument,
                "strategy": f"llm-{event.role}"}))
        elif isinstance(event, messages.OrderSubmitted | messages.OrderFilled) and event.intent_id:
            decision = self._decisions.get(event.intent_id)
            if decision is not None:
                key = "orders" if isinstance(event, messages.OrderSubmitted) else "fills"
                decision[key].append(msgspec.to_builtins(event) | {"ts_ns": ts_ns})

    def _deciding_agent(self, event: messages.IntentGenerated) -> dict[str, Any]:
        """What a validator re-runs: the member's kind and its config at the moment it decided (research may change
        the config later)."""
        agent = self._strategy.member(event.agent, event.instrument)
        config = getattr(agent, "config", None)
        if agent is None or not isinstance(config, msgspec.Struct):
            return {}
        return {"kind": type(agent).__name__, "config": msgspec.to_builtins(config)}

    def on_outcome(self, closed: PositionClosed) -> None:
        """Hand a closed decision over: on disk (the write-ahead file) when this returns, whatever the child is
        doing."""
        outcome = closed.outcome
        if not outcome.agent:
            return  # a position no crew decision opened (a manual close): nothing to rate
        values = dataclasses.asdict(outcome)
        values["closed_at_ns"] = values.pop("ts_closed")
        instrument = values.pop("instrument") or self._instrument
        values["multiplier"] = self._multipliers.get(instrument, self._multipliers[self._instrument])
        decision = self._decisions.pop(outcome.intent_id, None) if outcome.intent_id else None
        self._unjournaled.append(self._handoff.append({
            "agent": outcome.agent, "outcome": values, "instrument": instrument,
            "strategy": outcome.agent.rsplit("-", 1)[0], "decision": decision or {}, "scene": self._scene}))

    def on_timer(self, tick: TimerTick) -> None:
        """Engine thread, every command poll: what the child sent, whether it lives, and a due restart."""
        now = tick.now_ns
        child = self._child
        if child is not None:
            while child.conn.poll():
                try:
                    message = child.conn.recv()
                except (EOFError, OSError):
                    break  # it died mid-message, or the pipe closed: is_alive below says so
                self._receive(message, now)
            if self._announce_up and child.ready:
                self._announce_up = False
                self._publish_up(now)
            if not child.process.is_alive():
                self._on_death(child, now)
        elif self._restart_at_s is not None and time.monotonic() >= self._restart_at_s and not self._stopped:
            self._restart_at_s = None
            self.restarts += 1
            try:
                self._spawn()
            except OSError as error:  # no process to be had (fds, memory): try again later, like a death
                self._deaths_in_a_row += 1
                delay_s = self._policy.delay_s(self._deaths_in_a_row)
                self._restart_at_s = None if delay_s is None else time.monotonic() + delay_s
                print(f"sextant engine: the attestor could not be restarted: {error}", file=sys.stderr, flush=True)

    def stop(self, timeout_s: float = STOP_WAIT_S) -> None:
        """Stop the child in order if it lives; never wait long, and never on a dead one."""
        self._stopped = True
        self._restart_at_s = None
        child = self._child
        if child is not None:
            try:
                child.conn.send(("stop",))
            except OSError:
                pass  # already gone
            child.process.join(timeout=timeout_s)
            self._end(child)
        self._handoff.close()

    # ------------------------------------------------------------------------------------------- the child

    def _spawn(self) -> _Child:
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(target=run_child, name="sextant-attestor", daemon=True,
                                        args=(*self._child_args, theirs))
        process.start()
        theirs.close()  # only the child holds its end: its death is end of file here
        self._child = _Child(process, ours, time.monotonic())
        return self._child

    def _receive(self, message: tuple[Any, ...], now: int | None) -> None:
        kind, payload = message[0], message[1]
        if kind == "ready":
            self.agent_ids, scores, self.endpoint, journaled, queued = payload
            self._acknowledge(journaled, queued)
            assert self._child is not None
            self._child.ready = True
            self._strategy.apply_reputation(scores)
            if now is not None:
                self._publish_up(now)
                print(f"sextant engine: the attestor is back (pid {self._child.process.pid}, restart {self.restarts})"
                      f", catching up on {self.backlog} decisions", file=sys.stderr, flush=True)
        elif now is None:
            return  # before the engine runs (start): nothing is published from that thread
        elif kind == "event":
            self._sink.publish(payload, now)
        elif kind == "scores":
            self._strategy.apply_reputation(payload)
        elif kind == "validated":
            self._strategy.apply_validated(*payload)
        elif kind == "journaled":
            self._acknowledge(*payload)
            if self._catching_up and self.backlog == 0:
                self._catching_up = False
                self._publish_up(now)
        elif kind == "error":
            print(f"sextant engine: the attestor could not start: {payload}", file=sys.stderr, flush=True)

    def _acknowledge(self, journaled_offset: int, queued: int) -> None:
        while self._unjournaled and self._unjournaled[0] <= journaled_offset:
            self._unjournaled.popleft()
        self._queued_on_chain = queued

    def _publish_up(self, now: int) -> None:
        assert self._child is not None
        self._catching_up = self.backlog > 0
        self._sink.publish(messages.AttestorUp(pid=self._child.process.pid or 0, backlog=self.backlog,
                                               restarts=self.restarts), now)

    def _on_death(self, child: _Child, now: int) -> None:
        self._end(child)
        up_for_s = time.monotonic() - child.started_s if child.ready else 0.0
        self._deaths_in_a_row = self._policy.deaths_in_a_row(self._deaths_in_a_row, up_for_s)
        delay_s = self._policy.delay_s(self._deaths_in_a_row)
        self._restart_at_s = None if delay_s is None else time.monotonic() + delay_s
        exit_code = child.process.exitcode if child.process.exitcode is not None else 0
        self._sink.publish(messages.AttestorDown(pid=child.process.pid or 0, exit_code=exit_code,
                                                 backlog=self.backlog, restarts=self.restarts,
                                                 retry_in_s=-1.0 if delay_s is None else delay_s), now)
        then = (f"restarting in {delay_s:g} s" if delay_s is not None else
                f"{self._deaths_in_a_row - 1} restarts in a row failed: not restarting (the next engine start "
                f"catches up)")
        print(f"sextant engine: the attestor (pid {child.process.pid}) died with exit code {exit_code}; "
              f"{self.backlog} decisions wait on disk; {then}", file=sys.stderr, flush=True)

    def _end(self, child: _Child) -> None:
        """Make sure the child is gone (terminate, then kill) and let go of it."""
        if child.process.is_alive():
            child.process.terminate()
            child.process.join(timeout=1.0)
        if child.process.is_alive():
            child.process.kill()
            child.process.join(timeout=1.0)
        child.conn.close()
        if self._child is child:
            self._child = None
