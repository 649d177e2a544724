"""The autonomy gate: what becomes of each intent and each command. Plain Python on an integer clock.

State in (the pending intents, the autonomy level and ceilings, the E-stop), `now_ns` in, decisions out. The gate
never touches Nautilus: it asks the venue port for the book, the risk field and execution, and publishes its
events through the publisher port. `engine/strategy.py` is the thin Nautilus adapter around it; tests drive it with
a fake venue and a list of events (tests/gate/).

By the autonomy level (docs/gate.md):

    MANUAL    every intent waits for Approve / Reject / Modify from the bridge
    ASSISTED  confident intents (≥ assisted_confidence) approve themselves after a countdown; others wait
    AUTO      intents execute at once; a card surfaces only for what needs a human

A pending intent expires after its TTL. Before it executes it is re-checked against the fresh book: a price that
moved beyond the directive's slippage allowance, or a risk field now over its veto threshold, refuses it. While
the E-stop is engaging or engaged nothing executes, and engaging it drops every pending intent.

Every command gets exactly one answer: its CommandResult, or, for ring numbers a flood overwrote before the engine
read them, a CommandsLost that names them. An E-stop engage is answered when the stop completes (estop.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from sextant.gate.config import GateConfig
from sextant.gate.estop import EStopMachine, EStopVenue, Publisher
from sextant.research.change import ResearchCardClosed, ResearchChange
from sextant.state import messages
from sextant.state.bus import Bus, IntentDecided
from sextant.state.layout import Autonomy
from sextant.swarm.compiler import CompileRejected, MarketView, compile_intent
from sextant.swarm.intent import AgentIntent, ExecutionDirective, RiskBudget

if TYPE_CHECKING:
    from sextant.state.ring import RingMessage

LOST_REASON = "overwritten in the CommandRing before the engine read them (a flood); not executed"
STALE_REASON = "sent before this engine started; not executed"
MAX_TRAILING_OFFSET_BPS = 1000.0  # 10 %: a wider trail is no stop; the bridge's editor refuses the same


class GateVenue(EStopVenue, Protocol):
    """What the gate asks of the trading node."""

    def market(self, instrument: str) -> MarketView:
        """The book and our position now (NaN prices when there is no usable book)."""

    def risk(self) -> tuple[float, float]:
        """(the hull's total potential, the veto threshold; 0 when there is none)."""

    def size_factor(self, intent: AgentIntent, market: MarketView) -> float:
        """How much of the intent the risk field lets through, in [0, 1]."""

    def field_allows(self, side: str, quantity: float, market: MarketView) -> float:
        """How much of a trade of `quantity` the risk field lets through now, in whole lots."""

    def relieves(self, directive: ExecutionDirective, market: MarketView) -> bool:
        """Whether the directive's trade lowers the risk field's potential now (an exit, a hedge)."""

    def execute(self, directive: ExecutionDirective, agent: str) -> str | None:
        """Submit the directive's order(s). None when submitted, else why not."""

    def apply_research(self, change: ResearchChange, by: str) -> str | None:
        """Change a crew member's parameters (`by`: human, countdown or auto). None when applied, else why not."""


@dataclass(frozen=True, slots=True)
class Execute:
    intent_id: str


@dataclass(frozen=True, slots=True)
class Wait:
    intent_id: str
    expires_ns: int
    auto_approve_ns: int | None  # ASSISTED: when the countdown approves it


@dataclass(frozen=True, slots=True)
class Refuse:
    intent_id: str
    reason: str


Decision = Execute | Wait | Refuse


@dataclass(frozen=True, slots=True)
class RejectedTrade:
    """A trade the captain rejected: the agent's trades that way wait until `until_ns`, unless the mid leaves the
    plan's `mid` by the gate's re-arm distance."""

    until_ns: int
    mid: float


@dataclass
class PendingIntent:
    intent: AgentIntent
    directive: ExecutionDirective | None  # None for a research card: it changes parameters, it places no order
    expires_ns: int
    auto_approve_ns: int | None
    held_remaining_ns: int | None = None  # a held countdown: the time it had left (docs/gate.md: it pauses on hover)
    research: ResearchChange | None = None
    note: str = ""  # the gate's word on the card, after the plan


def recheck(directive: ExecutionDirective, market: MarketView, risk_total: float, risk_veto: float,
            relieves: bool = False) -> str | None:
    """Why an approved directive may no longer execute on this book and this risk field, or None. `relieves`: the
    trade lowers the risk field's potential (a portfolio's hedge may add to one instrument's position)."""
    if not (market.bid > 0 and market.ask >= market.bid):
        return "no usable book to re-check against"
    moved = abs(market.mid - directive.reference_mid) / directive.reference_mid * 1e4
    if moved > directive.max_slippage_bps:
        return f"price moved {moved:.1f} bps since the plan (allowed {directive.max_slippage_bps:g})"
    signed = directive.quantity if directive.side == "BUY" else -directive.quantity
    reduces = relieves or abs(market.position + signed) < abs(market.position)  # exits and hedges stay allowed
    if risk_veto > 0 and risk_total >= risk_veto and not reduces:
        return f"risk is now over the veto threshold (U={risk_total:.2f} ≥ {risk_veto:g})"
    return None


class Gate:
    def __init__(self, config: GateConfig, venue: GateVenue, events: Publisher, bus: Bus | None = None) -> None:
        self.config = config
        self._venue = venue
        self._events = events
        # IntentDecided (to the trust link, while the record still holds what each intent was decided on) and
        # ResearchCardClosed (to the research link, which writes it to the ledger)
        self._bus = bus or Bus()
        self.autonomy = config.autonomy
        self.ceiling = config.autonomy_ceiling
        self.agent_ceilings: dict[str, Autonomy] = {}  # from each agent's on-chain reputation; empty while off
        self.reputation = 0.0  # the crew's mean on-chain score, for AutonomyChanged; set by the adapter
        self.pending: dict[str, PendingIntent] = {}
        self.estop = EStopMachine(venue, events, config.flatten_timeout_ns)
        self._latched_estops: set[str] = set()  # engaged from the ring's latch: their messages are answered
        # (agent, instrument, BUY | SELL): the captain's rejections
        self.rejected: dict[tuple[str, str, str], RejectedTrade] = {}

    # ---------------------------------------------------------------------------------------------- levels

    def level_for(self, agent: str) -> Autonomy:
        """The gate for one agent's intent: the human's level, never above that agent's reputation ceiling."""
        return Autonomy(min(self.autonomy, self.agent_ceilings.get(agent, self.ceiling)))

    def set_ceilings(self, agent_ceilings: dict[str, Autonomy], reputation: float, now: int) -> None:
        """New ceilings from the chain. The crew's ceiling, which bounds what the human may select, is the highest
        any agent has earned; a level above it comes down to it."""
        self.agent_ceilings = dict(agent_ceilings)
        crew_ceiling = max(agent_ceilings.values(), default=self.ceiling)
        if crew_ceiling == self.ceiling:
            return
        self.ceiling = crew_ceiling
        self.autonomy = Autonomy(min(self.autonomy, crew_ceiling))
        self._events.publish(messages.AutonomyChanged(level=self.autonomy.name, ceiling=crew_ceiling.name,  # type: ignore[arg-type]
                                                      reputation=reputation, reason="reputation from the chain"), now)

    # ---------------------------------------------------------------------------------------------- intents

    def propose(self, intent: AgentIntent, now: int, market: MarketView | None = None) -> Decision | None:
        """Compile and gate one intent. `market` is the book it was perceived on (read from the venue if None).
        None when there is nothing to do at the current position."""
        market = market or self._venue.market(intent.instrument)
        try:
            directive = compile_intent(intent, market, self._venue.size_factor(intent, market))
        except CompileRejected as rejection:
            self._events.publish(messages.IntentRejected(intent_id=intent.id, reason=str(rejection), by="engine"),
                                 now)
            return Refuse(intent.id, str(rejection))
        if directive is None:
            return None
        held, moved_bps = self._after_rejection(intent.agent, directive, market, now)
        if held:
            return None  # the captain said no to this: the agent is not heard on it again yet
        config = self.config
        level = self.level_for(intent.agent)
        confident = intent.confidence >= config.assisted_confidence
        countdown = now + config.assisted_countdown_ns if level == Autonomy.ASSISTED and confident else None
        waits = level == Autonomy.MANUAL or (level == Autonomy.ASSISTED and not confident)
        pending = PendingIntent(intent, directive, now + config.approval_ttl_ns, countdown)
        if moved_bps is not None:  # the card says why it is back inside the cool-down
            pending.note = f"again after a reject: the market moved {moved_bps:.0f} bps"
        self._bus.publish(IntentDecided(intent.id))
        auto = level == Autonomy.AUTO
        # An intent approved at once is announced after its order has left (EventSink.publish_later)
        self._announce(pending, requires_approval=waits or countdown is not None, now=now, later=auto)
        if auto:  # approved on the book it was planned on: the re-check reads that book
            refusal = self._approve(pending, "auto", None, now, market)
            return Refuse(intent.id, refusal) if refusal is not None else Execute(intent.id)
        self.pending[intent.id] = pending
        return Wait(intent.id, pending.expires_ns, countdown)

    def propose_research(self, change: ResearchChange, instrument: str, now: int) -> Decision:
        """A research card: an accepted change of a crew member's parameters. Applied at once in AUTO; otherwise it
        waits for a human (no countdown: a change of how an agent thinks is not a trade to wave through)."""
        intent = AgentIntent(id=f"research-{change.hypothesis_id}", agent=change.agent_id, kind="Research",
                             instrument=instrument, confidence=change.confidence,
                             budget=RiskBudget(max_loss=0.0, max_position=0.0), title=change.title,
                             reasoning=change.reasoning, created_ns=now)
        auto = self.level_for(change.agent_id) == Autonomy.AUTO
        pending = PendingIntent(intent, None, now + int(change.ttl_s * 1e9), None, research=change)
        self._announce(pending, requires_approval=not auto, now=now)
        if auto:
            refusal = self._approve(pending, "auto", None, now)
            return Refuse(intent.id, refusal) if refusal is not None else Execute(intent.id)
        self.pending[intent.id] = pending
        return Wait(intent.id, pending.expires_ns, None)

    def waiting_deadline(self, instrument: str | None = None) -> int | None:
        """The earliest expiry of a pending trade (of `instrument`, or of any; research cards block nothing), or
        None."""
        return min((p.expires_ns for p in self.pending.values() if p.research is None
                    and (instrument is None or p.intent.instrument == instrument)), default=None)

    def tick(self, now: int) -> None:
        """Countdowns that ran out approve, TTLs that ran out expire, and the E-stop finishes once flat."""
        for pending in list(self.pending.values()) if self.pending else ():
            if pending.auto_approve_ns is not None and now >= pending.auto_approve_ns:
                self._approve(pending, "countdown", None, now)
            elif now >= pending.expires_ns:
                self.pending.pop(pending.intent.id, None)
                self._events.publish(messages.IntentExpired(intent_id=pending.intent.id), now)
                self._drop_research(pending, "expired", "engine")
        self.estop.progress(now)

    def recheck(self, directive: ExecutionDirective, market: MarketView) -> str | None:
        return recheck(directive, market, *self._venue.risk(), relieves=self._venue.relieves(directive, market))

    # ---------------------------------------------------------------------------------------------- commands

    def handle_commands(self, fresh: Sequence[RingMessage[messages.Command]],
                        stale: Sequence[RingMessage[messages.Command]], lost: Sequence[tuple[int, int]],
                        now: int) -> None:
        """One poll's commands: each gets its answer (an engage when its stop completes)."""
        for first, last in lost:
            self._events.publish(messages.CommandsLost(first=first, last=last, reason=LOST_REASON), now)
        for message in stale:
            self._answer(message, False, STALE_REASON, now)
        for message in fresh:
            command = message.message
            if isinstance(command, messages.EStop) and command.command_id in self._latched_estops:
                self._latched_estops.discard(command.command_id)
                continue  # taken from the latch already, and answered there
            try:
                self.handle_command(message, now)
            except Exception as error:  # noqa: BLE001 - a command must always get its answer
                self._answer(message, False, f"engine error: {type(error).__name__}: {error}", now)

    def take_latched_estop(self, command_id: str, now: int) -> None:
        """An E-stop engage read from the ring's latch, ahead of any command still queued in the ring."""
        self._latched_estops.add(command_id)
        refusal = self.engage_estop(command_id, now)
        if refusal is not None:
            self._events.publish(messages.CommandResult(command_id=command_id, command="EStop", applied=False,
                                                        reason=refusal), now)

    def handle_command(self, message: RingMessage[messages.Command], now: int) -> None:
        command = message.message
        if command is None:
            self._events.publish(messages.CommandResult(command_id="", command=message.type_name, applied=False,
                                                        reason=f"undecodable command: {message.error}"), now)
            return
        if isinstance(command, messages.EStop):
            if command.engage:
                refusal = self.engage_estop(command.command_id, now)
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
        intent_id: str = command.intent_id  # type: ignore[attr-defined]
        pending = self.pending.get(intent_id)
        if pending is None:
            self._answer(message, False, f"no pending intent {intent_id} (expired, decided or unknown)", now)
            return
        if isinstance(command, messages.Approve):
            refusal = self._approve(pending, "human", command.command_id, now)
            self._answer(message, refusal is None, refusal or "approved", now)
        elif isinstance(command, messages.Reject):
            self.pending.pop(intent_id)
            directive = pending.directive
            if directive is not None and self.config.reject_cooldown_ns:
                self.rejected[(pending.intent.agent, directive.instrument, directive.side)] = RejectedTrade(
                    now + self.config.reject_cooldown_ns, directive.reference_mid)
            self._events.publish(messages.IntentRejected(intent_id=intent_id, reason=command.reason or
                                                         "rejected by the captain", by="human",
                                                         command_id=command.command_id), now)
            self._drop_research(pending, "rejected", "human")
            self._answer(message, True, "rejected", now)
        elif isinstance(command, messages.Modify):
            refusal = self._modify(pending, command, now)
            self._answer(message, refusal is None, refusal or "modified", now)
        elif isinstance(command, messages.HoldCountdown):
            refusal = self._hold(pending, command, now)
            self._answer(message, refusal is None, refusal or ("held" if command.hold else "resumed"), now)
        else:
            self._answer(message, False, f"{message.type_name} is not a command this engine takes", now)

    def engage_estop(self, command_id: str, now: int) -> str | None:
        """Start the E-stop and drop every pending intent. A refusal reason, or None (the CommandResult follows
        when the stop completes)."""
        refusal = self.estop.engage(command_id, now)
        if refusal is None:
            for pending in list(self.pending.values()):
                self.pending.pop(pending.intent.id)
                self._events.publish(messages.IntentRejected(intent_id=pending.intent.id, reason="E-STOP",
                                                             by="engine"), now)
                self._drop_research(pending, "dropped", "engine")
        return refusal

    # ---------------------------------------------------------------------------------------------- internals

    def _approve(self, pending: PendingIntent, by: str, command_id: str | None, now: int,
                 market: MarketView | None = None) -> str | None:
        """Re-check against the fresh book (`market` when the caller has just read it), then execute. Returns a
        refusal reason or None."""
        self.pending.pop(pending.intent.id, None)
        intent_id = pending.intent.id
        if pending.directive is None:  # a research card
            assert pending.research is not None
            refusal = self._venue.apply_research(pending.research, by)
            if refusal is not None:
                self._events.publish(messages.IntentRejected(intent_id=intent_id, reason=refusal, by="engine",
                                                             command_id=command_id), now)
                self._drop_research(pending, "dropped", "engine")
                return refusal
            self._bus.publish(ResearchCardClosed(pending.research, "applied", by))
            self._events.publish(messages.IntentApproved(intent_id=intent_id, by=by, command_id=command_id),  # type: ignore[arg-type]
                                 now)
            return None
        reason = self.recheck(pending.directive, market or self._venue.market(pending.directive.instrument))
        if reason is None and not self.estop.released:
            reason = "the E-stop is engaged"
        if reason is not None:
            self._events.publish(messages.IntentRejected(intent_id=intent_id, reason=reason, by="engine",
                                                         command_id=command_id), now)
            return reason
        # announced once the order has left: the approval is what the order carries out, not a step before it
        self._events.publish_later(messages.IntentApproved(intent_id=intent_id, by=by, command_id=command_id),  # type: ignore[arg-type]
                                   now)
        return self._venue.execute(pending.directive, pending.intent.agent)

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
        self._events.publish(messages.CountdownChanged(
            intent_id=pending.intent.id, held=command.hold, auto_approve_at_ns=pending.auto_approve_ns,
            remaining_ns=pending.held_remaining_ns or (pending.auto_approve_ns or now) - now,
            command_id=command.command_id), now)
        return None

    def _modify(self, pending: PendingIntent, command: messages.Modify, now: int) -> str | None:
        """Re-plan the intent on today's book and today's risk field, as a new intent would be, with the human's
        changes; a quantity beyond what the field allows now is refused, never passed through."""
        if pending.directive is None:
            return "a research change cannot be modified: approve or reject it"
        for name, value in (("quantity", command.quantity), ("price", command.price),
                            ("trailing offset", command.trailing_offset_bps)):
            if value is not None and not (math.isfinite(value) and value > 0):
                return f"{name} must be a positive finite number, got {value}"
        if command.trailing_offset_bps is not None and command.trailing_offset_bps > MAX_TRAILING_OFFSET_BPS:
            return f"a trailing offset of {command.trailing_offset_bps:g} bps is above {MAX_TRAILING_OFFSET_BPS:g}"
        intent = pending.intent
        if command.style is not None:
            intent = msgspec.structs.replace(intent, style=command.style)
        venue = self._venue
        market = venue.market(intent.instrument)
        try:
            directive = compile_intent(intent, market, venue.size_factor(intent, market))
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
            allowed = venue.field_allows(directive.side, quantity, market)
            if quantity > allowed + 1e-9:
                return f"the risk field allows {allowed:g} of quantity {quantity:g} now"
            changes["quantity"] = round(quantity, 8)
        if command.price is not None:
            if directive.style not in ("LIMIT", "IOC", "FOK"):
                return f"a {directive.style} order takes no price"
            changes["price"] = command.price
        if command.trailing_offset_bps is not None:
            if directive.style != "TRAILING_STOP":
                return f"a {directive.style} order takes no trailing offset"
            changes["trailing_offset_bps"] = command.trailing_offset_bps
        pending.intent = intent
        pending.directive = msgspec.structs.replace(directive, **changes)
        self._announce(pending, requires_approval=True, now=now)
        return None

    def _set_autonomy(self, message: RingMessage[messages.Command], command: messages.SetAutonomy, now: int) -> None:
        level = Autonomy[command.level]
        if level > self.ceiling:
            self._answer(message, False, f"{command.level} is above the reputation ceiling {self.ceiling.name}", now)
            return
        self.autonomy = level
        self._events.publish(messages.AutonomyChanged(level=command.level, ceiling=self.ceiling.name,  # type: ignore[arg-type]
                                                      reputation=self.reputation, reason="set by the captain",
                                                      command_id=command.command_id), now)
        self._answer(message, True, f"autonomy {command.level}", now)

    def _announce(self, pending: PendingIntent, *, requires_approval: bool, now: int, later: bool = False) -> None:
        intent, directive = pending.intent, pending.directive
        publish = self._events.publish_later if later else self._events.publish
        publish(messages.IntentGenerated(
            intent_id=intent.id, agent=intent.agent, intent_kind=intent.kind, instrument=intent.instrument,
            side=directive.side if directive else None, quantity=directive.quantity if directive else 0.0,
            target_position=intent.target_position, price=directive.price if directive else None,
            style=directive.style if directive else None, confidence=intent.confidence,
            reputation=intent.reputation, title=intent.title, reasoning=intent.reasoning,
            plan=" · ".join(filter(None, (directive.plan if directive else pending.research.plan
                                          if pending.research else "", pending.note))),
            risk_score=self._risk_score(), requires_approval=requires_approval,
            auto_approve_at_ns=pending.auto_approve_ns, expires_at_ns=pending.expires_ns,
            trailing_offset_bps=directive.trailing_offset_bps if directive else None), now)

    def _after_rejection(self, agent: str, directive: ExecutionDirective, market: MarketView,
                         now: int) -> tuple[bool, float | None]:
        """(whether a trade like one the captain rejected is still held back, how far the mid has moved since the
        rejected plan when it comes back early because of that move; None when it was never rejected or its
        cool-down is over)."""
        key = (agent, directive.instrument, directive.side)
        rejected = self.rejected.get(key)
        if rejected is None:
            return False, None
        if now >= rejected.until_ns:
            del self.rejected[key]
            return False, None
        moved_bps = abs(market.mid - rejected.mid) / rejected.mid * 1e4 if rejected.mid > 0 else math.inf
        if not moved_bps >= self.config.reject_rearm_bps:  # a NaN book holds it back too
            return True, None
        del self.rejected[key]
        return False, moved_bps

    def _risk_score(self) -> float:
        """The hull's total potential as a share of the veto threshold (0 without one), for an intent card."""
        total, veto = self._venue.risk()
        return min(1.0, total / max(veto, 1e-9)) if veto > 0 else 0.0

    def _drop_research(self, pending: PendingIntent, decision: str, by: str) -> None:
        if pending.research is not None:
            self._bus.publish(ResearchCardClosed(pending.research, decision, by))

    def _answer(self, message: RingMessage[messages.Command], applied: bool, reason: str, now: int) -> None:
        command = message.message
        self._events.publish(messages.CommandResult(command_id=command.command_id if command else "",
                                                    command=message.type_name, applied=applied, reason=reason), now)
