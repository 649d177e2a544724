"""Every event kind of docs/ws-protocol.md and every command of docs/shared-memory.md is a typed, immutable message
with a stable kind."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from sextant.state import messages

SPEC_EVENTS = ["IntentGenerated", "IntentApproved", "IntentRejected", "IntentExpired", "OrderSubmitted",
               "OrderFilled", "OrderRejected", "OrderCanceled", "RiskAlert", "Veto", "AutoresearchResult",
               "AttestationQueued", "AttestationMined", "AutonomyChanged", "EStopChanged", "CommandResult",
               "CrewStatus", "Heartbeat", "ReplayStatus", "CountdownChanged",  # replay, the held countdown
               "AttestorDown", "AttestorUp", "CommandsLost",  # trust health, a flood's answer (docs/ws-protocol.md)
               "LlmFailed", "LlmRecovered",  # the LLM path's health
               "LlmAnswerScored"]  # a model's record (docs/llm.md#a-model-as-an-agent)
SPEC_COMMANDS = ["Approve", "Reject", "Modify", "EStop", "SetAutonomy", "ReplayControl", "HoldCountdown"]

SAMPLES: list[messages.Message] = [
    messages.IntentGenerated(intent_id="i1", agent="momentum-01", intent_kind="TrendFollow", instrument="X.OKX",
                             side="BUY", quantity=1.0, style="TRAILING_STOP", confidence=0.7, title="t",
                             reasoning="r", requires_approval=True, auto_approve_at_ns=5, expires_at_ns=9),
    messages.IntentApproved(intent_id="i1", by="human", command_id="c1"),
    messages.IntentRejected(intent_id="i1", reason="no", by="human"),
    messages.IntentExpired(intent_id="i1"),
    messages.OrderSubmitted(client_order_id="O-1", intent_id="i1", instrument="X.OKX", side="SELL",
                            order_type="LIMIT", time_in_force="GTC", quantity=2.0, price=10.5, post_only=True),
    messages.OrderFilled(client_order_id="O-1", instrument="X.OKX", side="SELL", fill_price=10.5,
                         fill_quantity=2.0, liquidity="MAKER", position_after=-2.0),
    messages.OrderRejected(client_order_id="O-2", reason="TradingState.HALTED", denied=True),
    messages.OrderCanceled(client_order_id="O-3", reason="E-STOP"),
    messages.RiskAlert(dimension="LEVERAGE", value=3.1, limit=4.0, potential=1.4, threshold=1.0, level="WARN"),
    messages.Veto(agent="risk-01", potential=2.5, threshold=2.0, reason="hull"),
    messages.AutoresearchResult(hypothesis_id="h1", family="momentum", params={"window": 20.0}, ir_before=0.5,
                                ir_after=0.7, accepted=True),
    messages.AttestationQueued(record_id="r1", agent="momentum-01", decision_hash="0x" + "ab" * 32, journal_seq=1),
    messages.AttestationMined(record_id="r1", agent="momentum-01", tx_hash="0x" + "cd" * 32, block_number=7,
                              feedback_index=1),
    messages.AutonomyChanged(level="MANUAL", ceiling="ASSISTED", reputation=0.6),
    messages.EStopChanged(state="ENGAGED", trading_state="HALTED", command_id="c9"),
    messages.CommandResult(command_id="c9", command="EStop", applied=True),
    messages.CrewStatus(agent="risk-01", state="ALERT", task="veto, U=2.31", confidence=1.0),
    messages.Heartbeat(pid=42, uptime_s=1.5, quotes=10, context_sequence=11),
    messages.Approve(command_id="c1", intent_id="i1"),
    messages.Reject(command_id="c2", intent_id="i1", reason="no"),
    messages.Modify(command_id="c3", intent_id="i1", quantity=0.5),
    messages.EStop(command_id="c4", engage=False),
    messages.SetAutonomy(command_id="c5", level="AUTO"),
    messages.ReplayStatus(scene="flash-crash", position_ns=5, duration_ns=10, speed=2.0, paused=False),
    messages.ReplayControl(command_id="c6", action="seek", value=0.5),
    messages.CountdownChanged(intent_id="i1", held=False, auto_approve_at_ns=5, remaining_ns=3),
    messages.HoldCountdown(command_id="c7", intent_id="i1", hold=True),
    messages.AttestorDown(pid=7, exit_code=-9, backlog=3, restarts=0, retry_in_s=0.25),
    messages.AttestorUp(pid=8, backlog=0, restarts=1),
    messages.CommandsLost(first=3, last=70, reason="overwritten"),
    messages.LlmFailed(role="perception", kind="not_json", reason="response body is not JSON", retry_in_s=30.0),
    messages.LlmRecovered(role="strategy", failures=3),
    messages.LlmAnswerScored(model="local/small", role="perception", action="BUY", confidence=0.9, asked_mid=60_000.0,
                             mid=60_030.0, hit=1, answers=12, hits=7),
]


def test_every_spec_kind_has_a_type() -> None:
    assert [t.__name__ for t in messages.EVENT_TYPES] == SPEC_EVENTS
    assert [t.__name__ for t in messages.COMMAND_TYPES] == SPEC_COMMANDS


def test_kinds_are_unique_and_stable() -> None:
    assert [t.KIND for t in messages.EVENT_TYPES] == [*range(1, 23), 25, 23, 24, 26]
    assert [t.KIND for t in messages.COMMAND_TYPES] == list(range(101, 108))


def test_every_command_carries_an_id() -> None:
    for command_type in messages.COMMAND_TYPES:
        assert "command_id" in command_type.__struct_fields__


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip_through_the_slot_encoding(message: messages.Message) -> None:
    assert messages.decode(message.KIND, messages.encode(message)) == message


def test_messages_are_immutable() -> None:
    with pytest.raises(AttributeError):
        SAMPLES[0].agent = "someone else"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kind", "payload"),
    [(messages.Approve.KIND, msgspec.msgpack.encode({"command_id": "c"})),  # intent_id missing
     (messages.EStop.KIND, msgspec.msgpack.encode({"command_id": "c", "engage": True, "extra": 1})),
     (messages.SetAutonomy.KIND, msgspec.msgpack.encode({"command_id": "c", "level": "YOLO"})),
     (999, b"")],
)
def test_malformed_payloads_raise_a_named_error(kind: int, payload: bytes) -> None:
    with pytest.raises(messages.MessageDecodeError):
        messages.decode(kind, payload)


def test_wire_envelope_has_type_ts_seq_and_data() -> None:
    wire: dict[str, Any] = messages.to_wire(SAMPLES[5], seq=12, ts_ns=99)
    assert wire["type"] == "OrderFilled" and wire["seq"] == 12 and wire["ts_ns"] == 99
    assert wire["data"]["fill_price"] == 10.5
    msgspec.json.encode(wire)
