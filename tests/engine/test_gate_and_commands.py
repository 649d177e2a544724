"""The autonomy gate, the humans' commands over the CommandRing, the E-stop, dry run and the notional cap.

Each scenario runs a real node (sim data + Sandbox) in-process; the test plays the bridge by writing commands into
the CommandRing, and proposes intents through the strategy's own path (compile → gate → execute).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from sextant.state import messages
from sextant.state.bus import EventPublished, TimerTick
from sextant.state.ring import CommandRingWriter
from tests.engine.conftest import engine_config, intent, run_engine


def scenario(tmp_path: Path, steps: list[tuple[float, Any]], agents: list[Any] | None = None,
             **config: Any) -> tuple[Any, list]:
    """steps: (seconds after start, callable(parts) or a Command to send); `agents`: the crew (default none)."""
    commands = CommandRingWriter(tmp_path / "commands.mmap")

    def send(command: messages.Command) -> None:
        commands.publish(command, ts_ns=time.time_ns())

    def send_once(parts: Any, loop: Any, step: SendWhen) -> None:
        if step.ready(parts):
            send(step.command)
        else:
            loop.call_later(0.05, send_once, parts, loop, step)

    def schedule(parts: Any, loop: Any) -> None:
        for delay, step in steps:
            if isinstance(step, messages.Command):
                loop.call_later(delay, send, step)
            elif isinstance(step, SendWhen):
                loop.call_later(delay, send_once, parts, loop, step)
            else:
                loop.call_later(delay, step, parts)

    return run_engine(engine_config(tmp_path, **config), schedule, agents)


@dataclass(frozen=True)
class SendWhen:
    """A command sent at the first check, from its step's time on, at which `ready(parts)` holds: a scenario that
    needs a state (a position open) waits for it rather than guessing how long a busy machine takes."""

    ready: Callable[[Any], bool]
    command: messages.Command


def holding(parts: Any) -> bool:
    strategy = parts.strategy
    return not strategy.portfolio.is_flat(strategy.desks[0].instrument_id)


def propose(intent_id: str, kind: str = "TrendFollow", offset: float = 1.0, **fields: Any) -> Any:
    def step(parts: Any) -> None:
        strategy = parts.strategy
        position = float(strategy.portfolio.net_position(strategy.desks[0].instrument_id) or 0)
        strategy.propose(intent(intent_id, kind, position + offset, **fields))
    return step


def of(collected: list, kind: type) -> list[Any]:
    return [m.message for m in collected if isinstance(m.message, kind)]


def result(collected: list, command_id: str) -> messages.CommandResult:
    (answer,) = [r for r in of(collected, messages.CommandResult) if r.command_id == command_id]
    return answer


@pytest.mark.slow
class TestManual:
    def test_an_intent_waits_then_approve_executes_it(self, tmp_path: Path) -> None:
        parts, collected = scenario(tmp_path, [
            (1.0, propose("i-1", style="MARKET")),
            (2.5, messages.Approve(command_id="c-1", intent_id="i-1")),
        ], duration_s=4.0)
        (generated,) = of(collected, messages.IntentGenerated)
        assert generated.requires_approval and generated.plan == "BUY 1 at market"
        submitted = of(collected, messages.OrderSubmitted)
        assert [s.intent_id for s in submitted] == ["i-1"]
        approval_ts = [m.ts_ns for m in collected if isinstance(m.message, messages.IntentApproved)][0]
        generated_ts = [m.ts_ns for m in collected if isinstance(m.message, messages.IntentGenerated)][0]
        assert approval_ts - generated_ts > 1e9, "nothing may execute before the human approves"
        assert of(collected, messages.IntentApproved)[0].by == "human"
        assert result(collected, "c-1").applied
        assert of(collected, messages.OrderFilled)[0].intent_id == "i-1"

    def test_while_a_card_waits_its_proposer_awaits_the_captain_and_the_rest_of_the_crew_holds(
            self, tmp_path: Path) -> None:
        from sextant.state.layout import CrewState, CrewTask
        from sextant.swarm.agents.mean_reversion import MeanReversionAgent, MeanReversionConfig
        from sextant.swarm.agents.momentum import MomentumAgent, MomentumConfig

        # a mean reversion that never sees a z-score high enough to trade: only momentum's card waits
        crew = [MomentumAgent(MomentumConfig()), MeanReversionAgent(MeanReversionConfig(entry_z=1e9))]
        seen: list[tuple[list[int], list[int]]] = []

        def look(parts: Any) -> None:
            fields = parts.context.fields
            seen.append((list(fields.crew_task[:2]), list(fields.crew_state[:2])))

        def from_momentum(parts: Any) -> None:
            strategy = parts.strategy
            strategy.propose(msgspec.structs.replace(intent("i-1", "TrendFollow", 1.0, style="MARKET"),
                                                     agent=crew[0].agent_id))

        scenario(tmp_path, [(1.0, from_momentum), (2.0, look)], agents=crew, duration_s=2.5)
        assert seen == [([CrewTask.WAITING_APPROVAL, CrewTask.HOLDING_FOR_CARD],
                         [CrewState.SUGGESTING, CrewState.IDLE])]

    def test_reject_discards_the_intent(self, tmp_path: Path) -> None:
        parts, collected = scenario(tmp_path, [
            (1.0, propose("i-1", style="MARKET")),
            (2.0, messages.Reject(command_id="c-1", intent_id="i-1", reason="not today")),
            (2.5, messages.Approve(command_id="c-2", intent_id="i-1")),
        ], duration_s=3.5)
        (rejected,) = of(collected, messages.IntentRejected)
        assert rejected.reason == "not today" and rejected.by == "human"
        assert not of(collected, messages.OrderSubmitted)
        assert result(collected, "c-1").applied
        assert not result(collected, "c-2").applied and "no pending intent" in result(collected, "c-2").reason

    def test_a_rejected_trade_is_not_put_to_the_captain_again_inside_the_cool_down(self, tmp_path: Path) -> None:
        parts, collected = scenario(tmp_path, [
            (1.0, propose("i-1", style="MARKET")),
            (1.5, messages.Reject(command_id="c-1", intent_id="i-1")),
            (2.0, propose("i-2", style="MARKET")),  # the same agent, the same way, at once: held back
            (2.2, propose("i-3", style="MARKET", offset=-1.0)),  # the other way is heard
        ], duration_s=3.0, reject_cooldown_secs=60.0)
        assert [e.intent_id for e in of(collected, messages.IntentGenerated)] == ["i-1", "i-3"]
        assert list(parts.strategy.pending) == ["i-3"]

    def test_modify_changes_quantity_then_approve_uses_it(self, tmp_path: Path) -> None:
        parts, collected = scenario(tmp_path, [
            (1.0, propose("i-1", kind="MeanReversion", offset=2.0)),
            (2.0, messages.Modify(command_id="c-1", intent_id="i-1", quantity=0.5, style="MARKET")),
            (2.5, messages.Approve(command_id="c-2", intent_id="i-1")),
        ], duration_s=3.5)
        generated = of(collected, messages.IntentGenerated)
        assert [g.style for g in generated] == ["LIMIT", "MARKET"]
        assert generated[-1].quantity == 0.5
        (submitted,) = of(collected, messages.OrderSubmitted)
        assert submitted.quantity == 0.5 and submitted.order_type == "MARKET"

    def test_a_modify_is_replanned_under_the_risk_field_and_never_exceeds_it(self, tmp_path: Path) -> None:
        from sextant.risk.hull import RiskLimits

        def tighten(parts: Any) -> None:  # a delta limit the position already uses most of
            held = float(parts.context.record["position_size"]) * 0.01
            parts.encoder.set_risk_limits(RiskLimits(delta=held * 1.6, veto=100.0))

        parts, collected = scenario(tmp_path, [
            (0.5, propose("first", style="MARKET", offset=4.0)),
            (0.7, messages.Approve(command_id="c-0", intent_id="first")),
            (1.2, tighten),
            (1.7, propose("more", kind="MeanReversion", offset=4.0)),
            (2.0, messages.Modify(command_id="c-1", intent_id="more", style="MARKET")),
            (2.2, messages.Modify(command_id="c-2", intent_id="more", quantity=4.0)),
            (2.5, messages.Approve(command_id="c-3", intent_id="more")),
        ], duration_s=3.5)
        planned, modified = [g for g in of(collected, messages.IntentGenerated) if g.intent_id == "more"]
        assert planned.quantity < 4.0, "the field cut the plan"
        assert modified.style == "MARKET" and modified.quantity <= planned.quantity, "a style change keeps the cut"
        assert not result(collected, "c-2").applied and "risk field allows" in result(collected, "c-2").reason
        submitted = [s for s in of(collected, messages.OrderSubmitted) if s.intent_id == "more"]
        assert [s.quantity for s in submitted] == [modified.quantity]

    @pytest.mark.parametrize(("modify", "reason"), [
        ({"quantity": float("nan")}, "positive finite"),
        ({"quantity": -1.0}, "positive finite"),
        ({"quantity": 1e9}, "max position"),
        ({"price": 60000.0}, "takes no price"),
    ])
    def test_a_bad_modify_is_refused_and_the_intent_stays(self, tmp_path: Path, modify: dict, reason: str) -> None:
        parts, collected = scenario(tmp_path, [
            (1.0, propose("i-1", style="MARKET")),
            (1.5, messages.Modify(command_id="c-1", intent_id="i-1", **modify)),
            (2.0, messages.Approve(command_id="c-2", intent_id="i-1")),
        ], duration_s=3.0)
        assert not result(collected, "c-1").applied and reason in result(collected, "c-1").reason
        assert result(collected, "c-2").applied
        assert of(collected, messages.OrderSubmitted)[0].quantity == 1.0

    def test_an_unanswered_intent_expires(self, tmp_path: Path) -> None:
        parts, collected = scenario(tmp_path, [(0.5, propose("i-1", style="MARKET"))], duration_s=3.0,
                                    approval_ttl_secs=1.0)
        assert [e.intent_id for e in of(collected, messages.IntentExpired)] == ["i-1"]
        assert not of(collected, messages.OrderSubmitted)


@pytest.mark.slow
class TestAssistedAndAuto:
    def test_assisted_confident_intents_approve_after_the_countdown(self, tmp_path: Path) -> None:
        parts, collected = scenario(tmp_path, [
            (0.5, propose("confident", style="MARKET", confidence=0.9)),
            (0.6, propose("unsure", style="MARKET", confidence=0.4, offset=-1.0)),
        ], duration_s=3.5, autonomy="ASSISTED", assisted_countdown_secs=1.5)
        generated = {g.intent_id: g for g in of(collected, messages.IntentGenerated)}
        assert generated["confident"].auto_approve_at_ns is not None
        assert generated["unsure"].auto_approve_at_ns is None and generated["unsure"].requires_approval
        approved = of(collected, messages.IntentApproved)
        assert [(a.intent_id, a.by) for a in approved] == [("confident", "countdown")]

    def test_auto_executes_at_once(self, tmp_path: Path) -> None:
        parts, collected = scenario(tmp_path, [(0.5, propose("i-1", style="MARKET"))], duration_s=2.0,
                                    autonomy="AUTO")
        assert of(collected, messages.IntentApproved)[0].by == "auto"
        assert of(collected, messages.OrderFilled)

    def test_auto_hands_the_order_to_nautilus_before_announcing_its_intent_and_the_log_keeps_the_order(
            self, tmp_path: Path) -> None:
        """Writing the intent's events would cost the order's path: they go out once the order has been submitted
        to Nautilus, still ahead of the order's own events. When Nautilus' RiskEngine passes it on to the venue
        client is up to its own queue, and so is no part of this guarantee (it held only on an idle machine)."""
        steps: list[str] = []

        def watch_then_propose(parts: Any) -> None:
            strategy = parts.strategy

            def submitted(order: Any, submit: Any = strategy.submit_order) -> Any:
                outcome = submit(order)
                steps.append("submitted to Nautilus")
                return outcome

            strategy.submit_order = submitted
            parts.bus.subscribe(EventPublished, lambda published: steps.append(type(published.event).__name__))
            propose("i-1", style="MARKET")(parts)

        _, collected = scenario(tmp_path, [(0.5, watch_then_propose)], duration_s=2.0, autonomy="AUTO")
        kinds = [type(m.message) for m in collected if getattr(m.message, "intent_id", None) == "i-1"]
        assert kinds[:3] == [messages.IntentGenerated, messages.IntentApproved, messages.OrderSubmitted]
        assert steps[:4] == ["submitted to Nautilus", "IntentGenerated", "IntentApproved", "OrderSubmitted"]

    def test_autonomy_above_the_ceiling_is_refused(self, tmp_path: Path) -> None:
        parts, collected = scenario(tmp_path, [
            (0.5, messages.SetAutonomy(command_id="c-1", level="AUTO")),
            (0.7, messages.SetAutonomy(command_id="c-2", level="ASSISTED")),
        ], duration_s=1.5, autonomy_ceiling="ASSISTED")
        assert not result(collected, "c-1").applied and "ceiling" in result(collected, "c-1").reason
        assert result(collected, "c-2").applied
        assert [a.level for a in of(collected, messages.AutonomyChanged)] == ["ASSISTED"]
        assert parts.context.record["autonomy"] == 1


@pytest.mark.slow
class TestEStop:
    def test_estop_cancels_flattens_halts_and_blocks_new_orders(self, tmp_path: Path) -> None:
        parts, collected = scenario(tmp_path, [
            (0.5, propose("buy", style="MARKET", offset=2.0)),
            (1.0, propose("rest", kind="TrendFollow", offset=-1.0)),  # an emulated trailing stop, 50 bps away
            (2.0, messages.EStop(command_id="stop", engage=True)),
            (3.5, propose("after", style="MARKET")),
        ], duration_s=4.5, autonomy="AUTO")
        changes = [m for m in collected if isinstance(m.message, messages.EStopChanged)]
        assert [c.message.state for c in changes] == ["ENGAGING", "ENGAGED"]
        assert changes[-1].message.trading_state == "HALTED" and changes[-1].message.reason == "flat and halted"
        assert result(collected, "stop").applied
        assert parts.node.portfolio.is_flat(parts.strategy.desks[0].instrument_id)
        assert not parts.node.cache.orders_open()
        assert [c.intent_id for c in of(collected, messages.OrderCanceled)] == ["rest"]
        submitted_after = [m for m in collected if isinstance(m.message, messages.OrderSubmitted)
                           and m.message.intent_id == "after"]
        assert not submitted_after
        assert "E-stop" in [r.reason for r in of(collected, messages.IntentRejected) if r.intent_id == "after"][0]

    def test_the_stop_is_announced_complete_only_after_its_closing_fill(self, tmp_path: Path) -> None:
        _, collected = scenario(tmp_path, [
            (0.5, propose("buy", style="MARKET", offset=2.0)),
            (1.5, SendWhen(holding, messages.EStop(command_id="stop", engage=True))),
        ], duration_s=3.5, autonomy="AUTO")
        order = [type(m.message).__name__ for m in collected
                 if isinstance(m.message, (messages.EStopChanged, messages.OrderFilled, messages.CommandResult))]
        assert order == ["OrderFilled", "EStopChanged", "OrderFilled", "EStopChanged", "CommandResult"]
        engaged = [m.message for m in collected if isinstance(m.message, messages.EStopChanged)][-1]
        assert engaged.state == "ENGAGED" and engaged.reason == "flat and halted"

    def test_release_returns_to_active(self, tmp_path: Path) -> None:
        parts, collected = scenario(tmp_path, [
            (0.5, messages.EStop(command_id="stop", engage=True)),
            (1.0, messages.EStop(command_id="again", engage=True)),
            (1.5, messages.EStop(command_id="go", engage=False)),
            (2.0, propose("after", style="MARKET")),
        ], duration_s=3.0, autonomy="AUTO")
        assert [c.state for c in of(collected, messages.EStopChanged)] == ["ENGAGING", "ENGAGED", "RELEASED"]
        assert not result(collected, "again").applied
        assert result(collected, "go").applied
        assert [s.intent_id for s in of(collected, messages.OrderSubmitted)] == ["after"]


@pytest.mark.slow
class TestSafety:
    def test_dry_run_submits_nothing_to_the_venue(self, tmp_path: Path) -> None:
        parts, collected = scenario(tmp_path, [
            (0.5, propose("i-1", style="MARKET")),
            (1.0, propose("i-2", kind="DeltaHedge", offset=2.0, horizon_s=2.0)),
        ], duration_s=2.5, autonomy="AUTO", dry_run=True)
        submitted = of(collected, messages.OrderSubmitted)
        assert [s.intent_id for s in submitted] == ["i-1", "i-2"] and all(s.dry_run for s in submitted)
        assert parts.node.cache.orders() == []  # nothing reached Nautilus, let alone the Sandbox venue
        assert not of(collected, messages.OrderFilled)

    def test_our_notional_cap_denies_what_the_risk_engine_would_let_through(self, tmp_path: Path) -> None:
        parts, collected = scenario(tmp_path, [(0.5, propose("big", style="MARKET", offset=5.0))], duration_s=1.5,
                                    autonomy="AUTO", max_notional_usd=1_000.0)
        (rejected,) = of(collected, messages.OrderRejected)
        assert rejected.denied and rejected.intent_id == "big" and "exceeds the cap" in rejected.reason
        assert parts.node.cache.orders() == []

    @pytest.mark.parametrize(("target", "reason"), [(float("nan"), "not a finite number"),
                                                    (float("inf"), "not a finite number"),
                                                    (500.0, "max position")])
    def test_bad_intents_are_rejected_with_reasons(self, tmp_path: Path, target: float, reason: str) -> None:
        def bad(parts: Any) -> None:
            parts.strategy.propose(intent("bad", "TrendFollow", target))

        parts, collected = scenario(tmp_path, [(0.5, bad)], duration_s=1.0, autonomy="AUTO")
        (rejected,) = of(collected, messages.IntentRejected)
        assert reason in rejected.reason
        assert parts.node.cache.orders() == []

    def test_commands_written_before_the_engine_started_are_refused(self, tmp_path: Path) -> None:
        commands = CommandRingWriter(tmp_path / "commands.mmap")
        commands.publish(messages.EStop(command_id="old", engage=True))
        parts, collected = run_engine(engine_config(tmp_path, duration_s=1.5))
        assert not result(collected, "old").applied
        assert not of(collected, messages.EStopChanged)


@pytest.mark.slow
def test_an_approval_is_refused_when_risk_has_risen_past_the_veto_meanwhile(tmp_path: Path) -> None:
    from sextant.risk.hull import RiskLimits

    def tighten(parts: Any) -> None:
        held = float(parts.context.record["position_size"]) * 0.01
        parts.encoder.set_risk_limits(RiskLimits(delta=held / 0.95))

    parts, collected = scenario(tmp_path, [
        (0.5, propose("first", style="MARKET", offset=2.0)),
        (1.0, messages.Approve(command_id="c-1", intent_id="first")),
        (1.5, propose("more", style="MARKET", offset=0.1)),
        (1.6, propose("less", style="MARKET", offset=-1.0)),
        (2.0, tighten),
        (2.5, messages.Approve(command_id="c-2", intent_id="more")),
        (2.7, messages.Approve(command_id="c-3", intent_id="less")),
    ], duration_s=3.5)
    assert result(collected, "c-1").applied
    assert not result(collected, "c-2").applied and "over the veto threshold" in result(collected, "c-2").reason
    assert result(collected, "c-3").applied  # a reduction is never refused for risk
    assert [s.intent_id for s in of(collected, messages.OrderSubmitted)] == ["first", "less"]


@pytest.mark.slow
def test_an_assisted_countdown_holds_while_the_captain_reads_and_resumes_with_its_time(tmp_path: Path) -> None:
    _, collected = scenario(tmp_path, [
        (1.0, propose("i-1", style="MARKET", confidence=0.9)),
        (1.5, messages.HoldCountdown(command_id="h-1", intent_id="i-1", hold=True)),
        (2.5, messages.HoldCountdown(command_id="h-2", intent_id="i-1", hold=False)),
    ], autonomy="ASSISTED", assisted_countdown_secs=5.0, duration_s=8.0)
    (generated,) = of(collected, messages.IntentGenerated)
    assert generated.auto_approve_at_ns is not None
    held, resumed = of(collected, messages.CountdownChanged)
    assert held.held and held.auto_approve_at_ns is None and 0 < held.remaining_ns < 5e9
    (approved,) = of(collected, messages.IntentApproved)
    assert approved.by == "countdown"
    held_ts, resumed_ts = [m.ts_ns for m in collected if isinstance(m.message, messages.CountdownChanged)]
    approved_ts = [m.ts_ns for m in collected if isinstance(m.message, messages.IntentApproved)][0]
    assert generated.auto_approve_at_ns - held_ts == held.remaining_ns, "held with exactly the time it had left"
    assert not resumed.held and resumed.auto_approve_at_ns == resumed_ts + held.remaining_ns, \
        "resumed with the time it had left"
    assert approved_ts >= resumed.auto_approve_at_ns > generated.auto_approve_at_ns, "the hold pushed it back"
    assert result(collected, "h-1").applied and result(collected, "h-2").applied


def flood(tmp_path: Path, *, slots: int | None, pace_every: int, duration_s: float = 4.0,
          ) -> tuple[Any, list, dict[int, str], int, list[int]]:
    """10,000 commands written from another thread starting 0.5 s in, an E-stop engage as number 5,000, while two
    intents wait for approval: "early" is approved near the start of the flood, "late" after the E-stop.
    `pace_every`: sleep 1 ms after that many commands (10 gives ~1 s; 0 writes them as fast as it can).
    Returns (parts, events, command id by ring number, when the E-stop was written, the engine's poll times)."""
    ring = CommandRingWriter(tmp_path / "commands.mmap", slots=slots)
    by_number: dict[int, str] = {}
    written: dict[str, int] = {}
    polls: list[int] = []

    def command(n: int) -> messages.Command:
        if n == 5_000:
            return messages.EStop(command_id="stop", engage=True)
        if n == 50:
            return messages.Approve(command_id="approve-early", intent_id="early")
        if n == 7_000:
            return messages.Approve(command_id="approve-late", intent_id="late")
        kind = n % 4
        if kind == 0:
            return messages.SetAutonomy(command_id=f"c-{n}", level="MANUAL")
        if kind == 1:
            return messages.HoldCountdown(command_id=f"c-{n}", intent_id="nobody", hold=True)
        if kind == 2:
            return messages.Approve(command_id=f"c-{n}", intent_id="nobody")
        return messages.Reject(command_id=f"c-{n}", intent_id="nobody")

    def write_all() -> None:
        for n in range(10_000):
            message = command(n)
            by_number[ring.publish(message, ts_ns=time.time_ns())] = message.command_id
            written[message.command_id] = time.time_ns()
            if pace_every and n % pace_every == pace_every - 1:
                time.sleep(0.001)

    def start(parts: Any) -> None:
        parts.bus.subscribe(TimerTick, lambda tick: polls.append(tick.now_ns))
        threading.Thread(target=write_all, daemon=True).start()

    def schedule(parts: Any, loop: Any) -> None:
        loop.call_later(0.2, propose("early", style="MARKET"), parts)
        loop.call_later(0.3, propose("late", style="MARKET", offset=-1.0), parts)
        loop.call_later(0.5, start, parts)

    parts, collected = run_engine(engine_config(tmp_path, duration_s=duration_s, approval_ttl_secs=60.0), schedule)
    return parts, collected, by_number, written["stop"], polls


def assert_the_flood_held(collected: list, by_number: dict[int, str], stop_written_ns: int, polls: list[int]) -> None:
    assert len(by_number) == 10_000, "the writer finished"
    answered = [r.command_id for r in of(collected, messages.CommandResult)]
    lost = [n for event in of(collected, messages.CommandsLost) for n in range(event.first, event.last + 1)]
    assert len(answered) == len(set(answered)), "no command is answered twice"
    assert len(lost) == len(set(lost))
    lost_ids = {by_number[n] for n in lost}
    assert lost_ids & set(answered) <= {"stop"}, "a lost command gets no other answer, but a lost E-stop acts"
    assert set(answered) | lost_ids == set(by_number.values()), "every command is answered or reported lost"
    assert result(collected, "stop").applied, "the E-stop completes even when its own slot was overwritten"

    engaging = next(m for m in collected if isinstance(m.message, messages.EStopChanged))
    assert engaging.message.state == "ENGAGING"
    first_poll_after = min(t for t in polls if t >= stop_written_ns)
    assert engaging.ts_ns <= first_poll_after, "engaged by the first poll after the E-stop was written"
    after = collected[collected.index(engaging):]
    assert all(m.message.reduce_only for m in after if isinstance(m.message, messages.OrderSubmitted)), \
        "nothing but the E-stop's own close is sent after the engage"
    if "approve-late" in answered:
        late = result(collected, "approve-late")
        assert not late.applied
    assert not [m for m in after if isinstance(m.message, messages.IntentApproved)]


@pytest.mark.slow
class TestCommandFlood:
    def test_ten_thousand_commands_in_a_second_with_an_estop_among_them(self, tmp_path: Path) -> None:
        _, collected, by_number, stop_written_ns, polls = flood(tmp_path, slots=None, pace_every=10)
        assert_the_flood_held(collected, by_number, stop_written_ns, polls)
        assert result(collected, "approve-early").applied, "a command ahead of the E-stop still acts"

    def test_a_burst_that_laps_the_ring_is_reported_and_cannot_lose_the_estop(self, tmp_path: Path) -> None:
        _, collected, by_number, stop_written_ns, polls = flood(tmp_path, slots=64, pace_every=0)
        assert of(collected, messages.CommandsLost), "a 64-slot ring cannot hold an unpaced burst"
        assert_the_flood_held(collected, by_number, stop_written_ns, polls)
