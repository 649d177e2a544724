"""The perception router: deterministic rules first (L1, microseconds), LLM escalation (L2 → L3) only when the
rules are unsure, and never on the tick's time.

perceive() runs on every quote and returns at once. When L1's confidence is below `l1_threshold`, it looks for a
fresh answer: a cached one for the same market state (hash of rounded numbers), or the latest one. An answer applies
only to the market it was asked about (fresh or nothing): younger than `answer_ttl_s` (`cache_ttl_s` for a cached
one), the mid within `answer_max_move_bps` of the mid it was asked on, and the same sea (calm, choppy, storm); one
outside those bounds is dropped, with the reason, and no card comes of it. The card of one that is used says how
old it is and what it was asked on. Nothing is asked while the features are still warming up (no volatility yet,
fewer than `warm_quotes` quotes): an answer on zeros is no answer. If there is none, and no call is in flight, and
the hourly token/money budget allows, it starts
an asyncio task that asks L2 (the perception role) and, if L2 is unsure (< `l2_threshold`) or fails, L3 (the
strategy role). The task stores what comes back; a later perceive() uses it while it is fresh. An L3 answer
below `l3_threshold` is stored as a Hold: the model was asked and was unsure.

Never a storm: at most one call is in flight, and an escalation that got nothing usable (any failure the client
reports: transport, status, envelope, size, deadline, invalid answer, budget) is logged with its reason, charged to
the budget (what the response reported, at least `failed_call_tokens` / `failed_call_usd`), published as one
LlmFailed event, and followed by a back-off: `retry_after_failure_s`, doubling with each failure in a row up to
`max_retry_after_failure_s`; the first usable answer resets it (LlmRecovered). The rules' Hold stands meanwhile.

A model's reasoning reaches an intent only as the model's words: at most 300 characters of one printable line,
quoted and attributed ("the L2 model says: “…”").
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import numpy as np

from sextant.config import PerceptionSettings
from sextant.state import messages
from sextant.state.context import ContextSnapshot, render_market_text
from sextant.state.layout import CrewState, CrewTask
from sextant.swarm.agents.base import CrewMember
from sextant.swarm.agents.momentum import SECONDS_PER_YEAR
from sextant.swarm.calibration import AnswerRecord, ScoredAnswer, model_agent
from sextant.swarm.intent import AgentIntent, IntentKind, RiskBudget
from sextant.swarm.llm import Backoff, Judgement, LlmClient, LlmResult, LlmSpend, SpendBudget, plain_text

log = logging.getLogger("sextant.perception")


class PerceptionConfig(PerceptionSettings, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The router's settings: llm.toml's [perception] (inherited: checked once, in sextant/config.py), and the crew
    member's own."""

    agent_id: str = "perception-01"
    base_size: float = 1.0
    max_loss_usdt: float = 50.0
    wide_spread_bps: float = 50.0
    momentum_z: float = 1.5
    score_every_s: float = 1.0  # answers past their horizon are scored this often (engine time)

    @classmethod
    def from_settings(cls, settings: PerceptionSettings, **crew: object) -> PerceptionConfig:
        return cls(**msgspec.structs.asdict(settings), **crew)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class AskedOn:
    """The market an answer was asked about: it applies to that market only."""

    mid: float
    sea: str  # calm, choppy or storm
    at_s: float  # the router's clock when the answer came


def perception_prompt(record: np.void) -> str:
    """What the router asks a model about a market state (`sextant llm eval` asks the same)."""
    text = render_market_text(ContextSnapshot(max(1, int(record["write_seq"])), record, 0))
    return f"Market state: {text}\nShould the crew BUY, SELL or HOLD now?"


def sea_regime(sea_state: float) -> str:
    return "calm" if sea_state < 0.33 else "choppy" if sea_state < 0.66 else "storm"


@dataclass(frozen=True, slots=True)
class Decision:
    action: str  # BUY | SELL | HOLD | REDUCE
    confidence: float
    reasoning: str
    layer: str  # L1 | L2 | L3 | cache
    target: float | None = None
    asked_on: AskedOn | None = None  # a model's answer: the market it was asked about


def state_key(record: np.void) -> tuple:
    """What makes two market states 'the same question': mid in 10 bps steps, position, momentum and risk buckets."""
    mid = float(record["mid"])
    bucket = round(math.log(mid) / 0.001) if mid > 0 else 0
    return (bucket, round(float(record["position_size"]), 2), int(np.sign(record["momentum"][0]) * 2),
            round(float(record["risk_total"]), 1))


class PerceptionRouter(CrewMember):
    def __init__(self, config: PerceptionConfig | None = None, llm: LlmClient | None = None, *,
                 clock: Callable[[], float] = time.monotonic, record: AnswerRecord | None = None) -> None:
        super().__init__(config or PerceptionConfig())
        c = self.config
        self._llm = llm
        self._clock = clock  # seconds, monotonic: TTLs, the budget's hour and the back-off
        self.budget = SpendBudget(c.tokens_per_hour, c.usd_per_hour)  # charges: a failed call costs at least the floor
        self.spend = SpendBudget(c.tokens_per_hour, c.usd_per_hour)  # what the responses reported: what is shown
        self.backoff = Backoff(c.retry_after_failure_s, c.max_retry_after_failure_s)
        self._cache: dict[tuple, Decision] = {}
        self._latest: Decision | None = None
        self.stale_dropped = 0  # answers that came, or were kept, past their market: never a card
        self.record = record or AnswerRecord()  # every directional answer, scored: each model's calibration
        self._next_score_ns = 0
        self._task: asyncio.Task | None = None
        self.log: deque[str] = deque(maxlen=200)  # reasons for answers that were not used
        self.calls = 0
        # Where LlmFailed / LlmRecovered go (the engine's EventSink.publish), stamped with the last quote's time.
        self.publish: Callable[[messages.Event, int], object] | None = None
        self._now_ns = 0

    def llm_spend(self) -> LlmSpend:
        """Tokens and USD per role over the last hour as the responses reported them (not the budget's floor
        charges for failed calls), whether the budget is spent, and the calls in flight and queued: what the
        ContextWindow shows."""
        now = self._clock()
        llm = self._llm
        return LlmSpend(self.spend.spent_by_role(now), self.budget.exhausted(now),
                        llm.in_flight() if llm is not None else 0, llm.queue_depth() if llm is not None else 0)

    # ------------------------------------------------------------------------------------------------ L1

    def rules(self, record: np.void) -> Decision:
        c = self.config
        f = self.fields(record)
        position = f.position_size.item()
        total, veto = f.risk_total.item(), f.risk_veto.item()
        if veto > 0 and total > 0.5 * veto and position != 0:
            reduction = min(1.0, (total - 0.5 * veto) / (0.5 * veto))
            return Decision("REDUCE", min(0.95, 0.7 + 0.1 * total), f"hull strained (U={total:.2f}): reduce "
                            f"{reduction:.0%}", "L1", target=position * (1 - reduction))
        spread = f.spread_bps.item()
        if spread > c.wide_spread_bps:
            return Decision("HOLD", 0.9, f"spread {spread:.1f} bps too wide", "L1")
        horizon, volatility = f.horizon_s.item(0), f.volatility.item(1)
        expected = volatility * math.sqrt(horizon / SECONDS_PER_YEAR) if horizon > 0 else 0.0
        z = f.momentum.item(0) / expected if expected > 0 else 0.0
        if z >= c.momentum_z and position < c.base_size:
            return Decision("BUY", 0.75, f"momentum z {z:+.2f}", "L1")
        if z <= -c.momentum_z and position > -c.base_size:
            return Decision("SELL", 0.75, f"momentum z {z:+.2f}", "L1")
        return Decision("HOLD", 0.3, "no clear signal from the rules", "L1")

    # --------------------------------------------------------------------------------------------- perceive

    def perceive(self, record: np.void, instrument: str, now_ns: int) -> AgentIntent | None:
        self._now_ns = now_ns
        if now_ns >= self._next_score_ns and self._llm is not None:
            self._next_score_ns = now_ns + int(self.config.score_every_s * 1e9)
            for scored in self.record.score_due(float(record["mid"]), now_ns):
                self._announce(scored, now_ns)
        decision = self.rules(record)
        self.status = (CrewState.ACTIVE, CrewTask.IDLE, 0.0)
        if decision.confidence < self.config.l1_threshold and self._llm is not None:
            decision = self._escalated(record) or decision
        return self._intent(decision, record, instrument, now_ns)

    def model_agents(self) -> list[str]:
        """The agent names of the models this router asks (L2's and L3's): each has its record attested."""
        if self._llm is None:
            return []
        return sorted({model_agent(self._llm.model_name(role), role) for role in ("perception", "strategy")})

    def _announce(self, scored: ScoredAnswer, now_ns: int) -> None:
        """A scored answer goes on the stream with the model's record after it (the bridge shows it, the trust
        layer attests it)."""
        if self.publish is None:
            return
        record = self.record.score(scored.model, scored.role)
        self.publish(messages.LlmAnswerScored(
            model=scored.model, role=scored.role, action=scored.action, confidence=scored.confidence,
            asked_mid=scored.asked_mid, mid=scored.mid, hit=scored.hit, answers=record.answers, hits=record.hits),
            now_ns)

    def _escalated(self, record: np.void) -> Decision | None:
        now = self._clock()
        key = state_key(record)
        if self._latest is not None:
            if self._fresh(self._latest, record, now, self.config.answer_ttl_s):
                return self._latest
            self._latest = None
        cached = self._cache.get(key)
        if cached is not None:
            if self._fresh(cached, record, now, self.config.cache_ttl_s):
                return Decision(cached.action, cached.confidence, cached.reasoning, "cache", cached.target,
                                cached.asked_on)
            del self._cache[key]
        if int(record["quote_count"]) < self.config.warm_quotes or not float(record["volatility"][1]) > 0:
            return None  # warming up: the rules' Hold stands
        if self.budget.exhausted(now):
            self.status = (CrewState.IDLE, CrewTask.LLM_BUDGET_SPENT, self.budget.spent(now)[1])
            return None
        if self.backoff.quiet(now):
            return None
        if self._task is None or self._task.done():  # one call in flight at most
            prompt = perception_prompt(record)
            self._task = asyncio.get_running_loop().create_task(
                self._ask(key, prompt, float(record["mid"]), sea_regime(float(record["sea_state"]))))
        self.status = (CrewState.THINKING, CrewTask.ASKING_LLM, 2.0)
        return None

    def _fresh(self, decision: Decision, record: np.void, now: float, ttl_s: float) -> bool:
        """Whether a model's answer still applies to this market; the reason goes to the log when it does not."""
        asked = decision.asked_on
        if asked is None:
            return True
        mid = float(record["mid"])
        moved_bps = abs(mid / asked.mid - 1) * 1e4 if asked.mid > 0 else math.inf
        sea = sea_regime(float(record["sea_state"]))
        reason = ""
        if now - asked.at_s > ttl_s:
            reason = f"{now - asked.at_s:.0f} s old (bound {ttl_s:g} s)"
        elif moved_bps > self.config.answer_max_move_bps:
            reason = f"the mid moved {moved_bps:.1f} bps since it was asked (bound {self.config.answer_max_move_bps:g})"
        elif sea != asked.sea:
            reason = f"the sea turned {sea} (asked in a {asked.sea} one)"
        if reason:
            self.stale_dropped += 1
            self.log.append(f"{decision.layer} answer {decision.action} dropped: {reason}")
            return False
        return True

    async def _ask(self, key: tuple, prompt: str, asked_mid: float, asked_sea: str) -> None:
        """L2, then L3 when L2 is unsure or fails. Runs beside the tick; stores what it gets, or backs off."""
        try:
            await self._escalate(key, prompt, asked_mid, asked_sea)
        except Exception as error:  # a dead task would skip the back-off: the storm of issue #18
            log.exception("perception escalation failed unexpectedly")
            self._failed("perception", LlmResult.failed("unexpected", f"unexpected {type(error).__name__}"))

    async def _escalate(self, key: tuple, prompt: str, asked_mid: float, asked_sea: str) -> None:
        c = self.config
        result = await self._call("perception", prompt, c.l2_deadline_s)
        role, layer = "perception", "L2"
        if result.judgement is None or result.judgement.confidence < c.l2_threshold:
            role, layer = "strategy", "L3"
            if self.budget.exhausted(self._clock()):
                result = LlmResult.failed("budget", "the hourly LLM budget is spent")
                self._note(role, result)
            else:
                result = await self._call(role, prompt, c.l3_deadline_s)
        if result.judgement is None:
            self._failed(role, result)
            return
        decision = _from_judgement(result.judgement, layer)
        if layer == "L3" and decision.confidence < c.l3_threshold:
            decision = Decision("HOLD", decision.confidence, f"below the L3 floor {c.l3_threshold:g}: "
                                f"{decision.reasoning}", layer)
        decision = self._calibrated(decision, role, asked_mid)
        if self.backoff.failures and self.publish is not None:
            self.publish(messages.LlmRecovered(role=role, failures=self.backoff.failures), self._now_ns)
        self.backoff.succeeded()
        now = self._clock()
        decision = dataclasses.replace(decision, asked_on=AskedOn(asked_mid, asked_sea, now))
        self._cache[key] = decision
        self._latest = decision
        if len(self._cache) > 256:
            self._cache = {k: v for k, v in self._cache.items()
                           if v.asked_on is None or now - v.asked_on.at_s <= c.cache_ttl_s}

    def _calibrated(self, decision: Decision, role: str, asked_mid: float) -> Decision:
        """A directional answer goes on the record, and into consensus at the hit rate its model has shown at
        that stated confidence (calibration.py), not at the confidence it states."""
        if decision.action not in ("BUY", "SELL") or self._llm is None:
            return decision
        model = self._llm.model_name(role)  # type: ignore[arg-type]
        score = self.record.score(model, role, decision.confidence)
        self.record.asked(model, role, decision.action, decision.confidence, asked_mid, self._now_ns,
                          self.config.answer_horizon_s)
        reasoning = (f"{decision.reasoning} [stated {decision.confidence:.2f}, calibrated {score.calibrated:.2f} on "
                     f"{score.answers} scored answers of {model}]")
        return dataclasses.replace(decision, confidence=score.calibrated, reasoning=reasoning)

    async def _call(self, role: str, prompt: str, deadline_s: float) -> LlmResult:
        assert self._llm is not None
        c = self.config
        self.calls += 1
        result = await self._llm.ask(role, prompt, deadline_s)  # type: ignore[arg-type]
        if result.failure is None:
            tokens = result.tokens or c.failed_call_tokens  # a provider that reports no usage still spends
            cost = result.cost_usd
        else:
            tokens, cost = max(result.tokens, c.failed_call_tokens), max(result.cost_usd, c.failed_call_usd)
        self.budget.record(tokens, cost, self._clock(), role)
        self.spend.record(result.tokens, result.cost_usd, self._clock(), role)
        self.record.called(self._llm.model_name(role), role, time.time_ns(),  # type: ignore[arg-type]
                           result.tokens, result.cost_usd, result.latency_s,
                           result.failure.kind if result.failure is not None else None)
        if result.judgement is None:
            self._note(role, result)
        return result

    def _note(self, role: str, result: LlmResult) -> None:
        reason = f"{role}: {result.reason}; holding"
        self.log.append(reason)
        log.warning("perception %s", reason)

    def _failed(self, role: str, result: LlmResult) -> None:
        """Back off, and say so once for this back-off."""
        retry_in_s = self.backoff.failed(self._clock())
        if self.publish is not None and result.failure is not None:
            self.publish(messages.LlmFailed(role=role, kind=result.failure.kind, reason=result.failure.reason,
                                            retry_in_s=retry_in_s, failures=self.backoff.failures), self._now_ns)


    def _intent(self, decision: Decision, record: np.void, instrument: str, now_ns: int) -> AgentIntent | None:
        c = self.config
        if decision.action == "HOLD":
            return None
        position = self.fields(record).position_size.item()
        kind: IntentKind
        if decision.action == "REDUCE":
            target, kind = decision.target, "DeltaHedge"
        else:
            target, kind = (c.base_size if decision.action == "BUY" else -c.base_size), "TrendFollow"
        if target is None or target == position:
            return None
        self.status = (CrewState.SUGGESTING, CrewTask.ASKING_LLM if decision.layer != "L1" else CrewTask.IDLE,
                       2.0 if decision.layer == "L2" else 3.0 if decision.layer == "L3" else 1.0)
        reasoning = decision.reasoning
        if decision.asked_on is not None:  # a model's answer: how old, and on what market
            asked = decision.asked_on
            reasoning += (f" (answered {self._clock() - asked.at_s:.0f} s ago, asked on mid {asked.mid:,.1f} in a "
                          f"{asked.sea} sea)")
        return AgentIntent(id=self._next_id(), agent=self.agent_id, kind=kind, instrument=instrument,
                           target_position=target, confidence=decision.confidence, created_ns=now_ns,
                           budget=RiskBudget(max_loss=c.max_loss_usdt, max_position=max(c.base_size, abs(position))),
                           title=f"[{decision.layer}] {decision.action.title()}", reasoning=reasoning)


def _from_judgement(judgement: Judgement, layer: str) -> Decision:
    return Decision(judgement.action, judgement.confidence, models_words(judgement.reasoning, layer), layer)


def models_words(reasoning: str, layer: str) -> str:
    """A model's reasoning as the model's words, never as ours: capped, one printable line, quoted, attributed."""
    text = plain_text(reasoning)
    return f"the {layer} model says: “{text}”" if text else f"the {layer} model gave no reasoning"
