"""SwarmStrategy: the crew's cycle inside Nautilus, and the thin Nautilus adapter around the gate (gate/core.py).

The engine trades one or more instruments; each has a desk (`InstrumentDesk`): its own crew, cooldown, working
orders and stop-loss. Each quote goes to its instrument's desk: if trading is allowed there (E-stop released, no
intent of that instrument pending, no order of ours working on it, its cooldown over and the trade limit not
reached), each of its agents perceives the ContextWindow record as that instrument's (its slot and the account's
fields) and may propose an intent; the consensus decides per instrument, and the gate decides what becomes of the
winner by the autonomy level. The gate's venue port is this class: each instrument's book, the portfolio's risk
field, execution through the DirectiveExecutor, and the E-stop's trading states through Nautilus' RiskEngine.

A timer polls the CommandRing (so commands act even in a quiet market) and lets the gate run countdowns, expiries
and the E-stop. An E-stop engage cannot be lost to a flood: the bridge latches it in the ring's header, which the
engine reads on every poll and every quote.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, Protocol, cast

import msgspec
import numpy as np
from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import TradingState as NautilusTradingState
from nautilus_trader.model.enums import TriggerType
from nautilus_trader.model.events import OrderRejected
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.strategy import Strategy

from sextant.engine.config import AutonomyName
from sextant.engine.events import EventSink
from sextant.engine.execution import DirectiveExecutor
from sextant.engine.latency import LatencySamples
from sextant.engine.outcomes import OutcomeBook
from sextant.engine.protection import StopLossGuard
from sextant.engine.timers import on_engine_thread
from sextant.gate.config import GateConfig
from sextant.gate.core import Decision, Gate, PendingIntent
from sextant.gate.estop import EStopMachine, TradingStateName
from sextant.research.change import ResearchChange
from sextant.risk.field import DIMENSIONS
from sextant.risk.hull import trade_relieves, trade_size_factor
from sextant.state import messages
from sextant.state.bus import Bus, CommandRead, PositionClosed, QuoteEncoded, TimerTick
from sextant.state.context import ContextWriter, RecordFields
from sextant.state.layout import LLM_ROLES, MAX_INSTRUMENTS, Autonomy, CrewAgent, CrewState, CrewTask
from sextant.state.ring import CommandRingFollower, EStopLatch, RingMessage
from sextant.swarm.calibration import is_model_agent
from sextant.swarm.compiler import MarketView, scaled_quantity
from sextant.swarm.consensus import ConsensusMode, resolve
from sextant.swarm.intent import AgentIntent, ExecutionDirective
from sextant.swarm.llm import LlmSpend

VETO_REPORT_INTERVAL_NS = 5_000_000_000
COMMAND_REOPEN_NS = 1_000_000_000
# Commands handled per poll: bounds the loop's time on a flood; the rest wait in the ring for the next poll.
MAX_COMMANDS_PER_POLL = 1024
_IDLE = int(CrewState.IDLE)
_SUGGESTING = int(CrewState.SUGGESTING)


class Agent(Protocol):
    agent_id: str

    def perceive(self, record: np.void, instrument: str, now_ns: int) -> AgentIntent | None: ...


class LlmSpender(Protocol):
    """A crew member that asks models: what it spent over the last hour, and its calls now."""

    def llm_spend(self) -> LlmSpend: ...


class SwarmStrategyConfig(StrategyConfig, frozen=True):
    instrument_ids: tuple[str, ...] = ("BTC-USDT-SWAP.OKX",)  # one desk each, in the ContextWindow's slot order
    autonomy: AutonomyName = "MANUAL"
    autonomy_ceiling: AutonomyName = "AUTO"
    max_trades: int = 0
    max_notional_usd: float = 50_000.0  # our own per-order cap (execution.py)
    dry_run: bool = False  # orders are logged and published, never submitted
    cooldown_secs: float = 30.0
    reject_cooldown_secs: float = 120.0  # gate/config.py
    reject_rearm_bps: float = 50.0
    min_notional_usd: float = 20.0
    approval_ttl_secs: float = 30.0  # the default of docs/gate.md
    consensus: ConsensusMode = "pipeline"  # swarm/consensus.py
    sl_pct: float = 0.02  # stop-loss distance from the entry; 0 disables (engine/protection.py)
    # the sim venue has quotes only; OKX stops trigger on the last price, as a backtest on bars does
    stop_trigger: Literal["BID_ASK", "LAST_PRICE"] = "BID_ASK"
    emulate_trailing_stops: bool = True  # off on bars: no quotes to trail on, the backtest venue trails them
    assisted_countdown_secs: float = 30.0
    # How often the timer reads the CommandRing and runs countdowns and expiries: 50 ms live, so a command acts
    # within a frame or three; `sextant sim` has no CommandRing and runs it once a simulated second.
    command_poll_secs: float = 0.05


POST_ONLY_REPOSTS = 3


@dataclass(frozen=True, slots=True)
class InboxBatch:
    """One poll of the CommandRing: fresh commands, stale ones (sent before this engine started), lost ring
    numbers as inclusive ranges, and an E-stop engage latched since the last look, if any."""

    fresh: list[RingMessage[messages.Command]]
    stale: list[RingMessage[messages.Command]]
    lost: list[tuple[int, int]]
    estop: EStopLatch | None


class CommandInbox:
    """Reads the bridge's CommandRing, whenever the bridge (re)creates it. Commands from before this engine started
    are answered as refused, never executed."""

    def __init__(self, path: str, started_wall_ns: int) -> None:
        self._follower = CommandRingFollower(path, start="oldest", recheck_ns=COMMAND_REOPEN_NS)
        self._started = started_wall_ns
        self._latch_ring = 0  # created_ns of the ring whose latch was read last: a re-created ring counts afresh
        self._latch_seen = 0

    def drain(self) -> InboxBatch:
        """The commands queued in the ring, and the E-stop latch read after them: a writer latches an engage before
        it publishes the engage's message, so an engage in this batch is always in this latch or an earlier one,
        and the gate can skip its message rather than answer it twice."""
        batch = self._follower.drain_batch(MAX_COMMANDS_PER_POLL)
        fresh = [m for m in batch.received if m.ts_ns >= self._started]
        stale = [m for m in batch.received if m.ts_ns < self._started]
        return InboxBatch(fresh, stale, batch.lost, self.estop_latched())

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


class InstrumentDesk:
    """One instrument's part of the strategy: its crew (the roster's members, each its own instance), the
    ContextWindow slot they perceive, and what blocks its next trade (cooldown, working orders)."""

    def __init__(self, strategy: SwarmStrategy, instrument_id: InstrumentId, slot: int, agents: list[Agent],
                 writer: ContextWriter, config: SwarmStrategyConfig) -> None:
        self.instrument_id = instrument_id
        self.instrument = instrument_id.value
        self.slot = slot
        self.agents = agents
        self.record = writer.slot(slot)  # the pending record as this instrument's: what its crew perceives
        self.fields = writer.slot_fields(slot)  # the crew bar, the gate's numbers: written every quote
        self.crew_values = self.fields.crew_task_value[:len(agents)]  # the blocked path's one per-quote write
        # the reason the crew bar shows the crew idle for, if any, and whose card it waits on
        self.blocked_task: tuple[CrewTask, frozenset[str]] | None = None
        self.last_execution_ns = 0
        # Our orders from submission until closed. Nautilus' open/in-flight counts miss an order still queued
        # for the RiskEngine, and an agent must not propose again on top of one.
        self.working: set[str] = set()
        self.terms: tuple[float, float, float, str] | None = None  # lot, tick, multiplier, currency
        self.stop_loss = StopLossGuard(strategy, instrument_id, config.sl_pct, TriggerType[config.stop_trigger])
        self.record["crew_state"][:len(agents)] = int(CrewState.IDLE)


class SwarmStrategy(Strategy):
    def __init__(self, config: SwarmStrategyConfig, *, crews: list[list[Agent]], writer: ContextWriter,
                 sink: EventSink, bus: Bus, commands_path: str | None, measure_latency: bool = True) -> None:
        """`crews`: one per instrument of `config.instrument_ids`, the same roster in the same order."""
        super().__init__(config)
        if len(crews) != len(config.instrument_ids) or len({len(crew) for crew in crews}) > 1:
            raise ValueError(f"{len(config.instrument_ids)} instruments need as many crews of one roster")
        agents = [agent for crew in crews for agent in crew]
        self._agents = crews[0]  # the roster
        self._all_agents = agents
        self._spenders = [cast("LlmSpender", agent) for agent in agents if callable(getattr(agent, "llm_spend", None))]
        self._writer = writer
        self._sink = sink
        # TimerTick, CommandRead and PositionClosed out; the gate's IntentDecided and ResearchCardClosed too
        self._bus = bus
        self.executor = DirectiveExecutor(self, sink, max_notional_usd=config.max_notional_usd, dry_run=config.dry_run,
                                          emulate_trailing_stops=config.emulate_trailing_stops)
        self.outcomes = OutcomeBook(self)
        self._agent_of_intent: dict[str, str] = {}
        self.desks = [InstrumentDesk(self, InstrumentId.from_str(instrument), slot, crew, writer, config)
                      for slot, (instrument, crew) in enumerate(zip(config.instrument_ids, crews, strict=True))]
        self._desk_of = {desk.instrument: desk for desk in self.desks}
        self._desk_of_id = {desk.instrument_id: desk for desk in self.desks}
        self._desk_of_order: dict[str, InstrumentDesk] = {}  # our working orders' desks
        self.risk_engine: Any = None  # the node's RiskEngine, attached once the node is built (the E-stop's path)
        self.gate = Gate(GateConfig(
            autonomy=Autonomy[config.autonomy], autonomy_ceiling=Autonomy[config.autonomy_ceiling],
            approval_ttl_ns=int(config.approval_ttl_secs * 1e9),
            assisted_countdown_ns=int(config.assisted_countdown_secs * 1e9),
            reject_cooldown_ns=int(config.reject_cooldown_secs * 1e9), reject_rearm_bps=config.reject_rearm_bps),
            venue=self, events=sink, bus=bus)
        self.agent_scores: dict[str, float] = {}  # from the chain by the trust layer (trust/link.py)
        self._inbox = CommandInbox(commands_path, time.time_ns()) if commands_path else None
        # the trade limit is per agent (docs/spec.md#the-crew), over all its instruments
        self._executed_by_agent: Counter[str] = Counter()
        self._post_only: dict[str, tuple[ExecutionDirective, int]] = {}  # working post-only limits, for re-posts
        self._last_veto_ns = 0
        self._change = np.zeros(DIMENSIONS + MAX_INSTRUMENTS)
        # Load the gate's kernel now (from numba's cache: milliseconds), not on the first intent's way to its order.
        scratch = np.zeros_like(writer.storage)
        trade_size_factor(scratch.view(writer.account_storage.dtype), scratch["instruments"][0], 0, 1.0, 1.0,
                          self._change)
        self.decision_latencies = LatencySamples()  # off in `sextant sim`: both ends are the simulated clock
        self._measure_latency = measure_latency
        self._fields = writer.fields  # the account's: the gate's numbers, written every timer tick
        record = writer.record
        record["autonomy"], record["autonomy_ceiling"] = int(self.gate.autonomy), int(self.gate.ceiling)
        record["crew_count"] = len(self._agents)
        for slot, agent in enumerate(self._agents):
            record["crew_agent"][slot] = int(_crew_code(agent.agent_id))

    @property
    def crew(self) -> list[Agent]:
        """The roster: the first instrument's crew (each instrument has its own members of the same roster)."""
        return self._agents

    @property
    def all_agents(self) -> list[Agent]:
        """Every crew member on every instrument."""
        return self._all_agents

    def member(self, agent_id: str, instrument: str) -> Agent | None:
        """The crew member `agent_id` of `instrument`'s crew (each instrument has its own)."""
        desk = self._desk_of.get(instrument)
        return next((agent for agent in desk.agents if agent.agent_id == agent_id), None) if desk else None

    @property
    def stop_loss(self) -> StopLossGuard:
        """The first instrument's stop-loss guard."""
        return self.desks[0].stop_loss

    # The gate's state, where the trust layer, the research link and the tests find it.
    @property
    def pending(self) -> dict[str, PendingIntent]:
        return self.gate.pending

    @property
    def autonomy(self) -> Autonomy:
        return self.gate.autonomy

    @property
    def estop(self) -> EStopMachine:
        return self.gate.estop

    # ------------------------------------------------------------------------------------------------ lifecycle

    def on_start(self) -> None:
        # Quotes come through the StateEncoder (on_quote), after it has written them into the record.
        self.clock.set_timer("sextant-commands", timedelta(seconds=self.config.command_poll_secs),
                             callback=on_engine_thread(self._on_timer))

    def on_stop(self) -> None:
        self.clock.cancel_timers()
        self._sink.flush()

    # ------------------------------------------------------------------------------------------------ the cycle

    def on_quote(self, quote: QuoteEncoded) -> None:
        """Each quote, from the StateEncoder once the record holds it (QuoteEncoded on the engine's bus)."""
        if not self.is_running:
            return
        tick = quote.tick
        self._cycle(self.desks[quote.slot], tick)
        # quote → decision: from the data client creating the tick to the end of the crew's cycle on it
        if self._measure_latency:
            self.decision_latencies.add(self.clock.timestamp_ns() - tick.ts_init)

    def _cycle(self, desk: InstrumentDesk, tick: QuoteTick) -> None:
        now = self.clock.timestamp_ns()
        if self._inbox is not None:
            self._take_estop_latch(now)
        blocked = self._blocked_reason(desk, now)
        if blocked is None and self.gate.pending:
            deadline = self.gate.waiting_deadline(desk.instrument)
            if deadline is not None:
                blocked = CrewTask.WAITING_APPROVAL, (deadline - now) / 1e9
        agents = desk.agents
        if blocked is not None:  # the whole crew idles, with the reason: states and tasks only when it changes
            task, value = blocked
            # While a card waits, its proposer awaits the captain and the rest hold for it (not all "awaiting").
            proposers = frozenset(p.intent.agent for p in self.gate.pending.values()
                                  if p.research is None and p.intent.instrument == desk.instrument) \
                if task is CrewTask.WAITING_APPROVAL else frozenset()
            if (task, proposers) != desk.blocked_task:
                crew, fields = len(agents), desk.fields
                fields.crew_state[:crew] = _IDLE
                fields.crew_task[:crew] = task
                for slot, agent in enumerate(agents):
                    if proposers and agent.agent_id not in proposers:
                        fields.crew_task[slot] = CrewTask.HOLDING_FOR_CARD
                    elif proposers:
                        fields.crew_state[slot] = _SUGGESTING
                desk.blocked_task = (task, proposers)
            desk.crew_values.fill(value)  # a third of a slice assignment's cost, on most of a sim's quotes
            return
        desk.blocked_task = None
        record = desk.record
        max_trades = self.config.max_trades
        intents: list[AgentIntent] = []
        for slot, agent in enumerate(agents):
            executed = self._executed_by_agent[agent.agent_id] if max_trades else 0
            if max_trades and executed >= max_trades:
                self._crew(desk, slot, CrewState.IDLE, CrewTask.TRADE_LIMIT, float(executed), now=None)
                continue
            intent = agent.perceive(record, desk.instrument, now)
            state, task, value = getattr(agent, "status", (CrewState.ACTIVE, CrewTask.IDLE, 0.0))
            self._crew(desk, slot, state, task, value, now=now if intent is not None else None,
                       confidence=intent.confidence if intent is not None else None)
            if intent is not None:
                score = self.agent_scores.get(intent.agent)
                if score is not None:  # consensus weights: the chain's reputation, not the agent's own claim
                    intent = msgspec.structs.replace(intent, reputation=score)
                intents.append(intent)
        if not intents:
            return
        consensus = resolve(intents, self.config.consensus)
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

    def _blocked_reason(self, desk: InstrumentDesk, now: int) -> tuple[CrewTask, float] | None:
        if not self.gate.estop.released:
            return CrewTask.HALTED, 0.0
        config = self.config
        left = desk.last_execution_ns + config.cooldown_secs * 1e9 - now if desk.last_execution_ns else 0
        if left > 0:
            return CrewTask.COOLDOWN, left / 1e9
        if desk.working:
            return CrewTask.WATCHING_PRICE, desk.fields.mid.item()
        return None

    def propose(self, intent: AgentIntent, tick: QuoteTick | None = None) -> Decision | None:
        """Compile and gate one intent (the agents' path, and the tests')."""
        decision = self.gate.propose(intent, self.clock.timestamp_ns(), self.market(intent.instrument, tick))
        self._fields.pending_intents[0] = len(self.gate.pending)
        return decision

    def propose_research(self, change: ResearchChange) -> None:
        self.gate.propose_research(change, self.desks[0].instrument, self.clock.timestamp_ns())
        self._fields.pending_intents[0] = len(self.gate.pending)

    def level_for(self, agent: str) -> Autonomy:
        return self.gate.level_for(agent)

    def apply_reputation(self, scores: dict[str, float | None]) -> None:
        """New scores from the chain (engine thread). Each agent's ceiling follows its own score; the crew's
        ceiling, which bounds what the human may select, is the highest any agent has earned. The models' own
        identities (their answers' record) place no orders: their scores set no ceiling and no crew reputation."""
        from sextant.trust.link import ceiling_for

        scores = {agent: score for agent, score in scores.items() if not is_model_agent(agent)}
        self.agent_scores = {agent: score for agent, score in scores.items() if score is not None}
        rated = list(self.agent_scores.values())
        record = self._writer.record
        record["reputation"] = self.gate.reputation = sum(rated) / len(rated) if rated else 0.0
        for slot, agent in enumerate(self._agents):
            record["crew_reputation"][slot] = self.agent_scores.get(agent.agent_id, 0.0)
        self.gate.set_ceilings({agent: ceiling_for(score) for agent, score in scores.items()},
                               float(record["reputation"]), self.clock.timestamp_ns())
        record["autonomy_ceiling"], record["autonomy"] = int(self.gate.ceiling), int(self.gate.autonomy)

    def apply_validated(self, reproduced: int, answered: int) -> None:
        """The validator's answers so far, read from the chain (engine thread): the bridge shows the share."""
        record = self._writer.record
        record["validations_reproduced"], record["validations_answered"] = reproduced, answered

    # ------------------------------------------------------------------------- the gate's venue (gate/core.py)

    def market(self, instrument: str | None = None, tick: QuoteTick | None = None) -> MarketView:
        """One instrument's book and our position in it (the first instrument's when none is named)."""
        desk = self._desk_of[instrument] if instrument is not None else self.desks[0]
        instrument_id = desk.instrument_id
        tick = tick or self.cache.quote_tick(instrument_id)
        position = float(self.portfolio.net_position(instrument_id) or 0)
        terms = desk.terms
        if terms is None:  # an instrument's increments and multiplier never change: read them once
            loaded = self.cache.instrument(instrument_id)
            if loaded is not None:
                terms = desk.terms = (loaded.size_increment.as_double(), loaded.price_increment.as_double(),
                                      loaded.multiplier.as_double(), loaded.get_settlement_currency().code)
        if tick is None or terms is None:
            return MarketView(bid=math.nan, ask=math.nan, position=position, instrument=desk.instrument)
        lot, tick_size, multiplier, currency = terms
        return MarketView(bid=tick.bid_price.as_double(), ask=tick.ask_price.as_double(), position=position,
                          lot=lot, tick=tick_size, multiplier=multiplier, min_notional=self.config.min_notional_usd,
                          currency=currency, instrument=desk.instrument)

    def risk(self) -> tuple[float, float]:
        fields = self._fields
        return fields.risk_total.item(), fields.risk_veto.item()

    def _trade_size_factor(self, instrument: str, direction: float, contracts: float) -> float:
        writer = self._writer
        desk = self._desk_of[instrument] if instrument else self.desks[0]
        return trade_size_factor(writer.account_storage, writer.slots, desk.slot, direction, contracts, self._change)

    def size_factor(self, intent: AgentIntent, market: MarketView) -> float:
        """How much of the intent the portfolio's risk field lets through (risk/field.py: size_factor)."""
        if intent.target_position is None or not math.isfinite(intent.target_position):
            return 1.0  # the compiler rejects it with the reason
        direction = 1.0 if intent.target_position > market.position else -1.0
        return self._trade_size_factor(intent.instrument, direction, abs(intent.target_position - market.position))

    def field_allows(self, side: str, quantity: float, market: MarketView) -> float:
        """How much of a trade of `quantity` the risk field lets through now, in whole lots (as the compiler rounds
        it); a trade that reduces the position is never cut."""
        signed = quantity if side == "BUY" else -quantity
        if abs(market.position + signed) < abs(market.position):
            return quantity
        factor = self._trade_size_factor(market.instrument, 1.0 if side == "BUY" else -1.0, quantity)
        return scaled_quantity(quantity, factor, market.lot)

    def relieves(self, directive: ExecutionDirective, market: MarketView) -> bool:
        """Whether the directive's trade lowers the portfolio's risk potential now (gate/core.py: recheck)."""
        writer = self._writer
        desk = self._desk_of.get(directive.instrument)
        if desk is None or not directive.quantity > 0:
            return False
        return bool(trade_relieves(writer.account_storage, writer.slots, desk.slot,
                                   1.0 if directive.side == "BUY" else -1.0, directive.quantity, self._change))

    def execute(self, directive: ExecutionDirective, agent: str) -> str | None:
        self._agent_of_intent[directive.intent_id] = agent
        desk = self._desk_of.get(directive.instrument)
        if desk is None:
            return f"{directive.instrument} is not one of this engine's instruments"
        directive = self._rejoin_touch(directive)
        result = self.executor.execute(directive)
        if result.submitted and not result.client_order_id.startswith("DRY-"):
            desk.working.add(result.client_order_id)
            self._desk_of_order[result.client_order_id] = desk
            if directive.style == "LIMIT":
                self._post_only[result.client_order_id] = (directive, 0)
        if not result.submitted:
            return result.reason
        self._executed_by_agent[agent] += 1
        desk.last_execution_ns = self.clock.timestamp_ns()
        return None

    def apply_research(self, change: ResearchChange, by: str) -> str | None:
        members = [a for a in self._all_agents if a.agent_id == change.agent_id]
        if not members:
            return f"no crew member {change.agent_id} in this engine"
        try:
            config = change.applied_to(members[0].config)  # type: ignore[attr-defined]
        except ValueError as error:
            return f"the change does not fit {change.agent_id}'s settings: {error}"
        for agent in members:  # the member on every instrument thinks alike
            agent.config = config  # type: ignore[attr-defined]
        self._sink.publish(messages.AutoresearchResult(
            hypothesis_id=change.hypothesis_id, family=change.family, params=change.params,
            parent_id=change.parent_id, ir_before=change.ir_before, ir_after=change.ir_after, accepted=True,
            verdict=f"applied to {change.agent_id} ({by})"), self.clock.timestamp_ns())
        return None

    def can_halt(self) -> str | None:
        return None if self.risk_engine is not None else "the RiskEngine is not attached yet"

    def set_trading_state(self, state: TradingStateName) -> None:
        self.risk_engine.set_trading_state(NautilusTradingState[state])

    def flatten(self) -> None:
        """Every instrument's orders cancelled and positions closed."""
        for desk in self.desks:
            self.cancel_all_orders(desk.instrument_id)  # cancels bypass the RiskEngine
            self.close_all_positions(desk.instrument_id)

    def exposure(self) -> tuple[bool, int]:
        cache, flat, busy = self.cache, True, 0
        for desk in self.desks:
            instrument_id = desk.instrument_id
            busy += cache.orders_open_count(instrument_id=instrument_id) + cache.orders_inflight_count(
                instrument_id=instrument_id) + cache.orders_emulated_count(instrument_id=instrument_id)
            flat = flat and self.portfolio.is_flat(instrument_id)
        return flat, busy

    def _rejoin_touch(self, directive: ExecutionDirective) -> ExecutionDirective:
        """A post-only limit planned at the passive touch may cross the book by the time a human approves it, and
        the venue would reject it as a would-be taker. It rests at the current passive touch instead: the price
        only improves for us (a buy lower, a sell higher), and the re-check has already bounded how far it moved."""
        if directive.style != "LIMIT" or directive.price is None:
            return directive
        market = self.market(directive.instrument)
        if directive.side == "BUY" and directive.price >= market.ask:
            return msgspec.structs.replace(directive, price=market.bid)
        if directive.side == "SELL" and directive.price <= market.bid:
            return msgspec.structs.replace(directive, price=market.ask)
        return directive

    # ------------------------------------------------------------------------------------------ timer, commands

    def _on_timer(self, event: Any) -> None:
        self._sink.flush()  # an intent's announcement waits for its order's first event at most until here
        now = self.clock.timestamp_ns()
        if self._inbox is not None:  # before any countdown can execute: an E-stop sent meanwhile comes first
            self._take_estop_latch(now)
        bus = self._bus
        bus.publish(TimerTick(now))
        gate = self.gate
        gate.tick(now)
        if self._inbox is not None:
            batch = self._inbox.drain()
            if batch.estop is not None:  # an engage queued in this batch jumps it, and its message is skipped
                self._take_estop(batch.estop, now)
            if bus.has_subscribers(CommandRead):
                for message in batch.stale + batch.fresh:
                    bus.publish(CommandRead(message))
            gate.handle_commands(batch.fresh, batch.stale, batch.lost, now)
        fields = self._fields
        fields.pending_intents[0] = len(gate.pending)
        fields.estop[0] = gate.estop.state
        fields.autonomy[0] = gate.autonomy
        if self._spenders:  # the crew's model spend over the last hour, for the bridge (not a gauge left at zero)
            write_llm_spend(fields, [spender.llm_spend() for spender in self._spenders])

    def _take_estop_latch(self, now: int) -> None:
        latch = self._inbox.estop_latched()  # type: ignore[union-attr]
        if latch is not None:
            self._take_estop(latch, now)

    def _take_estop(self, latch: EStopLatch, now: int) -> None:
        self.gate.take_latched_estop(latch.command_id, now)
        fields = self._fields
        fields.pending_intents[0] = len(self.gate.pending)
        fields.estop[0] = self.gate.estop.state

    def on_order_rejected(self, event: Any) -> None:
        """A post-only limit the book ran through on its way to the venue is re-posted at the new passive touch,
        up to POST_ONLY_REPOSTS times, while the price is still within the plan's slippage bound."""
        planned = self._post_only.pop(event.client_order_id.value, None)
        if planned is None or not getattr(event, "due_post_only", False) or not self.gate.estop.released:
            return
        directive, attempts = planned
        market = self.market(directive.instrument)
        if attempts >= POST_ONLY_REPOSTS or self.gate.recheck(directive, market) is not None:
            return
        directive = msgspec.structs.replace(directive, price=market.bid if directive.side == "BUY" else market.ask)
        result = self.executor.execute(directive)
        if result.submitted:
            desk = self._desk_of[directive.instrument]
            desk.working.add(result.client_order_id)
            self._desk_of_order[result.client_order_id] = desk
            self._post_only[result.client_order_id] = (directive, attempts + 1)

    def on_order_event(self, event: Any) -> None:
        order = self.cache.order(event.client_order_id)
        if order is None or order.is_closed:
            desk = self._desk_of_order.pop(event.client_order_id.value, None)
            if desk is not None:
                desk.working.discard(event.client_order_id.value)
            if not isinstance(event, OrderRejected):
                self._post_only.pop(event.client_order_id.value, None)

    def on_position_event(self, event: Any) -> None:
        desk = self._desk_of_id.get(event.instrument_id)
        if desk is not None and self.gate.estop.released:  # during an E-stop nothing new is placed, not even a stop
            desk.stop_loss.on_position_event(event)

    def on_position_closed(self, event: Any) -> None:
        self._bus.publish(PositionClosed(self.outcomes.on_position_closed(event, self._agent_of_intent)))
        desk = self._desk_of_id.get(event.instrument_id)
        if desk is not None:
            desk.stop_loss.on_position_event(event)
        self.gate.estop.progress(self.clock.timestamp_ns())

    def _crew(self, desk: InstrumentDesk, slot: int, state: CrewState, task: CrewTask, value: float, *,
              now: int | None, confidence: float | None = None) -> None:
        fields = desk.fields
        fields.crew_state[slot] = state
        fields.crew_task[slot] = task
        fields.crew_task_value[slot] = value
        if confidence is not None:
            fields.crew_confidence[slot] = confidence
        if now is not None:
            fields.crew_last_decision_ns[slot] = now


def write_llm_spend(fields: RecordFields, spends: list[LlmSpend]) -> None:
    """The crew's model spend over the last hour into the ContextWindow: in all, per role (LLM_ROLES' order; a role
    llm.toml does not know is counted in the totals only), and the calls in flight and queued now."""
    role_tokens = np.zeros(len(LLM_ROLES))
    role_cost = np.zeros(len(LLM_ROLES))
    tokens = cost = 0.0
    for spend in spends:
        for role, (role_spent_tokens, role_spent_cost) in spend.by_role.items():
            tokens += role_spent_tokens
            cost += role_spent_cost
            if role in LLM_ROLES:
                role_tokens[LLM_ROLES.index(role)] += role_spent_tokens
                role_cost[LLM_ROLES.index(role)] += role_spent_cost
    fields.llm_tokens_hour[0] = tokens
    fields.llm_cost_hour[0] = cost
    fields.llm_role_tokens_hour[:] = role_tokens
    fields.llm_role_cost_hour[:] = role_cost
    fields.llm_budget_exhausted[0] = any(spend.exhausted for spend in spends)
    fields.llm_in_flight[0] = min(255, sum(spend.in_flight for spend in spends))
    fields.llm_queue_depth[0] = min(65_535, sum(spend.queued for spend in spends))


def _crew_code(agent_id: str) -> CrewAgent:
    for code in CrewAgent:
        if code.name.lower().replace("_", "-") in agent_id.lower():
            return code
    return CrewAgent.NONE

