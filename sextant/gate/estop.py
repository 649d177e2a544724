"""The E-stop as a state machine: RELEASED → ENGAGING → ENGAGED → RELEASED. Pure: the venue port acts, this decides.

HALTED alone would block the closing orders (Nautilus denies every new submit when HALTED), so the stop first goes
REDUCING, which still lets reducing orders through, has the venue cancel every open order and close the position,
and only once the book is flat and nothing is open (or the flatten timeout has passed) moves to HALTED. Each
transition is an EStopChanged event; the engage command's CommandResult follows the one that reaches ENGAGED, so a
client that waits for it knows the book is flat.
"""

from __future__ import annotations

from typing import Literal, Protocol

from sextant.state import messages
from sextant.state.layout import EStopState

TradingStateName = Literal["ACTIVE", "REDUCING", "HALTED"]


class EStopVenue(Protocol):
    """What the E-stop asks of the trading node."""

    def can_halt(self) -> str | None:
        """None when the node can change its trading state, else why not."""

    def set_trading_state(self, state: TradingStateName) -> None: ...

    def flatten(self) -> None:
        """Cancel every open order and close the position (reducing orders only)."""

    def exposure(self) -> tuple[bool, int]:
        """(flat, how many orders are open, in flight or emulated)."""


class Publisher(messages.EventPublisher, Protocol):
    """The event sink as the gate uses it: also the announcements that wait for their order (EventSink)."""

    def publish_later(self, event: messages.Event, ts_ns: int) -> None: ...


class EStopMachine:
    def __init__(self, venue: EStopVenue, events: Publisher, flatten_timeout_ns: int) -> None:
        self._venue = venue
        self._events = events
        self._timeout_ns = flatten_timeout_ns
        self.state = EStopState.RELEASED
        self.command_id: str | None = None  # the engage command whose CommandResult waits for ENGAGED
        self._engaged_ns = 0

    @property
    def released(self) -> bool:
        return self.state == EStopState.RELEASED

    def engage(self, command_id: str, now_ns: int) -> str | None:
        """Start the stop. A refusal reason, or None: the CommandResult follows when ENGAGED."""
        if self.state != EStopState.RELEASED:
            return f"E-stop already {self.state.name.lower()}"
        unable = self._venue.can_halt()
        if unable is not None:
            return unable
        self.state = EStopState.ENGAGING
        self.command_id = command_id
        self._engaged_ns = now_ns
        self._venue.set_trading_state("REDUCING")
        # Announced before acting: a closing fill can arrive synchronously and complete the stop re-entrantly.
        self._events.publish(messages.EStopChanged(state="ENGAGING", trading_state="REDUCING", reason="E-STOP",
                                                   command_id=command_id), now_ns)
        self._venue.flatten()
        self.progress(now_ns)
        return None

    def progress(self, now_ns: int) -> None:
        """Finish the stop once flat and nothing is open, or once the flatten timeout has passed."""
        if self.state != EStopState.ENGAGING:
            return
        flat, busy = self._venue.exposure()
        done = flat and busy == 0
        if not done and now_ns - self._engaged_ns <= self._timeout_ns:
            return
        self._venue.set_trading_state("HALTED")
        self.state = EStopState.ENGAGED
        reason = "flat and halted" if done else \
            f"halted; still {'not flat' if not flat else f'{busy} orders open'} after " \
            f"{self._timeout_ns / 1e9:g} s"
        self._events.publish(messages.EStopChanged(state="ENGAGED", trading_state="HALTED", reason=reason,
                                                   command_id=self.command_id), now_ns)
        if self.command_id is not None:
            self._events.publish(messages.CommandResult(command_id=self.command_id, command="EStop", applied=True,
                                                        reason=reason), now_ns)

    def release(self, command_id: str, now_ns: int) -> str | None:
        if self.state == EStopState.RELEASED:
            return "E-stop is not engaged"
        if self.state == EStopState.ENGAGING:
            # Its engage command still waits for its answer; releasing now would leave that command unanswered.
            return "E-stop is still flattening; release it once it is engaged"
        self._venue.set_trading_state("ACTIVE")
        self.state = EStopState.RELEASED
        self.command_id = None
        self._events.publish(messages.EStopChanged(state="RELEASED", trading_state="ACTIVE", reason="released",
                                                   command_id=command_id), now_ns)
        return None
