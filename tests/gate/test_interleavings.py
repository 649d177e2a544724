"""The gate's promises over random interleavings of quotes, intents, commands, fills, floods and time (Hypothesis).

Every command gets exactly one answer; no order while the E-stop is engaging or engaged; an expired or rejected
intent never executes; a Modify never leaves more than the risk field allows; an intent executes at most once.
"""

from __future__ import annotations

from itertools import count

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sextant.state import messages
from sextant.state.layout import Autonomy, EStopState
from tests.fixtures.gate_venue import MS, intent, make_gate, received

TIMEOUT_MS = 10_000

steps = st.one_of(
    st.tuples(st.just("intent"), st.one_of(st.sampled_from([-0.2, -0.05, 0.05, 0.1, 0.25]), st.floats(-0.3, 0.3)),
              st.sampled_from([0.3, 0.7, 0.9]), st.sampled_from(["a", "b"])),
    # Hypothesis favours small integers: the durations that matter (a poll, a countdown, a TTL, the flatten
    # timeout) are named so that each example reaches them
    st.tuples(st.just("time"), st.one_of(st.sampled_from([50, 1_000, 10_000, 30_000, 40_000]),
                                         st.integers(1, 40_000))),
    st.tuples(st.just("quote"), st.floats(-80.0, 80.0)),  # bps move of the mid
    st.tuples(st.just("field"), st.sampled_from([0.0, 0.3, 0.5, 1.0]), st.booleans()),  # factor, over the veto
    st.tuples(st.just("fill"), st.floats(-0.3, 0.3), st.booleans(), st.integers(0, 2)),  # position, flat, busy
    st.tuples(st.just("approve"), st.integers(0, 8)),
    st.tuples(st.just("reject"), st.integers(0, 8)),
    st.tuples(st.just("modify"), st.integers(0, 8), st.one_of(st.none(), st.floats(0.0, 0.5)),
              st.sampled_from([None, "MARKET", "IOC", "LIMIT"])),
    st.tuples(st.just("hold"), st.integers(0, 8), st.booleans()),
    st.tuples(st.just("estop"), st.booleans(), st.booleans()),  # engage?, through the latch?
    st.tuples(st.just("autonomy"), st.sampled_from(list(Autonomy))),
    st.tuples(st.just("ceiling"), st.sampled_from(list(Autonomy))),
    st.tuples(st.just("lost"), st.integers(1, 500)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(steps, min_size=5, max_size=80), st.sampled_from(list(Autonomy)))
def test_the_gates_promises_hold_over_any_interleaving(script: list[tuple], level: Autonomy) -> None:
    gate, venue, log = make_gate(level, flatten_timeout_ns=TIMEOUT_MS * MS)
    now = 0
    command_ids = count(1)
    sent: list[str] = []  # every command id that reached the engine
    proposed: list[str] = []
    latched_waiting: list[str] = []  # latched engages whose ring message is still to come
    lost_ranges = 0

    def command(make) -> None:  # type: ignore[no-untyped-def]
        command_id = f"c{next(command_ids)}"
        sent.append(command_id)
        gate.handle_commands([received(make(command_id))], [], [], now)

    def target(index: int) -> str:
        return proposed[index % len(proposed)] if proposed else "unknown"

    for step in script:
        kind = step[0]
        if kind == "intent":
            _, position, confidence, agent = step
            proposal = intent(round(position, 2), agent=agent, confidence=confidence)
            proposed.append(proposal.id)
            gate.propose(proposal, now)
        elif kind == "time":
            now += step[1] * MS
            gate.tick(now)
        elif kind == "quote":
            mid = 100_000.0 * (1 + step[1] / 1e4)
            venue.bid, venue.ask = mid - 0.5, mid + 0.5
        elif kind == "field":
            venue.factor = step[1]
            venue.risk_total, venue.risk_veto = (2.0, 1.0) if step[2] else (0.0, 1.0)
        elif kind == "fill":
            venue.position, venue.flat, venue.busy = round(step[1], 2), step[2], step[3]
            gate.estop.progress(now)
        elif kind == "approve":
            command(lambda c: messages.Approve(command_id=c, intent_id=target(step[1])))
        elif kind == "reject":
            command(lambda c: messages.Reject(command_id=c, intent_id=target(step[1])))
        elif kind == "modify":
            intent_id = target(step[1])
            command_id = f"c{next(command_ids)}"
            sent.append(command_id)
            gate.handle_commands([received(messages.Modify(command_id=command_id, intent_id=intent_id,
                                                           quantity=step[2], style=step[3]))], [], [], now)
            if log.results(command_id)[0].applied:  # what the human asked for, or else the whole trade wanted
                pending = gate.pending[intent_id]
                assert pending.directive is not None and pending.intent.target_position is not None
                wanted = step[2] if step[2] is not None else abs(pending.intent.target_position - venue.position)
                allowed = venue.field_allows(pending.directive.side, wanted, venue.market())
                assert pending.directive.quantity <= allowed + 1e-9, "a Modify left more than the field allows"
        elif kind == "hold":
            command(lambda c: messages.HoldCountdown(command_id=c, intent_id=target(step[1]), hold=step[2]))
        elif kind == "estop":
            _, engage, latched = step
            if engage and latched:
                command_id = f"c{next(command_ids)}"
                sent.append(command_id)
                gate.take_latched_estop(command_id, now)
                latched_waiting.append(command_id)
            else:
                command(lambda c: messages.EStop(command_id=c, engage=engage))
        elif kind == "autonomy":
            command(lambda c: messages.SetAutonomy(command_id=c, level=step[1].name))
        elif kind == "ceiling":
            gate.set_ceilings({"a": step[1], "b": step[1]}, 0.5, now)
        elif kind == "lost":
            lost_ranges += 1
            gate.handle_commands([], [], [(1_000 * lost_ranges, 1_000 * lost_ranges + step[1])], now)
        if latched_waiting and kind in ("time", "approve"):  # the latched engage's own message, one poll later
            gate.handle_commands([received(messages.EStop(command_id=latched_waiting.pop(0), engage=True))], [],
                                 [], now)
        for order in venue.orders:
            assert order.estop == EStopState.RELEASED, "an order while the E-stop was not released"

    for command_id in latched_waiting:
        gate.handle_commands([received(messages.EStop(command_id=command_id, engage=True))], [], [], now)
    venue.flat, venue.busy = True, 0
    now += (TIMEOUT_MS + 1) * MS
    gate.tick(now)

    for command_id in sent:
        assert len(log.results(command_id)) == 1, f"command {command_id} got {len(log.results(command_id))} answers"
    assert len(log.of(messages.CommandResult)) == len(sent), "an answer to a command nobody sent"
    assert len(log.of(messages.CommandsLost)) == lost_ranges
    ordered = [o.directive.intent_id for o in venue.orders]
    assert len(ordered) == len(set(ordered)), "an intent executed twice"
    ended = {e.intent_id for e in log.of(messages.IntentExpired)} | {e.intent_id for e in
                                                                      log.of(messages.IntentRejected)}
    assert not ended & set(ordered), "an expired or rejected intent executed"
