"""Typed, immutable messages carried by the rings: engine events (docs/ws-protocol.md) and bridge commands
(docs/shared-memory.md).

Each type has a stable numeric kind, stored in the ring slot header; the payload is the struct's msgpack. The
same structs become the WebSocket stream's JSON (`to_wire`). Kind numbers are part of the file format: never
reuse or renumber one, only add.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, NamedTuple, Protocol

import msgspec

AutonomyLevel = Literal["MANUAL", "ASSISTED", "AUTO"]
EStopStateName = Literal["RELEASED", "ENGAGING", "ENGAGED"]
Side = Literal["BUY", "SELL"]
ExecutionStyleName = Literal["MARKET", "LIMIT", "TRAILING_STOP", "TWAP", "IOC", "FOK"]


class Message(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """Base of every ring message. Subclasses inherit frozen, forbid_unknown_fields and omit_defaults; kw_only is
    per class in msgspec, so each repeats it (required fields may then follow defaulted ones). Each also repeats
    frozen, a no-op at runtime, because type checkers read it from the class's own keywords."""

    KIND: ClassVar[int] = 0


class Event(Message, frozen=True, kw_only=True):
    """Engine → bridge / WebSocket."""


class Command(Message, frozen=True, kw_only=True):
    """Bridge → engine. Every command carries an id; the engine answers each with a CommandResult event."""

    command_id: str


# ----------------------------------------------------------------------------------------------------- events


class IntentGenerated(Event, frozen=True, kw_only=True):
    KIND: ClassVar[int] = 1
    intent_id: str
    agent: str
    intent_kind: str  # TrendFollow, MeanReversion, DeltaHedge, GammaScalp, LiquidationCapture, Hold, Veto
    instrument: str
    side: Side | None = None
    quantity: float = 0.0
    target_position: float | None = None
    price: float | None = None
    style: ExecutionStyleName | None = None
    confidence: float = 0.0
    reputation: float = 0.0
    title: str = ""
    reasoning: str = ""
    plan: str = ""  # execution plan in words, e.g. "TWAP 5 slices every 2 s"
    risk_score: float = 0.0  # 0..1, the risk bar
    requires_approval: bool = False
    auto_approve_at_ns: int | None = None  # Assisted: when the countdown approves it
    expires_at_ns: int | None = None
    trailing_offset_bps: float | None = None  # a trailing stop's distance from the best price


class IntentApproved(Event, frozen=True, kw_only=True):
    KIND: ClassVar[int] = 2
    intent_id: str
    by: Literal["human", "countdown", "auto"]
    command_id: str | None = None


class IntentRejected(Event, frozen=True, kw_only=True):
    KIND: ClassVar[int] = 3
    intent_id: str
    reason: str
    by: Literal["human", "engine", "risk"] = "engine"
    command_id: str | None = None


class IntentExpired(Event, frozen=True, kw_only=True):
    KIND: ClassVar[int] = 4
    intent_id: str
    reason: str = "approval TTL elapsed"


class OrderSubmitted(Event, frozen=True, kw_only=True):
    KIND: ClassVar[int] = 5
    client_order_id: str
    intent_id: str | None = None
    instrument: str
    side: Side
    order_type: str  # Nautilus OrderType name, e.g. MARKET, LIMIT, TRAILING_STOP_MARKET
    time_in_force: str  # Nautilus TimeInForce name
    quantity: float
    price: float | None = None
    trigger_price: float | None = None
    post_only: bool = False
    reduce_only: bool = False
    exec_algorithm: str | None = None
    dry_run: bool = False


class OrderFilled(Event, frozen=True, kw_only=True):
    KIND: ClassVar[int] = 6
    client_order_id: str
    venue_order_id: str = ""
    intent_id: str | None = None
    instrument: str
    side: Side
    fill_price: float
    fill_quantity: float
    slippage_bps: float = 0.0
    commission: float = 0.0
    liquidity: Literal["MAKER", "TAKER", "NONE"] = "NONE"
    position_after: float = 0.0


class OrderRejected(Event, frozen=True, kw_only=True):
    KIND: ClassVar[int] = 7
    client_order_id: str
    intent_id: str | None = None
    reason: str
    denied: bool = False  # True: stopped by Nautilus' RiskEngine or our own checks before reaching the venue


class OrderCanceled(Event, frozen=True, kw_only=True):
    KIND: ClassVar[int] = 8
    client_order_id: str
    intent_id: str | None = None
    reason: str = ""


class RiskAlert(Event, frozen=True, kw_only=True):
    KIND: ClassVar[int] = 9
    dimension: str  # a HullDimension name, or "TOTAL"
    value: float
    limit: float
    potential: float
    threshold: float
    level: Literal["WARN", "VETO"]
    instrument: str = ""  # the instrument whose own delta term strains the hull most; empty for a portfolio reading


class Veto(Event, frozen=True, kw_only=True):
    KIND: ClassVar[int] = 10
    agent: str
    intent_id: str | None = None
    potential: float
    threshold: float
    reason: str


class AutoresearchResult(Event, frozen=True, kw_only=True):
    KIND: ClassVar[int] = 11
    hypothesis_id: str
    family: str
    params: dict[str, float] = {}
    parent_id: str | None = None
    ir_before: float
    ir_after: float
    accepted: bool
    verdict: str = ""


class AttestationQueued(Event, frozen=True, kw_only=True):
    KIND: ClassVar[int] = 12
    record_id: str
    agent: str
    decision_hash: str  # 0x-prefixed keccak
    journal_seq: int


class AttestationMined(Event, frozen=True, kw_only=True):
    KIND: ClassVar[int] = 13
    record_id: str
    agent: str
    tx_hash: str
    block_number: int
    feedback_index: int


class AutonomyChanged(Event, frozen=True, kw_only=True):
    KIND: ClassVar[int] = 14
    level: AutonomyLevel
    ceiling: AutonomyLevel
    reputation: float
    reason: str = ""
    command_id: str | None = None


class EStopChanged(Event, frozen=True, kw_only=True):
    KIND: ClassVar[int] = 15
    state: EStopStateName
    trading_state: Literal["ACTIVE", "REDUCING", "HALTED"]
    reason: str = ""
    command_id: str | None = None


class CommandResult(Event, frozen=True, kw_only=True):
    KIND: ClassVar[int] = 16
    command_id: str
    command: str  # the command's type name
    applied: bool
    reason: str = ""


class CrewStatus(Event, frozen=True, kw_only=True):
    KIND: ClassVar[int] = 17
    agent: str
    state: str  # a CrewState name
    task: str
    confidence: float = 0.0
    last_decision_ns: int = 0


class Heartbeat(Event, frozen=True, kw_only=True):
    KIND: ClassVar[int] = 18
    pid: int
    uptime_s: float
    quotes: int = 0
    context_sequence: int = 0
    # The engine's event-loop stalls (engine/loop_monitor.py), in ms: the longest since the previous Heartbeat, and the
    # longest and the p99 since the engine started.
    loop_stall_ms: float = 0.0
    loop_stall_max_ms: float = 0.0
    loop_stall_p99_ms: float = 0.0


class ReplayStatus(Event, frozen=True, kw_only=True):
    """A replay's position on its timeline (published by `sextant replay` a few times a second and on change)."""

    KIND: ClassVar[int] = 19
    scene: str
    position_ns: int  # from the scene's start, on the engine's clock
    duration_ns: int
    speed: float
    paused: bool
    seeked: bool = False  # the position jumped: what was shown before it is not history any more


class CountdownChanged(Event, frozen=True, kw_only=True):
    """An Assisted countdown was held (the captain is reading the card) or resumed with the time it had left."""

    KIND: ClassVar[int] = 20
    intent_id: str
    held: bool
    auto_approve_at_ns: int | None = None  # when it resumed: the new deadline
    remaining_ns: int = 0
    command_id: str | None = None


class AttestorDown(Event, frozen=True, kw_only=True):
    """The attestor child died. Nothing is lost: `backlog` decisions wait on disk (handed over but not yet on
    chain) for the restart, due in `retry_in_s` (-1: restarts given up; the next engine start catches up)."""

    KIND: ClassVar[int] = 21
    pid: int
    exit_code: int
    backlog: int
    restarts: int  # how many times this engine has restarted its attestor so far
    retry_in_s: float


class AttestorUp(Event, frozen=True, kw_only=True):
    """The attestor is ready (at start, and after each restart); published again once the `backlog` it caught up
    on has drained to 0."""

    KIND: ClassVar[int] = 22
    pid: int
    backlog: int
    restarts: int


class CommandsLost(Event, frozen=True, kw_only=True):
    """CommandRing messages the engine never read, because the writer overwrote their slots first (a flood):
    numbers `first` to `last` inclusive, as `CommandRingWriter.publish` returned them. Each gets no other answer; an
    E-stop among them still acts, through the ring's latch."""

    KIND: ClassVar[int] = 25
    first: int
    last: int
    reason: str = ""


class LlmFailed(Event, frozen=True, kw_only=True):
    """A perception escalation got nothing usable: the router holds on its rules and asks no model again for
    `retry_in_s` (the back-off, doubling while failures repeat). One per back-off, naming the last failed call."""

    KIND: ClassVar[int] = 23
    role: str  # perception (L2) or strategy (L3)
    kind: str  # transport, timeout, http_status, too_large, not_json, bad_envelope, invalid_answer, budget, unexpected
    reason: str
    retry_in_s: float
    failures: int = 1  # in a row, this one included


class LlmRecovered(Event, frozen=True, kw_only=True):
    """The first usable answer after `failures` failed escalations in a row: the back-off is reset."""

    KIND: ClassVar[int] = 24
    role: str
    failures: int


class LlmAnswerScored(Event, frozen=True, kw_only=True):
    """A model's directional answer, scored once its horizon passed: right when the mid moved the way it said.
    `answers` and `hits` are the model's record in its role after this one (llm.record); the trust layer attests it
    as the model's own feedback (docs/llm.md#a-model-as-an-agent)."""

    KIND: ClassVar[int] = 26
    model: str  # provider/model
    role: str  # perception (L2) or strategy (L3)
    action: str  # BUY or SELL
    confidence: float  # as stated
    asked_mid: float
    mid: float  # at the horizon
    hit: int  # 1 right, 0 wrong
    answers: int
    hits: int


# --------------------------------------------------------------------------------------------------- commands


class Approve(Command, frozen=True, kw_only=True):
    KIND: ClassVar[int] = 101
    intent_id: str


class Reject(Command, frozen=True, kw_only=True):
    KIND: ClassVar[int] = 102
    intent_id: str
    reason: str = ""


class Modify(Command, frozen=True, kw_only=True):
    KIND: ClassVar[int] = 103
    intent_id: str
    quantity: float | None = None
    price: float | None = None
    style: ExecutionStyleName | None = None
    trailing_offset_bps: float | None = None  # a trailing stop's offset, basis points


class EStop(Command, frozen=True, kw_only=True):
    KIND: ClassVar[int] = 104
    engage: bool


class SetAutonomy(Command, frozen=True, kw_only=True):
    KIND: ClassVar[int] = 105
    level: AutonomyLevel


class ReplayControl(Command, frozen=True, kw_only=True):
    """Bridge → replay process: the transport keys. `value`: the speed for "speed", a 0..1 fraction of the
    timeline for "seek", a number of snapshots (±) for "step"."""

    KIND: ClassVar[int] = 106
    action: Literal["toggle", "pause", "resume", "step", "speed", "seek"]
    value: float = 0.0


class HoldCountdown(Command, frozen=True, kw_only=True):
    """Bridge → engine: pause (hold) or resume an intent's auto-approve countdown (docs/gate.md: it pauses on hover)."""

    KIND: ClassVar[int] = 107
    intent_id: str
    hold: bool


EVENT_TYPES: tuple[type[Event], ...] = (
    IntentGenerated, IntentApproved, IntentRejected, IntentExpired, OrderSubmitted, OrderFilled, OrderRejected,
    OrderCanceled, RiskAlert, Veto, AutoresearchResult, AttestationQueued, AttestationMined, AutonomyChanged,
    EStopChanged, CommandResult, CrewStatus, Heartbeat, ReplayStatus, CountdownChanged,
    AttestorDown, AttestorUp, CommandsLost, LlmFailed, LlmRecovered, LlmAnswerScored,
)
COMMAND_TYPES: tuple[type[Command], ...] = (Approve, Reject, Modify, EStop, SetAutonomy, ReplayControl,
                                            HoldCountdown)

TYPES_BY_KIND: dict[int, type[Message]] = {t.KIND: t for t in EVENT_TYPES + COMMAND_TYPES}
TYPES_BY_NAME: dict[str, type[Message]] = {t.__name__: t for t in EVENT_TYPES + COMMAND_TYPES}
assert len(TYPES_BY_KIND) == len(EVENT_TYPES) + len(COMMAND_TYPES), "duplicate message KIND"

_ENCODER = msgspec.msgpack.Encoder()
_DECODERS: dict[int, msgspec.msgpack.Decoder] = {kind: msgspec.msgpack.Decoder(t) for kind, t in
                                                 TYPES_BY_KIND.items()}
_ELLIPSIS = "…"


class MessageDecodeError(ValueError):
    """A slot's payload does not decode as its declared kind."""


def encode(message: Message) -> bytes:
    return _ENCODER.encode(message)


def decode(kind: int, payload: bytes | memoryview) -> Message:
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise MessageDecodeError(f"unknown message kind {kind}")
    try:
        return decoder.decode(payload)
    except msgspec.DecodeError as error:
        raise MessageDecodeError(f"{TYPES_BY_KIND[kind].__name__}: {error}") from error


class Fitted(NamedTuple):
    """An encoding that fits a slot: whether strings were shortened, and whether it still decodes."""

    payload: bytes
    truncated: bool
    decodable: bool


def fit_to_capacity(message: Message, capacity: int) -> Fitted:
    """Encode `message` in at most `capacity` bytes.

    A message that is too big has its longest strings shortened (each ends in "…") until it fits, so it still
    decodes and keeps every field. Only if that cannot make it fit (bulk that is not text) is the payload a raw
    prefix that no longer decodes; the ring flags that case.
    """
    payload = _ENCODER.encode(message)
    if len(payload) <= capacity:
        return Fitted(payload, False, True)
    fields = {name: getattr(message, name) for name in message.__struct_fields__}
    text_fields = [name for name, value in fields.items() if isinstance(value, str)]
    while text_fields:
        excess = len(payload) - capacity
        longest = max(text_fields, key=lambda name: len(fields[name].encode()))
        current = fields[longest]
        if len(current) <= 1:
            break
        # Cut by the excess (in bytes, which bounds characters) plus the ellipsis, at least by a quarter.
        keep = max(0, min(len(current) - max(excess + 4, len(current) // 4), len(current) - 2))
        fields[longest] = current[:keep] + _ELLIPSIS
        payload = _ENCODER.encode(type(message)(**fields))
        if len(payload) <= capacity:
            return Fitted(payload, True, True)
        if keep == 0:
            text_fields.remove(longest)
    return Fitted(payload[:capacity], True, False)


def to_wire(message: Message, *, seq: int, ts_ns: int) -> dict[str, Any]:
    """The WebSocket envelope (docs/ws-protocol.md): {"type", "ts_ns", "seq", "data"}."""
    return {"type": type(message).__name__, "ts_ns": ts_ns, "seq": seq, "data": msgspec.to_builtins(message)}


class EventPublisher(Protocol):
    """What publishes engine events: the engine's EventSink (engine/events.py), as the links and the gate use it."""

    def publish(self, event: Event, ts_ns: int) -> int: ...
