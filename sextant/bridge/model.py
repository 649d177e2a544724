"""The bridge's state: everything the panels draw, derived only from what the engine published.

State flows down: each tick the view hands the link's `Tick` to `BridgeModel.apply`, and the panels read the model.
Nothing here pretends: a card leaves only when the engine says the intent was approved, rejected or expired, or
when that engine is gone (another engine's files replaced its own: its intents died with it); while the engine is
not answering (STALE, WAITING) no card takes a key or a click. The E-stop and autonomy shown are the
ContextWindow's. What the bridge itself did (a command sent, not yet answered)
is shown as exactly that: "sent".

The one choice the captain makes here, and no engine sees, is which instrument is shown (`selected`): the
`snapshot` the panels read is the engine's record as that instrument's (ContextSnapshot.at), so every
per-instrument field (price, position, crew states, trace) is the selected one's and every account field (equity,
the hull, autonomy, E-stop) the account's, whichever is selected. The chart's history keeps every instrument's
prices, so a switch shows the new instrument's past at once.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

import msgspec
import numpy as np

from sextant.bridge.blotter import Blotter
from sextant.bridge.link import LinkStatus, Tick
from sextant.state import messages
from sextant.state.context import ContextSnapshot, decode_instrument
from sextant.state.layout import CONTEXT_DTYPE, MAX_INSTRUMENTS, RISK_DIMENSIONS
from sextant.state.supervision import SupervisorReport

HISTORY_POINTS = 2048
# The chart spans at least this many of the market's updates: on hourly bars a 300 s window would hold one price.
WINDOW_UPDATES = 120
PACE_SAMPLES = 33  # updates whose spacing gives the market's pace (their median)
RESOLVED_CARD_LINGER_S = 0.8  # a decided card stays, re-coloured, this long before it is archived
MAX_RESEARCH = 200
RESEARCH_KIND = "Research"  # a card that changes a crew member's parameters (research/link.py)
MAX_TOASTS = 4
TOAST_S = 4.0
COMMAND_ANSWER_S = 1.0  # the engine answers within a poll or two; past this the captain is told


@dataclass(slots=True)
class Card:
    intent: messages.IntentGenerated
    arrived_s: float  # view time, for the slide-in
    received_ns: int = 0  # the event's time: where the countdown bar starts
    outcome: str = ""  # "", "approved", "rejected", "expired"
    outcome_detail: str = ""
    resolved_s: float = 0.0
    pending_command: str = ""  # a command sent for this card and not answered yet, e.g. "Approve"
    pending_command_id: str = ""
    held_remaining_ns: int | None = None  # the engine holds this card's countdown (docs/gate.md: it pauses on hover)

    @property
    def intent_id(self) -> str:
        return self.intent.intent_id


@dataclass(slots=True)
class SentCommand:
    """A command the view sent and the engine has not answered yet."""

    what: str  # its type name, e.g. "Approve"
    number: int  # its CommandRing number: what a CommandsLost names
    sent_s: float
    overdue: bool = False  # said so once: no answer within COMMAND_ANSWER_S


@dataclass(frozen=True, slots=True)
class Toast:
    text: str
    good: bool
    until_s: float


@dataclass(slots=True)
class History:
    """Sampled on the engine's clock, so a 10× sim and a replay look the same as live. Every instrument's mid and
    sea state are sampled together (a column each, 0 where an instrument had no price yet): a fixed 2,048 × 8."""

    ts_ns: np.ndarray = field(default_factory=lambda: np.zeros(HISTORY_POINTS, np.int64))
    mid: np.ndarray = field(default_factory=lambda: np.zeros((HISTORY_POINTS, MAX_INSTRUMENTS), np.float64))
    sea: np.ndarray = field(default_factory=lambda: np.zeros((HISTORY_POINTS, MAX_INSTRUMENTS), np.float64))
    hull: np.ndarray = field(default_factory=lambda: np.zeros((HISTORY_POINTS, RISK_DIMENSIONS), np.float64))
    equity: np.ndarray = field(default_factory=lambda: np.zeros(HISTORY_POINTS, np.float64))
    count: int = 0

    def append(self, ts_ns: int, mid: float | np.ndarray, sea: float | np.ndarray, hull: np.ndarray,
               equity: float = 0.0) -> None:
        """`mid`, `sea`: per instrument slot (a scalar is the first instrument's)."""
        slot = self.count % HISTORY_POINTS
        self.ts_ns[slot], self.equity[slot] = ts_ns, equity
        mids, seas = np.atleast_1d(np.asarray(mid, np.float64)), np.atleast_1d(np.asarray(sea, np.float64))
        self.mid[slot] = 0.0
        self.sea[slot] = 0.0
        self.mid[slot, : len(mids)], self.sea[slot, : len(seas)] = mids, seas
        self.hull[slot] = hull
        self.count += 1

    def _order(self) -> np.ndarray:
        n = min(self.count, HISTORY_POINTS)
        return np.arange(self.count - n, self.count) % HISTORY_POINTS

    def equity_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(ts_ns, equity), oldest first: the session's equity strip."""
        order = self._order()
        return self.ts_ns[order], self.equity[order]

    def ordered(self, instrument: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(ts_ns, mid, sea, hull), oldest first, with instrument slot `instrument`'s mid and sea (0 in the samples
        taken before it had a price)."""
        order = self._order()
        return self.ts_ns[order], self.mid[order, instrument], self.sea[order, instrument], self.hull[order]

    def clear(self) -> None:
        self.count = 0


def hull_fractions(snapshot: ContextSnapshot) -> np.ndarray:
    """Each risk dimension's distance to its limit, 0 (none) .. 1 (at the limit), from the engine's numbers."""
    x = np.abs(np.asarray(snapshot["risk_x"], np.float64))
    limit = np.asarray(snapshot["risk_limit"], np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(limit > 0, x / limit, 0.0)
    return np.clip(np.nan_to_num(fraction, nan=0.0, posinf=1.0), 0.0, 1.0)


def attestor_status(health: messages.AttestorDown | messages.AttestorUp | None) -> str:
    """The trust health in words; empty while the attestor is up with nothing waiting."""
    if isinstance(health, messages.AttestorDown):
        then = f"restart in {health.retry_in_s:g} s" if health.retry_in_s >= 0 else "not restarting"
        return f"DOWN, {health.backlog} decisions wait on disk, {then}"
    if isinstance(health, messages.AttestorUp) and health.backlog > 0:
        return f"catching up on {health.backlog} decisions"
    return ""


def _slots(snapshot: ContextSnapshot) -> np.ndarray:
    """The record's instrument slots, whichever instrument's view the snapshot is (no copy)."""
    return np.frombuffer(snapshot.record, CONTEXT_DTYPE)[0]["instruments"]


def tick_places(tick: float) -> int:
    """The decimals of an instrument's tick: 0.1 → 1, 0.00001 → 5, 0.25 → 2 (0 for a tick not known yet)."""
    if not tick > 0:
        return 0
    text = f"{tick:.10f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def price_text(price: float, tick: float) -> str:
    """A price on the instrument's tick, with its decimals (an order's level: 60,123.4; 1.07219)."""
    return f"{price:,.{tick_places(tick) if tick > 0 else 1}f}"


def mid_text(price: float, tick: float) -> str:
    """A mid or an average, which can fall between ticks: a decimal more than the tick's, at least two."""
    return f"{price:,.{max(2, tick_places(tick / 2) if tick > 0 else 2)}f}"


class BridgeModel:
    def __init__(self, history_s: float = 300.0) -> None:
        self.history_s = history_s
        self.status = LinkStatus.WAITING
        self.snapshot: ContextSnapshot | None = None
        self.heartbeat_age_s = float("inf")
        self.events_lost = 0
        self.history = History()
        self.cards: dict[str, Card] = {}
        self.blotter = Blotter()  # the orders as they stand, fills and E-STOP moments (bridge/blotter.py)
        self.session_start_equity = 0.0  # the first equity this engine reported: the PnL strip's zero
        self.research: deque[messages.AutoresearchResult] = deque(maxlen=MAX_RESEARCH)
        self.alerts: deque[messages.Event] = deque(maxlen=50)
        self.toasts: deque[Toast] = deque(maxlen=MAX_TOASTS)
        self.event_counts: Counter[str] = Counter()
        self.estop_reason = ""
        self.pending_commands: dict[str, SentCommand] = {}  # by command_id, until its CommandResult
        self.replay: messages.ReplayStatus | None = None  # the replay's timeline, while a replay is the writer
        self.attestor: messages.AttestorDown | messages.AttestorUp | None = None  # the latest trust health
        # each model's record in its role, as its latest scored answer said: (provider/model, role) → (scored, right)
        self.model_records: dict[tuple[str, str], tuple[int, int]] = {}
        self.now_s = 0.0  # view time (ticks × dt): animations, never the wall clock
        self.instance = 0  # the engine the cards belong to (Tick.instance)
        self.supervisor: SupervisorReport | None = None  # what `sextant run` says of the engine (DOWN and why)
        self.card_arrivals = 0  # cards that came, ever: the view announces each (sound, urgency hint, flash)
        self.selected = 0  # the instrument slot shown: the chart, the header, the crew's states, the position
        self.instrument_ids: list[str] = []  # the engine's instruments, in slot order
        self._last_sample_ts = 0
        self._update_gaps: deque[int] = deque(maxlen=PACE_SAMPLES)  # engine ns between price changes
        self._last_mids = np.zeros(MAX_INSTRUMENTS)
        self._raw_ids = np.zeros(0, np.uint8)
        self._last_sequence = -1

    # ------------------------------------------------------------------------------------------------ inputs

    def apply(self, tick: Tick, now_s: float) -> None:
        self.now_s = now_s
        if tick.instance and tick.instance != self.instance:
            self._new_engine(tick.instance)
        if tick.status == LinkStatus.DOWN and self.status != LinkStatus.DOWN and tick.supervisor is not None:
            self.toast(f"engine down: {tick.supervisor.reason}", False)
        self.status = tick.status
        self.supervisor = tick.supervisor
        self.heartbeat_age_s = tick.heartbeat_age_s
        self.events_lost = tick.lost
        if tick.snapshot is not None:
            self._apply_snapshot(tick.snapshot)
        for received in tick.events:
            assert received.message is not None
            self._apply_event(received.message, received.ts_ns)
        self._archive_cards()
        self._flag_overdue_commands()
        while self.toasts and self.toasts[0].until_s < now_s:
            self.toasts.popleft()

    def _new_engine(self, instance: int) -> None:
        """Another engine wrote the files: the previous one's cards and unanswered commands died with it."""
        if self.instance:
            dropped = sum(1 for card in self.cards.values() if not card.outcome)
            self.cards.clear()
            self.pending_commands.clear()
            self.blotter.clear()  # its orders are the venue's to report again, to the new engine
            self.session_start_equity = 0.0
            if dropped:
                self.toast(f"a new engine: {dropped} card{'s' if dropped > 1 else ''} of the previous one dropped",
                           False)
        self.instance = instance

    @property
    def answering(self) -> bool:
        """Whether an engine is there to act on a card now."""
        return self.status in (LinkStatus.LIVE, LinkStatus.STARTING, LinkStatus.REPLAY)

    def command_sent(self, command: messages.Command, number: int = -1) -> None:
        """The view sent `command` as CommandRing message `number`; remember it until the engine answers."""
        self.pending_commands[command.command_id] = SentCommand(type(command).__name__, number, self.now_s)
        intent_id = getattr(command, "intent_id", None)
        card = self.cards.get(intent_id) if intent_id else None
        if card is not None:
            card.pending_command, card.pending_command_id = type(command).__name__, command.command_id

    def _apply_snapshot(self, snapshot: ContextSnapshot) -> None:
        previous = self.snapshot
        if previous is not None and (snapshot.sequence < previous.sequence
                                     or int(snapshot["ts_ns"]) < int(previous["ts_ns"])):
            self.history.clear()  # the engine restarted, or a replay went back: a new timeline
            self._last_sample_ts = 0
            self._update_gaps.clear()
        slots = _slots(snapshot)
        count = max(1, int(snapshot["instrument_count"]))  # a record that names no instrument is read as one
        raw_ids = slots["instrument"][:count].copy()
        if not np.array_equal(raw_ids, self._raw_ids):
            if len(self._raw_ids):
                self.history.clear()  # other instruments in the slots: their past is not the chart's
            self._raw_ids = raw_ids
            self.instrument_ids = [decode_instrument(raw) for raw in raw_ids]
        self.selected = min(self.selected, count - 1)  # an engine with fewer instruments: the last one
        self.snapshot = snapshot.at(self.selected)
        ts = int(snapshot["ts_ns"])
        mids = slots["mid"][:count].astype(np.float64)
        if previous is not None and bool(np.any(mids != self._last_mids[:count])) and ts > int(previous["ts_ns"]):
            self._update_gaps.append(ts - int(previous["ts_ns"]))
        self._last_mids[:count] = mids
        if bool(np.any(mids > 0)) and ts > 0 and ts - self._last_sample_ts >= self.window_s * 1e9 / HISTORY_POINTS:
            self._last_sample_ts = ts
            equity = float(snapshot["equity"])
            if not self.session_start_equity and equity > 0:
                self.session_start_equity = equity
            self.history.append(ts, mids, slots["sea_state"][:count], hull_fractions(snapshot), equity)

    # ------------------------------------------------------------------------------------------------ instruments

    @property
    def instrument_count(self) -> int:
        """The instruments the engine trades (0 before its first record)."""
        return int(self.snapshot["instrument_count"]) if self.snapshot is not None else 0

    @property
    def fleet_shown(self) -> bool:
        """Whether the bridge shows the fleet (its strip, the instrument on each card): two instruments or more."""
        return self.instrument_count >= 2

    def select(self, slot: int) -> bool:
        """Show instrument `slot` (from 0). False, and nothing changes, for a slot the engine does not use."""
        if not 0 <= slot < max(1, self.instrument_count):
            return False
        self.selected = slot
        if self.snapshot is not None:
            self.snapshot = self.snapshot.at(slot)
        return True

    def cycle(self, step: int) -> bool:
        """Show the next (`step` 1) or previous (-1) instrument, round from the last to the first."""
        count = self.instrument_count
        return count >= 2 and self.select((self.selected + step) % count)

    def slots(self) -> np.ndarray:
        """Every instrument slot of the current record, in use or not (structured, layout.INSTRUMENT_DTYPE): what
        the fleet reads of the instruments not selected. A view of the snapshot, not a copy."""
        assert self.snapshot is not None
        return _slots(self.snapshot)

    def tick_of(self, instrument_id: str) -> float:
        """An instrument's price increment, by id: a card's prices carry its instrument's decimals (the selected
        instrument's where the id is not one the engine trades)."""
        if self.snapshot is not None and instrument_id in self.instrument_ids:
            return float(self.slots()[self.instrument_ids.index(instrument_id)]["price_increment"])
        return self.tick

    @property
    def instrument_filter(self) -> str | None:
        """The selected instrument's id where the engine trades more than one (orders, fills and stops are
        shown for it alone); None with one instrument: every order is its."""
        if not self.fleet_shown or self.selected >= len(self.instrument_ids):
            return None
        return self.instrument_ids[self.selected]

    @property
    def tick(self) -> float:
        """The selected instrument's price increment (0 until the engine has said it)."""
        return float(self.snapshot["price_increment"]) if self.snapshot is not None else 0.0

    @property
    def window_s(self) -> float:
        """The sea chart's span: history_s, or WINDOW_UPDATES of the market's pace where it is slower (bars)."""
        if not self._update_gaps:
            return self.history_s
        return max(self.history_s, WINDOW_UPDATES * float(np.median(self._update_gaps)) / 1e9)

    def _apply_event(self, event: messages.Event, ts_ns: int = 0) -> None:
        self.event_counts[type(event).__name__] += 1
        if isinstance(event, messages.IntentGenerated):
            if event.requires_approval or event.auto_approve_at_ns is not None:
                self.cards[event.intent_id] = Card(event, self.now_s, ts_ns)
                self.card_arrivals += 1
        elif isinstance(event, messages.IntentApproved):
            self._resolve(event.intent_id, "approved", f"approved by {event.by}")
        elif isinstance(event, messages.IntentRejected):
            self._resolve(event.intent_id, "rejected", event.reason)
        elif isinstance(event, messages.IntentExpired):
            card = self.cards.get(event.intent_id)
            if card is not None and not card.outcome:  # a card that waited on screen and got no answer: say so
                intent = card.intent
                title = intent.title or f"{intent.side or ''} {intent.quantity:g}".strip()
                self.toast(f"card expired unanswered: {intent.agent} · {title}", False)
            self._resolve(event.intent_id, "expired", event.reason)
        elif isinstance(event, messages.OrderSubmitted | messages.OrderFilled | messages.OrderRejected
                        | messages.OrderCanceled):
            self.blotter.apply(event, ts_ns)
        elif isinstance(event, messages.CountdownChanged):
            card = self.cards.get(event.intent_id)
            if card is not None:
                card.intent = msgspec.structs.replace(card.intent, auto_approve_at_ns=event.auto_approve_at_ns)
                card.held_remaining_ns = event.remaining_ns if event.held else None
        elif isinstance(event, messages.ReplayStatus):
            self.replay = event
            if event.seeked:  # what was on screen is no longer the past of the new position
                self.cards.clear()
                self.blotter.clear()
                self.alerts.clear()
        elif isinstance(event, messages.AutoresearchResult):
            # one line per hypothesis: "applied to …" follows the hypothesis' own accepted result
            for earlier in [r for r in self.research if r.hypothesis_id == event.hypothesis_id]:
                self.research.remove(earlier)
            self.research.append(event)
        elif isinstance(event, messages.RiskAlert | messages.Veto):
            self.alerts.append(event)
        elif isinstance(event, messages.EStopChanged):
            self.estop_reason = event.reason
            self.blotter.apply(event, ts_ns)
            self.toast(f"E-STOP {event.state}: {event.reason}" if event.reason else f"E-STOP {event.state}",
                        event.state == "RELEASED")
        elif isinstance(event, messages.CommandsLost):
            lost = [(command_id, sent) for command_id, sent in self.pending_commands.items()
                    if event.first <= sent.number <= event.last and sent.what != "EStop"]  # an E-stop still acts
            for command_id, sent in lost:
                self._answered(command_id)
                self.toast(f"{sent.what} lost in a command flood: not executed, send it again", False)
        elif isinstance(event, messages.AttestorDown):
            self.attestor = event
            self.toast(f"attestor down: {attestor_status(event)}", False)
        elif isinstance(event, messages.AttestorUp):
            if isinstance(self.attestor, messages.AttestorDown):
                self.toast(f"attestor back: {attestor_status(event) or 'caught up'}", True)
            self.attestor = event
        elif isinstance(event, messages.LlmAnswerScored):
            self.model_records[event.model, event.role] = (event.answers, event.hits)
        elif isinstance(event, messages.CommandResult):
            answered = self._answered(event.command_id)
            what = answered.what if answered is not None else None
            if what is not None and not event.applied:
                self.toast(f"{event.command} refused: {event.reason}", False)
            elif what is not None and event.command in ("SetAutonomy", "Modify"):
                self.toast(f"{event.command}: {event.reason}", True)

    def _answered(self, command_id: str) -> SentCommand | None:
        for card in self.cards.values():
            if card.pending_command_id == command_id:
                card.pending_command, card.pending_command_id = "", ""
        return self.pending_commands.pop(command_id, None)

    def _flag_overdue_commands(self) -> None:
        for sent in self.pending_commands.values():
            if not sent.overdue and self.now_s - sent.sent_s > COMMAND_ANSWER_S:
                sent.overdue = True
                self.toast(f"{sent.what}: no answer from the engine after {COMMAND_ANSWER_S:g} s", False)

    def _resolve(self, intent_id: str, outcome: str, detail: str) -> None:
        card = self.cards.get(intent_id)
        if card is not None and not card.outcome:
            card.outcome, card.outcome_detail, card.resolved_s = outcome, detail, self.now_s

    def _archive_cards(self) -> None:
        for intent_id in [i for i, c in self.cards.items()
                          if c.outcome and self.now_s - c.resolved_s > RESOLVED_CARD_LINGER_S]:
            del self.cards[intent_id]

    def toast(self, text: str, good: bool) -> None:
        self.toasts.append(Toast(text, good, self.now_s + TOAST_S))

    # ------------------------------------------------------------------------------------------------ queries

    def visible_cards(self) -> list[Card]:
        """Oldest first: the top card has the least time left, and it is the one A / R / M act on."""
        return sorted(self.cards.values(), key=lambda c: (c.arrived_s, c.intent_id))

    def engine_down(self, now_ns: int) -> str:
        """ENGINE DOWN in words (the reason, the restart count), or "" while the engine is not known to be down."""
        if self.status != LinkStatus.DOWN or self.supervisor is None:
            return ""
        return f"ENGINE DOWN · {self.supervisor.describe(now_ns)}"

    def waiting_cards(self) -> int:
        return sum(1 for card in self.cards.values() if not card.outcome)

    def top_card(self) -> Card | None:
        """The card A / R / M act on: the oldest undecided one, while an engine is answering."""
        if not self.answering:
            return None
        for card in self.visible_cards():
            if not card.outcome:
                return card
        return None
