"""The gate on an integer clock: what becomes of each intent and each command, with no node and no wall clock."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from sextant.gate.core import Execute, Refuse, Wait, recheck
from sextant.state import messages
from sextant.state.layout import Autonomy, EStopState
from tests.fixtures.gate_venue import MS, intent, make_gate, received

TTL_MS, COUNTDOWN_MS = 30_000, 10_000


def approve(intent_id: str, command_id: str = "c-approve") -> messages.Approve:
    return messages.Approve(command_id=command_id, intent_id=intent_id)


def test_the_gate_imports_no_nautilus() -> None:
    code = "import sys, sextant.gate.core; print(sorted(m for m in sys.modules if m.startswith('nautilus')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


class TestManual:
    def test_an_intent_waits_and_approve_executes_it_once(self) -> None:
        gate, venue, log = make_gate(Autonomy.MANUAL)
        proposal = intent()
        decision = gate.propose(proposal, 0)
        assert decision == Wait(proposal.id, TTL_MS * MS, None) and not venue.orders
        gate.handle_commands([received(approve(proposal.id))], [], [], 5 * MS)
        assert [o.directive.intent_id for o in venue.orders] == [proposal.id]
        assert [(r.applied, r.reason) for r in log.results("c-approve")] == [(True, "approved")]
        gate.handle_commands([received(approve(proposal.id, "c-again"))], [], [], 6 * MS)
        assert len(venue.orders) == 1 and not log.results("c-again")[0].applied

    def test_an_intent_expires_at_its_ttl_and_can_no_longer_execute(self) -> None:
        gate, venue, log = make_gate(Autonomy.MANUAL, approval_ttl_ns=TTL_MS * MS)
        proposal = intent()
        gate.propose(proposal, 0)
        gate.tick(TTL_MS * MS - 1)
        assert not log.of(messages.IntentExpired)
        gate.tick(TTL_MS * MS)
        assert [e.intent_id for e in log.of(messages.IntentExpired)] == [proposal.id]
        gate.handle_commands([received(approve(proposal.id))], [], [], TTL_MS * MS + 1)
        assert not venue.orders
        assert "no pending intent" in log.results("c-approve")[0].reason

    def test_reject_drops_the_intent_with_the_captains_reason(self) -> None:
        gate, venue, log = make_gate(Autonomy.MANUAL)
        proposal = intent()
        gate.propose(proposal, 0)
        gate.handle_commands([received(messages.Reject(command_id="c1", intent_id=proposal.id, reason="no"))],
                             [], [], MS)
        assert [(e.intent_id, e.reason, e.by) for e in log.of(messages.IntentRejected)] == [(proposal.id, "no",
                                                                                             "human")]
        assert not gate.pending and not venue.orders and log.results("c1")[0].applied


class TestAfterAReject:
    """A trade the captain rejected is not put to them again by the same agent, the same way, for the cool-down;
    unless the market has moved past the re-arm distance, and then the card says so."""

    COOL_MS = 120_000

    def rejected(self) -> tuple:
        gate, venue, log = make_gate(Autonomy.MANUAL, reject_cooldown_ns=self.COOL_MS * MS, reject_rearm_bps=50.0)
        first = intent(0.05)
        gate.propose(first, 0)
        gate.handle_commands([received(messages.Reject(command_id="c-no", intent_id=first.id, reason="no"))],
                             [], [], MS)
        return gate, venue, log

    def test_the_same_agent_the_same_way_is_held_back_until_the_cool_down_ends(self) -> None:
        gate, _, log = self.rejected()
        assert gate.propose(intent(0.05), 2 * MS) is None
        assert gate.propose(intent(0.08), (self.COOL_MS + 1) * MS - 1) is None  # a bigger one is the same trade
        assert not gate.pending and len(log.of(messages.IntentGenerated)) == 1
        back = intent(0.05)
        assert gate.propose(back, (self.COOL_MS + 1) * MS) == Wait(back.id, (self.COOL_MS + 1 + TTL_MS) * MS, None)
        assert "again after a reject" not in log.of(messages.IntentGenerated)[-1].plan

    def test_another_agent_or_the_other_way_is_heard_at_once(self) -> None:
        gate, _, _ = self.rejected()
        other_agent, other_way = intent(0.05, agent="mean-reversion-01"), intent(-0.05)
        assert isinstance(gate.propose(other_agent, 2 * MS), Wait)
        assert isinstance(gate.propose(other_way, 3 * MS), Wait)

    def test_a_market_that_moved_past_the_re_arm_distance_brings_it_back_and_the_card_says_why(self) -> None:
        gate, venue, log = self.rejected()
        venue.bid, venue.ask = venue.bid * 1.004, venue.ask * 1.004  # 40 bps: not yet
        assert gate.propose(intent(0.05), 2 * MS) is None
        venue.bid, venue.ask = venue.bid / 1.004 * 1.006, venue.ask / 1.004 * 1.006  # 60 bps
        back = intent(0.05)
        assert isinstance(gate.propose(back, 3 * MS), Wait)
        card = log.of(messages.IntentGenerated)[-1]
        assert card.intent_id == back.id and "again after a reject: the market moved 60 bps" in card.plan

    def test_an_expired_or_approved_trade_starts_no_cool_down(self) -> None:
        gate, _, _ = make_gate(Autonomy.MANUAL, reject_cooldown_ns=self.COOL_MS * MS)
        expired = intent(0.05)
        gate.propose(expired, 0)
        gate.tick(TTL_MS * MS)
        assert isinstance(gate.propose(intent(0.05), TTL_MS * MS + 1), Wait)

    def test_a_zero_cool_down_turns_it_off(self) -> None:
        gate, _, _ = make_gate(Autonomy.MANUAL, reject_cooldown_ns=0)
        first = intent(0.05)
        gate.propose(first, 0)
        gate.handle_commands([received(messages.Reject(command_id="c-no", intent_id=first.id))], [], [], MS)
        assert isinstance(gate.propose(intent(0.05), 2 * MS), Wait)


class TestAssisted:
    def test_a_confident_intent_approves_itself_when_its_countdown_ends_not_before(self) -> None:
        gate, venue, _ = make_gate(Autonomy.ASSISTED, assisted_countdown_ns=COUNTDOWN_MS * MS)
        proposal = intent(confidence=0.9)
        assert gate.propose(proposal, 0) == Wait(proposal.id, TTL_MS * MS, COUNTDOWN_MS * MS)
        gate.tick(COUNTDOWN_MS * MS - 1)
        assert not venue.orders
        gate.tick(COUNTDOWN_MS * MS)
        assert [o.directive.intent_id for o in venue.orders] == [proposal.id]

    def test_an_unsure_intent_waits_for_a_human_with_no_countdown(self) -> None:
        gate, venue, _ = make_gate(Autonomy.ASSISTED)
        proposal = intent(confidence=0.5)
        assert gate.propose(proposal, 0) == Wait(proposal.id, TTL_MS * MS, None)
        gate.tick((TTL_MS - 1) * MS)
        assert not venue.orders

    def test_a_held_countdown_resumes_with_the_time_it_had_left_and_the_ttl_keeps_running(self) -> None:
        gate, venue, log = make_gate(Autonomy.ASSISTED, assisted_countdown_ns=COUNTDOWN_MS * MS)
        proposal = intent(confidence=0.9)
        gate.propose(proposal, 0)
        gate.handle_commands([received(messages.HoldCountdown(command_id="h", intent_id=proposal.id, hold=True))],
                             [], [], 4_000 * MS)
        gate.tick(20_000 * MS)
        assert not venue.orders, "held: the countdown does not run"
        gate.handle_commands([received(messages.HoldCountdown(command_id="r", intent_id=proposal.id,
                                                              hold=False))], [], [], 25_000 * MS)
        gate.tick(30_000 * MS)
        assert not venue.orders and log.of(messages.IntentExpired), "6 s were left, but the TTL ran out first"


class TestAuto:
    def test_an_intent_executes_at_once_on_the_book_it_was_planned_on(self) -> None:
        gate, venue, log = make_gate(Autonomy.AUTO)
        proposal = intent()
        assert gate.propose(proposal, 0) == Execute(proposal.id)
        assert [o.directive.intent_id for o in venue.orders] == [proposal.id] and not gate.pending
        kinds = [type(e).__name__ for e, _ in log.events]
        assert kinds == ["IntentGenerated", "IntentApproved"]

    def test_an_agents_reputation_ceiling_holds_it_below_the_humans_level(self) -> None:
        gate, venue, _ = make_gate(Autonomy.AUTO)
        gate.set_ceilings({"weak": Autonomy.MANUAL, "strong": Autonomy.AUTO}, 0.5, 0)
        assert isinstance(gate.propose(intent(agent="weak"), 0), Wait)
        assert isinstance(gate.propose(intent(agent="strong"), 0), Execute)
        assert [o.agent for o in venue.orders] == ["strong"]


class TestRecheck:
    def test_a_price_that_moved_past_the_slippage_allowance_refuses_the_approval(self) -> None:
        gate, venue, log = make_gate(Autonomy.MANUAL)
        proposal = intent()
        gate.propose(proposal, 0)
        venue.bid, venue.ask = 101_000.0, 101_001.0  # 100 bps, MARKET allows 50
        gate.handle_commands([received(approve(proposal.id))], [], [], MS)
        assert not venue.orders
        assert log.results("c-approve")[0].reason.startswith("price moved 100.0 bps")

    def test_a_risk_field_over_its_veto_refuses_new_exposure_but_never_an_exit(self) -> None:
        gate, venue, _ = make_gate(Autonomy.MANUAL)
        market = venue.market()
        entry = gate.propose(intent(0.05), 0)
        assert isinstance(entry, Wait)
        directive = gate.pending[entry.intent_id].directive
        assert directive is not None
        assert recheck(directive, market, 2.0, 1.0) is not None
        exit_market = venue.market().__class__(bid=market.bid, ask=market.ask, position=-0.05)
        assert recheck(directive, exit_market, 2.0, 1.0) is None

    def test_over_its_veto_a_portfolios_hedge_that_adds_to_one_instrument_is_still_allowed(self) -> None:
        """The field says the trade relieves it (a hedge of the net delta), though it grows this position."""
        gate, venue, _ = make_gate(Autonomy.MANUAL)
        entry = gate.propose(intent(0.05), 0)
        assert isinstance(entry, Wait)
        directive = gate.pending[entry.intent_id].directive
        assert directive is not None
        assert recheck(directive, venue.market(), 2.0, 1.0, relieves=True) is None


class TestModify:
    def test_a_style_only_modify_is_replanned_under_todays_risk_field(self) -> None:
        gate, venue, _ = make_gate(Autonomy.MANUAL)
        proposal = intent(0.1)
        gate.propose(proposal, 0)
        venue.factor = 0.5
        gate.handle_commands([received(messages.Modify(command_id="m", intent_id=proposal.id, style="IOC"))],
                             [], [], MS)
        directive = gate.pending[proposal.id].directive
        assert directive is not None and directive.style == "IOC" and directive.quantity == pytest.approx(0.05)

    def test_a_quantity_beyond_what_the_field_allows_is_refused_not_passed_through(self) -> None:
        gate, venue, log = make_gate(Autonomy.MANUAL)
        proposal = intent(0.1)
        gate.propose(proposal, 0)
        venue.factor = 0.5
        gate.handle_commands([received(messages.Modify(command_id="m", intent_id=proposal.id, quantity=0.1))],
                             [], [], MS)
        result = log.results("m")[0]
        assert not result.applied and result.reason.startswith("the risk field allows 0.05")
        assert gate.pending[proposal.id].directive.quantity == pytest.approx(0.1)  # type: ignore[union-attr]

    @pytest.mark.parametrize("quantity", [float("nan"), float("inf"), -1.0, 0.0])
    def test_a_quantity_that_is_not_a_positive_finite_number_is_refused(self, quantity: float) -> None:
        gate, _, log = make_gate(Autonomy.MANUAL)
        proposal = intent()
        gate.propose(proposal, 0)
        gate.handle_commands([received(messages.Modify(command_id="m", intent_id=proposal.id, quantity=quantity))],
                             [], [], MS)
        assert not log.results("m")[0].applied and "positive finite" in log.results("m")[0].reason

    def test_a_trailing_stop_takes_a_new_offset_and_the_card_says_it(self) -> None:
        gate, _, log = make_gate(Autonomy.MANUAL)
        proposal = intent(0.1)
        gate.propose(proposal, 0)
        gate.handle_commands([received(messages.Modify(command_id="m", intent_id=proposal.id, style="TRAILING_STOP",
                                                       trailing_offset_bps=35.0))], [], [], MS)
        assert log.results("m")[0].applied
        directive = gate.pending[proposal.id].directive
        assert directive is not None and directive.trailing_offset_bps == 35.0
        card = log.of(messages.IntentGenerated)[-1]
        assert card.style == "TRAILING_STOP" and card.trailing_offset_bps == 35.0 and "35 bps" in card.plan

    @pytest.mark.parametrize(("style", "field", "refusal"), [
        ("MARKET", {"trailing_offset_bps": 20.0}, "a MARKET order takes no trailing offset"),
        ("TRAILING_STOP", {"price": 99_000.0}, "a TRAILING_STOP order takes no price"),
        ("TRAILING_STOP", {"trailing_offset_bps": 5_000.0}, "above 1000"),
    ])
    def test_a_field_the_style_does_not_have_is_refused_with_the_reason(self, style: str, field: dict,
                                                                       refusal: str) -> None:
        gate, _, log = make_gate(Autonomy.MANUAL)
        proposal = intent(0.1)
        gate.propose(proposal, 0)
        gate.handle_commands([received(messages.Modify(command_id="m", intent_id=proposal.id, style=style,  # type: ignore[arg-type]
                                                       **field))], [], [], MS)
        result = log.results("m")[0]
        assert not result.applied and refusal in result.reason


class TestEStop:
    def test_engaging_drops_every_pending_intent_and_nothing_executes_until_released(self) -> None:
        gate, venue, log = make_gate(Autonomy.ASSISTED, assisted_countdown_ns=COUNTDOWN_MS * MS)
        venue.flat = False
        waiting = intent(confidence=0.9)
        gate.propose(waiting, 0)
        gate.handle_commands([received(messages.EStop(command_id="stop", engage=True))], [], [], MS)
        assert gate.estop.state == EStopState.ENGAGING and not gate.pending
        assert [(e.intent_id, e.reason) for e in log.of(messages.IntentRejected)] == [(waiting.id, "E-STOP")]
        assert isinstance(gate.propose(intent(), 2 * MS), Wait)
        gate.tick(COUNTDOWN_MS * MS * 2)
        assert not venue.orders

    def test_the_engage_is_answered_once_the_book_is_flat_after_engaged(self) -> None:
        gate, venue, log = make_gate()
        venue.flat, venue.busy = False, 1
        gate.handle_commands([received(messages.EStop(command_id="stop", engage=True))], [], [], MS)
        gate.tick(2 * MS)
        assert not log.results("stop") and venue.trading_states == ["REDUCING"] and venue.flattened == 1
        venue.flat, venue.busy = True, 0
        gate.tick(3 * MS)
        kinds = [(type(e).__name__, getattr(e, "state", None)) for e, _ in log.events]
        assert kinds[-2:] == [("EStopChanged", "ENGAGED"), ("CommandResult", None)]
        assert [r.reason for r in log.results("stop")] == ["flat and halted"]
        assert venue.trading_states == ["REDUCING", "HALTED"]

    def test_a_stop_that_cannot_flatten_halts_at_the_timeout_and_says_so(self) -> None:
        gate, venue, log = make_gate(flatten_timeout_ns=10_000 * MS)
        venue.flat = False
        gate.engage_estop("stop", 0)
        gate.tick(10_000 * MS)
        assert gate.estop.state == EStopState.ENGAGING
        gate.tick(10_001 * MS)
        assert gate.estop.state == EStopState.ENGAGED
        assert log.results("stop")[0].reason == "halted; still not flat after 10 s"

    def test_release_while_flattening_is_refused_so_the_engage_keeps_its_answer(self) -> None:
        gate, venue, log = make_gate()
        venue.flat = False
        gate.engage_estop("stop", 0)
        gate.handle_commands([received(messages.EStop(command_id="go", engage=False))], [], [], MS)
        assert not log.results("go")[0].applied and gate.estop.state == EStopState.ENGAGING

    def test_a_latched_engage_is_answered_once_though_its_ring_message_arrives_later(self) -> None:
        gate, _, log = make_gate()
        gate.take_latched_estop("stop", 0)
        gate.handle_commands([received(messages.EStop(command_id="stop", engage=True))], [], [], MS)
        assert len(log.results("stop")) == 1 and gate.estop.state == EStopState.ENGAGED

    def test_without_a_risk_engine_the_engage_is_refused_with_the_reason(self) -> None:
        gate, venue, log = make_gate()
        venue.risk_engine_ready = False
        gate.handle_commands([received(messages.EStop(command_id="stop", engage=True))], [], [], 0)
        assert log.results("stop")[0].reason == "the RiskEngine is not attached yet"


class TestCommands:
    def test_lost_ring_numbers_are_reported_and_stale_commands_refused(self) -> None:
        gate, _, log = make_gate()
        gate.handle_commands([], [received(approve("x", "old"))], [(5, 9)], 0)
        assert [(e.first, e.last) for e in log.of(messages.CommandsLost)] == [(5, 9)]
        assert "before this engine started" in log.results("old")[0].reason

    def test_an_undecodable_command_gets_a_result_that_says_so(self) -> None:
        gate, _, log = make_gate()
        broken = dataclasses.replace(received(approve("x")), message=None, error="bad msgpack")
        gate.handle_commands([broken], [], [], 0)
        assert log.of(messages.CommandResult)[0].reason == "undecodable command: bad msgpack"

    def test_a_command_whose_handling_fails_is_still_answered(self) -> None:
        gate, venue, log = make_gate()
        proposal = intent()
        gate.propose(proposal, 0)
        venue.market = lambda instrument: (_ for _ in ()).throw(RuntimeError("cache gone"))  # type: ignore[method-assign]
        gate.handle_commands([received(approve(proposal.id))], [], [], MS)
        assert log.results("c-approve")[0].reason == "engine error: RuntimeError: cache gone"

    def test_autonomy_above_the_ceiling_is_refused_and_a_lower_ceiling_brings_the_level_down(self) -> None:
        gate, _, log = make_gate(Autonomy.AUTO)
        gate.set_ceilings({"a": Autonomy.ASSISTED}, 0.4, 0)
        assert gate.autonomy == Autonomy.ASSISTED and log.of(messages.AutonomyChanged)[-1].ceiling == "ASSISTED"
        gate.handle_commands([received(messages.SetAutonomy(command_id="up", level="AUTO"))], [], [], MS)
        assert not log.results("up")[0].applied and gate.autonomy == Autonomy.ASSISTED


def test_an_execution_the_venue_refuses_is_a_refusal_with_its_reason() -> None:
    gate, venue, _ = make_gate(Autonomy.AUTO)
    venue.refuse_execution = "notional over the cap"
    proposal = intent()
    assert gate.propose(proposal, 0) == Refuse(proposal.id, "notional over the cap")
