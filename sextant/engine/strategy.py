"""SwarmStrategy: the crew's cycle, the autonomy gate, the humans' commands and execution, inside Nautilus.

Each quote: if trading is allowed (E-stop released, no intent of the agent pending, no order of ours working, the
cooldown over and the trade limit not reached), each agent perceives the ContextWindow record and may propose an
intent. The compiler turns it into a directive (or a rejection with its reason). The gate then decides by the
autonomy level (SPEC §7):

    MANUAL    every intent waits for Approve / Reject / Modify from the bridge
    ASSISTED  confident intents (≥ ASSISTED_CONFIDENCE) approve themselves after a countdown; others wait
    AUTO      intents execute at once; a card surfaces only for what needs a human

A pending intent expires after APPROVAL_TTL. Before it executes it is re-checked against the fresh book: a price
that moved beyond the directive's slippage allowance refuses it. Every decision is an event.

A timer polls the CommandRing (so commands act even in a quiet market), runs countdowns and expiries, and
finishes the E-stop. Every command gets exactly one answer: its CommandResult, or a CommandsLost naming its ring
number when a flood overwrote it before the engine could read it. An E-stop engage cannot be lost that way: the
bridge latches it in the ring's header, which the engine reads on every poll and every quote.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import msgspec
import numpy as np
from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import TriggerType
from nautilus_trader.model.events import OrderRejected
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.strategy import Strategy

from sextant.engine.estop import EStopController
from sextant.engine.events import EventSink
from sextant.engine.execution import DirectiveExecutor
from sextant.engine.latency import LatencySamples
from sextant.engine.outcomes import OutcomeBook
from sextant.engine.protection import StopLossGuard
from sextant.engine.research import ResearchChange
from sextant.engine.timers import on_engine_thread
from sextant.risk.field import DIMENSIONS
from sextant.risk.hull import trade_size_factor
from sextant.state import messages
from sextant.state.context import ContextWriter
from sextant.state.layout import Autonomy, CrewAgent, CrewState, CrewTask, EStopState
from sextant.state.ring import CommandRingFollower, EStopLatch, RingMessage
from sextant.swarm.compiler import CompileRejected, MarketView, compile_intent, scaled_quantity
from sextant.swarm.consensus import resolve
from sextant.swarm.intent import AgentIntent, ExecutionDirective, RiskBudget

ASSISTED_CONFIDENCE = 0.7
VETO_REPORT_INTERVAL_NS = 5_000_000_000
COMMAND_REOPEN_NS = 1_000_000_000
# Commands handled per poll: bounds the loop's time on a flood; the rest wait in the ring for the next poll.
MAX_COMMANDS_PER_POLL = 1024
_IDLE = int(CrewState.IDLE)


class Agent(Protocol):
    agent_id: str

    def perceive(self, record: np.void, instrument: str, now_ns: int) -> AgentIntent | None: ...


class SwarmStrategyConfig(StrategyConfig, frozen=True):
    instrument_id: str = "BTC-USDT-SWAP.OKX"
    autonomy: str = "MANUAL"
    autonomy_ceiling: str = "AUTO"
    max_trades: int = 0
    cooldown_secs: float = 30.0
    min_notional_usd: float = 20.0
    approval_ttl_secs: float = 30.0  # SPEC §7 default
    consensus: str = "pipeline"  # pipeline | vote (swarm/consensus.py)
    sl_pct: float = 0.02  # stop-loss distance from the entry; 0 disables (engine/protection.py)
    stop_trigger: str = "BID_ASK"  # the sim venue has quotes only; OKX stops trigger on the last price
    assisted_countdown_secs: float = 30.0
    # How often the timer reads the CommandRing and runs countdowns and expiries: 50 ms live, so a command acts
    # within a frame or three; `sextant sim` has no CommandRing and runs it once a simulated second.
    command_poll_secs: float = 0.05


POST_ONLY_REPOSTS = 3


@dataclass
class PendingIntent:
    intent: AgentIntent
    directive: ExecutionDirective | None  # None for a research card: it changes parameters, it places no order
    expires_ns: int
    auto_approve_ns: int | None
    held_remaining_ns: int | None = None  # a held countdown: the time it had left (SPEC §7: pauses on hover)
    research: ResearchChange | None = None


class CommandInbox:
    """Reads the bridge's CommandRing, whenever the bridge (re)creates it. Commands from before this engine started
    are answered as refused, never executed."""

    def __init__(self, path: str, started_wall_ns: int) -> None:
        self._follower = CommandRingFollower(path, start="oldest", recheck_ns=COMMAND_REOPEN_NS)
        self._started = started_wall_ns
        self._latch_ring = 0  # created_ns of the ring whose latch was read last: a re-created ring counts afresh
        self._latch_seen = 0

    def drain(self) -> tuple[list[RingMessage[messages.Command]], list[RingMessage[messages.Command]],
                             list[tuple[int, int]]]:
        """(fresh commands, stale commands, lost ring numbers as inclusive ranges)."""
        batch = self._follower.drain_batch(MAX_COMMANDS_PER_POLL)
        fresh = [m for m in batch.received if m.ts_ns >= self._started]
        stale = [m for m in batch.received if m.ts_ns < self._started]
        return fresh, stale, batch.lost

    def estop_latched(self) -> EStopLatch | None:
        """An E-stop engage latched since the last call and sent since this engine started, else None. One load
        of the latch word when nothing is new."""
        follower = self._follower
        created = follower.created_ns
        if created != self._latch_ring:
            self._latch_ring, self._latch_seen = created, 0
        requests = follower.estop_requests
        if requests <= self._latch_seen:
            return None
        self._latch_seen = requests
        latch = follower.estop_latch()
        return latch if latch is not None and latch.ts_ns >= self._started else None


class SwarmStrategy(Strategy):
    def __init__(self, config: SwarmStrategyConfig, *, agents: list[Agent], writer: ContextWriter, sink: EventSink,
                 executor_options: dict[str, Any], commands_path: str | None, measure_latency: bool = True) -> None:
        super().__init__(config)
        self._instrument_id = InstrumentId.from_str(config.instrument_id)
        self._agents = agents
        self._writer = writer
        self._sink = sink
        self.executor = DirectiveExecutor(self, sink, **executor_options)
        self.estop = EStopController(self, sink, self._instrument_id)
        self.outcomes = OutcomeBook(self)
        self._agent_of_intent: dict[str, str] = {}
        self.stop_loss = StopLossGuard(self, self._instrument_id, config.sl_pct, TriggerType[config.stop_trigger])
        self.autonomy = Autonomy[config.autonomy]
        self.ceiling = Autonomy[config.autonomy_ceiling]
        # Set from on-chain reputation by the trust layer (engine/trust.py); empty while it is off.
        self.agent_ceilings: dict[str, Autonomy] = {}
        self.agent_scores: dict[str, float] = {}
        self.pending: dict[str, PendingIntent] = {}
        self._inbox = CommandInbox(commands_path, time.time_ns()) if commands_path else None
        self._latched_estops: set[str] = set()  # engaged from the latch: their ring messages are already answered
        self.command_listeners: list[Callable[[RingMessage[messages.Command]], None]] = []  # the scene recorder
        self.outcome_listeners: list[Callable[[Any], None]] = []  # each closed decision: the attestor
        self.timer_listeners: list[Callable[[int], None]] = []  # on the engine thread, every command poll
        # each intent the crew decides on, by id, while the record still holds what it was decided on: the attestor
        self.decision_listeners: list[Callable[[str], None]] = []
        # what became of each research card: (change, "applied" | "rejected" | "expired" | "dropped", by)
        self.research_listeners: list[Callable[[ResearchChange, str, str], None]] = []
        self._executed_by_agent: Counter[str] = Counter()  # the trade limit is per agent (SPEC §5)
        self._last_execution_ns = 0
        # Our orders from submission until closed. Nautilus' open/in-flight counts miss an order still queued
        # for the RiskEngine, and an agent must not propose again on top of one.
        self._working: set[str] = set()
        self._post_only: dict[str, tuple[ExecutionDirective, int]] = {}  # working post-only limits, for re-posts
        self._last_veto_ns = 0
        self._change = np.zeros(DIMENSIONS)
        # Load the gate's kernel now (from numba's cache: milliseconds), not on the first intent's way to its order.
        trade_size_factor(np.zeros_like(writer.storage), 1.0, 1.0, self._change)
        self.decision_latencies = LatencySamples()  # off in `sextant sim`: both ends are the simulated clock
        self._measure_latency = measure_latency
        self._fields = writer.fields  # the crew bar, the gate's numbers: written every quote and timer tick
        self._crew_values = writer.fields.crew_task_value[:len(agents)]  # the blocked path's one per-quote write
        self._blocked_task: CrewTask | None = None  # the reason the crew bar shows the whole crew idle for, if any
        self._instrument_terms: tuple[float, float, float] | None = None  # lot, tick, multiplier: fixed per instrument
        record = writer.record
        record["autonomy"], record["autonomy_ceiling"] = int(self.autonomy), int(self.ceiling)
        record["crew_count"] = len(agents)
        for slot, agent in enumerate(agents):
            record["crew_agent"][slot] = int(_crew_code(agent.agent_id))
            record["crew_state"][slot] = int(CrewState.IDLE)

    @property
    def crew(self) -> list[Agent]:
        return self._agents

    # ------------------------------------------------------------------------------------------------ lifecycle

    def on_start(self) -> None:
        # Quotes come through the StateEncoder (on_quote), after it has written them into the record.
        self.clock.set_timer("sextant-commands", timedelta(seconds=self.config.command_poll_secs),
                             callback=on_engine_thread(self._on_timer))

    def on_stop(self) -> None:
        self.clock.cancel_timers()
        self._sink.flush()

    # ------------------------------------------------------------------------------------------------ the cycle

    def on_quote(self, tick: QuoteTick) -> None:
        """Each quote, from the StateEncoder's quote_handlers once the record holds it."""
        if not self.is_running:
            return
        self._cycle(tick)
        # quote → decision: from the data client creating the tick to the end of the crew's cycle on it
        if self._measure_latency:
            self.decision_latencies.add(self.clock.timestamp_ns() - tick.ts_init)

    def _cycle(self, tick: QuoteTick) -> None:
        now = self.clock.timestamp_ns()
        if self._inbox is not None:
            self._take_estop_latch(now)
        blocked = self._blocked_reason(now)
        if blocked is None and self.pending:
            waiting = [p.expires_ns for p in self.pending.values() if p.research is None]  # research blocks none
            if waiting:
                blocked = CrewTask.WAITING_APPROVAL, (min(waiting) - now) / 1e9
        if blocked is not None:  # the whole crew idles, with the reason: states and tasks only when it changes
            task, value = blocked
            if task is not self._blocked_task:
                crew, fields = len(self._agents), self._fields
                fields.crew_state[:crew] = _IDLE
                fields.crew_task[:crew] = task
                self._blocked_task = task
            self._crew_values.fill(value)  # a third of a slice assignment's cost, on most of a sim's quotes
            return
        self._blocked_task = None
        record = self._writer.record
        max_trades = self.config.max_trades
        intents: list[AgentIntent] = []
        for slot, agent in enumerate(self._agents):
            executed = self._executed_by_agent[agent.agent_id] if max_trades else 0
            if max_trades and executed >= max_trades:
                self._crew(slot, CrewState.IDLE, CrewTask.TRADE_LIMIT, float(executed), now=None)
                continue
            intent = agent.perceive(record, self._instrument_id.value, now)
            state, task, value = getattr(agent, "status", (CrewState.ACTIVE, CrewTask.IDLE, 0.0))
            self._crew(slot, state, task, value, now=now if intent is not None else None,
                       confidence=intent.confidence if intent is not None else None)
            if intent is not None:
                score = self.agent_scores.get(intent.agent)
                if score is not None:  # consensus weights: the chain's reputation, not the agent's own claim
                    intent = msgspec.structs.replace(intent, reputation=score)
                intents.append(intent)
        if not intents:
            return
        consensus = resolve(intents, self.config.consensus)  # type: ignore[arg-type]
        if consensus.veto is not None:
            self._report_veto(consensus.veto, [i for i in intents if i.is_actionable], now)
        elif consensus.decision is not None:
            self.propose(consensus.decision, tick)

    def _report_veto(self, veto: AgentIntent, blocked: list[AgentIntent], now: int) -> None:
        """A Veto event when the veto first stands and then at most every VETO_REPORT_INTERVAL while it stands,
        naming a proposal it stopped: agents re-propose every quote, and the log must not drown in repeats."""
        if self._last_veto_ns and now - self._last_veto_ns < VETO_REPORT_INTERVAL_NS:
            return
        record = self._writer.record
        self._sink.publish(messages.Veto(agent=veto.agent, intent_id=blocked[0].id if blocked else None,
                                         potential=float(record["risk_total"]), threshold=float(record["risk_veto"]),
                                         reason=veto.reasoning), now)
        self._last_veto_ns = now

    def _blocked_reason(self, now: int) -> tuple[CrewTask, float] | None:
        if self.estop.state != EStopState.RELEASED:
            return CrewTask.HALTED, 0.0
        config = self.config
        left = self._last_execution_ns + config.cooldown_secs * 1e9 - now if self._last_execution_ns else 0
        if left > 0:
            return CrewTask.COOLDOWN, left / 1e9
        if self._working:
            return CrewTask.WATCHING_PRICE, self._fields.mid.item()
        return None

    def propose(self, intent: AgentIntent, tick: QuoteTick | None = None) -> None:
        """Compile and gate one intent (the agents' path, and the tests')."""
        now = self.clock.timestamp_ns()
        market = self._market(tick)
        try:
            directive = compile_intent(intent, market, self._size_factor(intent, market))
        except CompileRejected as rejection:
            self._sink.publish(messages.IntentRejected(intent_id=intent.id, reason=str(rejection), by="engine"), now)
            return
        if directive is None:
            return
        confident = intent.confidence >= ASSISTED_CONFIDENCE
        level = self.level_for(intent.agent)
        waits = level == Autonomy.MANUAL or (level == Autonomy.ASSISTED and not confident)
        config = self.config
        countdown = now + int(config.assisted_countdown_secs * 1e9) \
            if level == Autonomy.ASSISTED and confident else None
        pending = PendingIntent(intent, directive, now + int(config.approval_ttl_secs * 1e9), countdown)
        for listener in self.decision_listeners:
            listener(intent.id)
        auto = level == Autonomy.AUTO
        # An intent approved at once is announced after its order has left (EventSink.publish_later)
        self._announce(pending, requires_approval=waits or countdown is not None, later=auto)
        if auto:  # approved on the book it was planned on: the re-check reads that book
            self._approve(pending, "auto", None, now, market)
        else:
            self.pending[intent.id] = pending
            self._writer.record["pending_intents"] = len(self.pending)

    def propose_research(self, change: ResearchChange) -> None:
        """A research card: an accepted change of a crew member's parameters. Applied at once in AUTO; otherwise it
        waits for a human (no countdown: a change of how an agent thinks is not a trade to wave through)."""
        now = self.clock.timestamp_ns()
        intent = AgentIntent(id=f"research-{change.hypothesis_id}", agent=change.agent_id, kind="Research",
                             instrument=self._instrument_id.value, confidence=change.confidence,
                             budget=RiskBudget(max_loss=0.0, max_position=0.0), title=change.title,
                             reasoning=change.reasoning, created_ns=now)
        level = self.level_for(change.agent_id)
        pending = PendingIntent(intent, None, now + int(change.ttl_s * 1e9), None, research=change)
        self._announce(pending, requires_approval=level != Autonomy.AUTO)
        if level == Autonomy.AUTO:
            self._approve(pending, "auto", None, now)
        else:
            self.pending[intent.id] = pending
            self._writer.record["pending_intents"] = len(self.pending)

    def _apply_research(self, pending: PendingIntent, by: str, now: int) -> str | None:
        change = pending.research
        assert change is not None
        agent = next((a for a in self._agents if a.agent_id == change.agent_id), None)
        if agent is None:
            return f"no crew member {change.agent_id} in this engine"
        try:
            agent.config = change.applied_to(agent.config)  # type: ignore[attr-defined]
        except ValueError as error:
            return f"the change does not fit {change.agent_id}'s settings: {error}"
        self._sink.publish(messages.AutoresearchResult(
            hypothesis_id=change.hypothesis_id, family=change.family, params=change.params,
            parent_id=change.parent_id, ir_before=change.ir_before, ir_after=change.ir_after, accepted=True,
            verdict=f"applied to {change.agent_id} ({by})"), now)
        for listener in self.research_listeners:
            listener(change, "applied", by)
        return None

    def _drop_research(self, pending: PendingIntent, decision: str, by: str) -> None:
        if pending.research is not None:
            for listener in self.research_listeners:
                listener(pending.research, decision, by)

    def level_for(self, agent: str) -> Autonomy:
        """The gate for one agent's intent: the human's level, never above that agent's reputation ceiling."""
        return Autonomy(min(self.autonomy, self.agent_ceilings.get(agent, self.ceiling)))

    def apply_reputation(self, scores: dict[str, float | None]) -> None:
        """New scores from the chain (engine thread). Each agent's ceiling follows its own score; the crew's
        ceiling, which bounds what the human may select, is the highest any agent has earned."""
        from sextant.engine.trust import ceiling_for

        self.agent_ceilings = {agent: ceiling_for(score) for agent, score in scores.items()}
        self.agent_scores = {agent: score for agent, score in scores.items() if score is not None}
        crew_ceiling = max(self.agent_ceilings.values(), default=self.ceiling)
        rated = list(self.agent_scores.values())
        record = self._writer.record
        record["reputation"] = sum(rated) / len(rated) if rated else 0.0
        for slot, agent in enumerate(self._agents):
            record["crew_reputation"][slot] = self.agent_scores.get(agent.agent_id, 0.0)
        if crew_ceiling != self.ceiling:
            self.ceiling = crew_ceiling
            record["autonomy_ceiling"] = int(crew_ceiling)
            if self.autonomy > crew_ceiling:
                self.autonomy = crew_ceiling
                record["autonomy"] = int(crew_ceiling)
            self._sink.publish(messages.AutonomyChanged(level=self.autonomy.name, ceiling=crew_ceiling.name,  # type: ignore[arg-type]
                                                        reputation=float(record["reputation"]),
                                                        reason="reputation from the chain"),
                               self.clock.timestamp_ns())

    def _size_factor(self, intent: AgentIntent, market: MarketView) -> float:
        """How much of the intent the risk field lets through (risk/field.py: size_factor)."""
        if intent.target_position is None or not math.isfinite(intent.target_position):
            return 1.0  # the compiler rejects it with the reason
        direction = 1.0 if intent.target_position > market.position else -1.0
        return trade_size_factor(self._writer.storage, direction, abs(intent.target_position - market.position),
                                 self._change)

    def _field_allows(self, side: str, quantity: float, market: MarketView) -> float:
        """How much of a trade of `quantity` the risk field lets through now, in whole lots (as the compiler rounds
        it); a trade that reduces the position is never cut."""
        signed = quantity if side == "BUY" else -quantity
        if abs(market.position + signed) < abs(market.position):
            return quantity
        factor = trade_size_factor(self._writer.storage, 1.0 if side == "BUY" else -1.0, quantity, self._change)
        return scaled_quantity(quantity, factor, market.lot)

    def _announce(self, pending: PendingIntent, requires_approval: bool, later: bool = False) -> None:
        intent, directive = pending.intent, pending.directive
        publish = self._sink.publish_later if later else self._sink.publish
        publish(messages.IntentGenerated(
            intent_id=intent.id, agent=intent.agent, intent_kind=intent.kind, instrument=intent.instrument,
            side=directive.side if directive else None, quantity=directive.quantity if directive else 0.0,
            target_position=intent.target_position, price=directive.price if directive else None,
            style=directive.style if directive else None, confidence=intent.confidence,
            reputation=intent.reputation, title=intent.title, reasoning=intent.reasoning,
            plan=directive.plan if directive else pending.research.plan if pending.research else "",
            risk_score=self._risk_score(),
            requires_approval=requires_approval, auto_approve_at_ns=pending.auto_approve_ns,
            expires_at_ns=pending.expires_ns), self.clock.timestamp_ns())

    def _risk_score(self) -> float:
        """The hull's total potential as a share of the veto threshold (0 without one), for an intent card."""
        fields = self._fields
        veto = fields.risk_veto.item()
        return min(1.0, fields.risk_total.item() / max(veto, 1e-9)) if veto > 0 else 0.0

    def _market(self, tick: QuoteTick | None) -> MarketView:
        tick = tick or self.cache.quote_tick(self._instrument_id)
        position = float(self.portfolio.net_position(self._instrument_id) or 0)
        terms = self._instrument_terms
        if terms is None:  # an instrument's increments and multiplier never change: read them once
            instrument = self.cache.instrument(self._instrument_id)
            if instrument is not None:
                terms = self._instrument_terms = (instrument.size_increment.as_double(),
                                                  instrument.price_increment.as_double(),
                                                  instrument.multiplier.as_double())
        if tick is None or terms is None:
            return MarketView(bid=math.nan, ask=math.nan, position=position)
        lot, tick_size, multiplier = terms
        return MarketView(bid=tick.bid_price.as_double(), ask=tick.ask_price.as_double(), position=position,
                          lot=lot, tick=tick_size, multiplier=multiplier, min_notional=self.config.min_notional_usd)

    def _approve(self, pending: PendingIntent, by: str, command_id: str | None, now: int,
                 market: MarketView | None = None) -> str | None:
        """Re-check against the fresh book (`market` when the caller has just read it), then execute. Returns a
        refusal reason or None."""
        self.pending.pop(pending.intent.id, None)
        self._writer.record["pending_intents"] = len(self.pending)
        if pending.directive is None:  # a research card
            refusal = self._apply_research(pending, by, now)
            if refusal is not None:
                self._sink.publish(messages.IntentRejected(intent_id=pending.intent.id, reason=refusal, by="engine",
                                                           command_id=command_id), now)
                self._drop_research(pending, "dropped", "engine")
                return refusal
            self._sink.publish(messages.IntentApproved(intent_id=pending.intent.id, by=by, command_id=command_id),
                               now)  # type: ignore[arg-type]
            return None
        reason = self._recheck(pending.directive, market or self._market(None))
        if reason is None and self.estop.state != EStopState.RELEASED:
            reason = "the E-stop is engaged"
        if reason is not None:
            self._sink.publish(messages.IntentRejected(intent_id=pending.intent.id, reason=reason, by="engine",
                                                       command_id=command_id), now)
            return reason
        # announced once the order has left: the approval is what the order carries out, not a step before it
        self._sink.publish_later(messages.IntentApproved(intent_id=pending.intent.id, by=by, command_id=command_id),
                                 now)  # type: ignore[arg-type]
        self._agent_of_intent[pending.intent.id] = pending.intent.agent
        directive = self._rejoin_touch(pending.directive)
        result = self.executor.execute(directive)
        if result.submitted and not result.client_order_id.startswith("DRY-"):
            self._working.add(result.client_order_id)
            if directive.style == "LIMIT":
                self._post_only[result.client_order_id] = (directive, 0)
        if result.submitted:
            self._executed_by_agent[pending.intent.agent] += 1
            self._last_execution_ns = now
            return None
        return result.reason

    def _rejoin_touch(self, directive: ExecutionDirective) -> ExecutionDirective:
        """A post-only limit planned at the passive touch may cross the book by the time a human approves it, and
        the venue would reject it as a would-be taker. It rests at the current passive touch instead: the price
        only improves for us (a buy lower, a sell higher), and the re-check has already bounded how far it moved."""
        if directive.style != "LIMIT" or directive.price is None:
            return directive
        market = self._market(None)
        if directive.side == "BUY" and directive.price >= market.ask:
            return msgspec.structs.replace(directive, price=market.bid)
        if directive.side == "SELL" and directive.price <= market.bid:
            return msgspec.structs.replace(directive, price=market.ask)
        return directive

    def _recheck(self, directive: ExecutionDirective, market: MarketView) -> str | None:
        if not (market.bid > 0 and market.ask >= market.bid):
            return "no usable book to re-check against"
        moved = abs(market.mid - directive.reference_mid) / directive.reference_mid * 1e4
        if moved > directive.max_slippage_bps:
            return f"price moved {moved:.1f} bps since the plan (allowed {directive.max_slippage_bps:g})"
        total, veto = self._fields.risk_total.item(), self._fields.risk_veto.item()
        signed = directive.quantity if directive.side == "BUY" else -directive.quantity
        reduces = abs(market.position + signed) < abs(market.position)  # exits and hedges always stay allowed
        if veto > 0 and total >= veto and not reduces:
            return f"risk is now over the veto threshold (U={total:.2f} ≥ {veto:g})"
        return None

    # ------------------------------------------------------------------------------------------ timer, commands

    def _on_timer(self, event: Any) -> None:
        self._sink.flush()  # an intent's announcement waits for its order's first event at most until here
        now = self.clock.timestamp_ns()
        if self._inbox is not None:  # before any countdown can execute: an E-stop sent meanwhile comes first
            self._take_estop_latch(now)
        for listener in self.timer_listeners:
            listener(now)
        for pending in list(self.pending.values()) if self.pending else ():
            if pending.auto_approve_ns is not None and now >= pending.auto_approve_ns:
                self._approve(pending, "countdown", None, now)
            elif now >= pending.expires_ns:
                self.pending.pop(pending.intent.id, None)
                self._sink.publish(messages.IntentExpired(intent_id=pending.intent.id), now)
                self._drop_research(pending, "expired", "engine")
        fields = self._fields
        fields.pending_intents[0] = len(self.pending)
        self.estop.poll(now)
        if self._inbox is not None:
            fresh, stale, lost = self._inbox.drain()
            for first, last in lost:
                self._sink.publish(messages.CommandsLost(
                    first=first, last=last, reason="overwritten in the CommandRing before the engine read them "
                    "(a flood); not executed"), now)
            for listener in self.command_listeners:
                for message in stale + fresh:
                    listener(message)
            for message in stale:
                self._answer(message, False, "sent before this engine started; not executed", now)
            for message in fresh:
                if isinstance(message.message, messages.EStop) and message.message.command_id in self._latched_estops:
                    self._latched_estops.discard(message.message.command_id)
                    continue  # taken from the latch already, and answered there
                try:
                    self.handle_command(message, now)
                except Exception as error:  # noqa: BLE001 - a command must always get its answer
                    self.log.error(f"command {message.type_name} failed: {error!r}")
                    self._answer(message, False, f"engine error: {type(error).__name__}: {error}", now)
        fields.estop[0] = self.estop.state
        fields.autonomy[0] = self.autonomy

    def handle_command(self, message: RingMessage[messages.Command], now: int) -> None:
        command = message.message
        if command is None:
            self._sink.publish(messages.CommandResult(command_id="", command=message.type_name, applied=False,
                                                      reason=f"undecodable command: {message.error}"), now)
            return
        if isinstance(command, messages.EStop):
            if command.engage:
                refusal = self._engage_estop(command.command_id, now)
                if refusal is not None:
                    self._answer(message, False, refusal, now)
                return  # the CommandResult follows when the stop completes
            refusal = self.estop.release(command.command_id, now)
            self._answer(message, refusal is None, refusal or "released", now)
            return
        if isinstance(command, messages.SetAutonomy):
            self._set_autonomy(message, command, now)
            return
        if isinstance(command, messages.ReplayControl):
            self._answer(message, False, "this is a live engine, not a replay", now)
            return
        pending = self.pending.get(command.intent_id)  # type: ignore[attr-defined]
        if pending is None:
            self._answer(message, False, f"no pending intent {command.intent_id} (expired, decided or unknown)",
                         now)
            return
        if isinstance(command, messages.Approve):
            refusal = self._approve(pending, "human", command.command_id, now)
            self._answer(message, refusal is None, refusal or "approved", now)
        elif isinstance(command, messages.Reject):
            self.pending.pop(command.intent_id)
            self._sink.publish(messages.IntentRejected(intent_id=command.intent_id, reason=command.reason or
                                                       "rejected by the captain", by="human",
                                                       command_id=command.command_id), now)
            self._drop_research(pending, "rejected", "human")
            self._answer(message, True, "rejected", now)
        elif isinstance(command, messages.Modify):
            refusal = self._modify(pending, command)
            self._answer(message, refusal is None, refusal or "modified", now)
        elif isinstance(command, messages.HoldCountdown):
            refusal = self._hold(pending, command, now)
            self._answer(message, refusal is None, refusal or ("held" if command.hold else "resumed"), now)

    def _take_estop_latch(self, now: int) -> None:
        latch = self._inbox.estop_latched()  # type: ignore[union-attr]
        if latch is None:
            return
        self._latched_estops.add(latch.command_id)
        refusal = self._engage_estop(latch.command_id, now)
        if refusal is not None:
            self._sink.publish(messages.CommandResult(command_id=latch.command_id, command="EStop", applied=False,
                                                      reason=refusal), now)

    def _engage_estop(self, command_id: str, now: int) -> str | None:
        """Start the E-stop and drop every pending intent. A refusal reason, or None (the CommandResult follows
        when the stop completes)."""
        refusal = self.estop.engage(command_id, now)
        if refusal is None:
            for pending in list(self.pending.values()):
                self.pending.pop(pending.intent.id)
                self._sink.publish(messages.IntentRejected(intent_id=pending.intent.id, reason="E-STOP",
                                                           by="engine"), now)
                self._drop_research(pending, "dropped", "engine")
            self._fields.pending_intents[0] = 0
            self._fields.estop[0] = self.estop.state
        return refusal

    def _hold(self, pending: PendingIntent, command: messages.HoldCountdown, now: int) -> str | None:
        """Hold the countdown while the captain reads the card; resume it with the time it had left. The TTL keeps
        running: a held card still expires."""
        if command.hold:
            if pending.auto_approve_ns is None:
                return "no countdown is running for this intent" if pending.held_remaining_ns is None else None
            pending.held_remaining_ns = max(0, pending.auto_approve_ns - now)
            pending.auto_approve_ns = None
        else:
            if pending.held_remaining_ns is None:
                return None  # nothing held: resuming is a no-op
            pending.auto_approve_ns = now + pending.held_remaining_ns
            pending.held_remaining_ns = None
        self._sink.publish(messages.CountdownChanged(
            intent_id=pending.intent.id, held=command.hold, auto_approve_at_ns=pending.auto_approve_ns,
            remaining_ns=pending.held_remaining_ns or (pending.auto_approve_ns or now) - now,
            command_id=command.command_id), now)
        return None

    def _modify(self, pending: PendingIntent, command: messages.Modify) -> str | None:
        if pending.directive is None:
            return "a research change cannot be modified: approve or reject it"
        for name, value in (("quantity", command.quantity), ("price", command.price)):
            if value is not None and not (math.isfinite(value) and value > 0):
                return f"{name} must be a positive finite number, got {value}"
        intent = pending.intent
        if command.style is not None:
            intent = msgspec.structs.replace(intent, style=command.style)
        market = self._market(None)
        try:  # re-planned on today's book and today's risk field, as a new intent would be
            directive = compile_intent(intent, market, self._size_factor(intent, market))
        except CompileRejected as rejection:
            return str(rejection)
        if directive is None:
            return "nothing left to do at the current position"
        changes: dict[str, Any] = {}
        if command.quantity is not None:
            quantity = math.floor(command.quantity / market.lot + 1e-9) * market.lot
            signed = quantity if directive.side == "BUY" else -quantity
            if quantity < market.lot:
                return f"quantity {command.quantity} is below one lot ({market.lot:g})"
            if abs(market.position + signed) > intent.budget.max_position:
                return f"quantity {quantity:g} would exceed the budget's max position {intent.budget.max_position:g}"
            allowed = self._field_allows(directive.side, quantity, market)
            if quantity > allowed + 1e-9:
                return f"the risk field allows {allowed:g} of quantity {quantity:g} now"
            changes["quantity"] = round(quantity, 8)
        if command.price is not None:
            if directive.style not in ("LIMIT", "IOC", "FOK"):
                return f"a {directive.style} order takes no price"
            changes["price"] = command.price
        pending.intent = intent
        pending.directive = msgspec.structs.replace(directive, **changes)
        self._announce(pending, requires_approval=True)
        return None

    def _set_autonomy(self, message: RingMessage[messages.Command], command: messages.SetAutonomy, now: int) -> None:
        level = Autonomy[command.level]
        if level > self.ceiling:
            self._answer(message, False, f"{command.level} is above the reputation ceiling {self.ceiling.name}", now)
            return
        self.autonomy = level
        self._writer.record["autonomy"] = int(level)
        self._sink.publish(messages.AutonomyChanged(level=command.level, ceiling=self.ceiling.name,  # type: ignore
                                                    reputation=float(self._writer.record["reputation"]),
                                                    reason="set by the captain", command_id=command.command_id), now)
        self._answer(message, True, f"autonomy {command.level}", now)

    def _answer(self, message: RingMessage[messages.Command], applied: bool, reason: str, now: int) -> None:
        command = message.message
        self._sink.publish(messages.CommandResult(command_id=command.command_id if command else "",
                                                  command=message.type_name, applied=applied, reason=reason), now)

    def on_order_rejected(self, event: Any) -> None:
        """A post-only limit the book ran through on its way to the venue is re-posted at the new passive touch,
        up to POST_ONLY_REPOSTS times, while the price is still within the plan's slippage bound."""
        planned = self._post_only.pop(event.client_order_id.value, None)
        if planned is None or not getattr(event, "due_post_only", False) or self.estop.state != EStopState.RELEASED:
            return
        directive, attempts = planned
        market = self._market(None)
        if attempts >= POST_ONLY_REPOSTS or self._recheck(directive, market) is not None:
            return
        directive = msgspec.structs.replace(directive, price=market.bid if directive.side == "BUY" else market.ask)
        result = self.executor.execute(directive)
        if result.submitted:
            self._working.add(result.client_order_id)
            self._post_only[result.client_order_id] = (directive, attempts + 1)

    def on_order_event(self, event: Any) -> None:
        order = self.cache.order(event.client_order_id)
        if order is None or order.is_closed:
            self._working.discard(event.client_order_id.value)
            if not isinstance(event, OrderRejected):
                self._post_only.pop(event.client_order_id.value, None)

    def on_position_event(self, event: Any) -> None:
        if self.estop.state == EStopState.RELEASED:  # during an E-stop nothing new is placed, not even a stop
            self.stop_loss.on_position_event(event)

    def on_position_closed(self, event: Any) -> None:
        outcome = self.outcomes.on_position_closed(event, self._agent_of_intent)
        for listener in self.outcome_listeners:
            listener(outcome)
        self.stop_loss.on_position_event(event)
        self.estop.poll(self.clock.timestamp_ns())

    def _crew(self, slot: int, state: CrewState, task: CrewTask, value: float, *, now: int | None,
              confidence: float | None = None) -> None:
        fields = self._fields
        fields.crew_state[slot] = state
        fields.crew_task[slot] = task
        fields.crew_task_value[slot] = value
        if confidence is not None:
            fields.crew_confidence[slot] = confidence
        if now is not None:
            fields.crew_last_decision_ns[slot] = now


def _crew_code(agent_id: str) -> CrewAgent:
    for code in CrewAgent:
        if code.name.lower().replace("_", "-") in agent_id.lower():
            return code
    return CrewAgent.NONE

