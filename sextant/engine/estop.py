"""The E-stop, through Nautilus' RiskEngine: REDUCING → cancel all → close all → HALTED, and back to ACTIVE.

HALTED alone would block the closing orders (Nautilus denies every new submit when HALTED), so the stop first
goes REDUCING, which still lets reducing orders through, cancels every open order (cancels bypass the RiskEngine),
closes the position, and only once the book is flat and nothing is open moves to HALTED. Each transition is an
EStopChanged event; the command's CommandResult is sent when the stop is complete.
"""

from __future__ import annotations

from typing import Any

from nautilus_trader.model.enums import TradingState as NautilusTradingState
from nautilus_trader.model.identifiers import InstrumentId

from sextant.engine.events import EventSink
from sextant.state import messages
from sextant.state.layout import EStopState

FLATTEN_TIMEOUT_NS = 10_000_000_000  # if still not flat after this, halt anyway and say so


class EStopController:
    def __init__(self, strategy: Any, sink: EventSink, instrument_id: InstrumentId) -> None:
        self._strategy = strategy
        self._sink = sink
        self._instrument_id = instrument_id
        self.risk_engine: Any = None  # injected after the node is built (strategies have no handle on it)
        self.state = EStopState.RELEASED
        self._command_id: str | None = None
        self._engaged_ns = 0

    def engage(self, command_id: str, now_ns: int) -> str | None:
        """Start the stop. Returns a refusal reason, or None (the CommandResult follows when HALTED)."""
        if self.state != EStopState.RELEASED:
            return f"E-stop already {self.state.name.lower()}"
        if self.risk_engine is None:
            return "the RiskEngine is not attached yet"
        self.state = EStopState.ENGAGING
        self._command_id = command_id
        self._engaged_ns = now_ns
        self.risk_engine.set_trading_state(NautilusTradingState.REDUCING)
        # Announce before acting: a closing fill can arrive synchronously and complete the stop re-entrantly.
        self._sink.publish(messages.EStopChanged(state="ENGAGING", trading_state="REDUCING", reason="E-STOP",
                                                 command_id=command_id), now_ns)
        self._strategy.cancel_all_orders(self._instrument_id)
        self._strategy.close_all_positions(self._instrument_id)
        self.poll(now_ns)
        return None

    def poll(self, now_ns: int) -> None:
        """Finish the stop once flat and nothing is open (called from the strategy's timer and on fills)."""
        if self.state != EStopState.ENGAGING:
            return
        cache = self._strategy.cache
        flat = self._strategy.portfolio.is_flat(self._instrument_id)
        busy = cache.orders_open_count(instrument_id=self._instrument_id) + cache.orders_inflight_count(
            instrument_id=self._instrument_id) + cache.orders_emulated_count(instrument_id=self._instrument_id)
        timed_out = now_ns - self._engaged_ns > FLATTEN_TIMEOUT_NS
        if (flat and busy == 0) or timed_out:
            self.risk_engine.set_trading_state(NautilusTradingState.HALTED)
            self.state = EStopState.ENGAGED
            reason = "flat and halted" if flat and busy == 0 else \
                f"halted; still {'not flat' if not flat else f'{busy} orders open'} after 10 s"
            self._sink.publish(messages.EStopChanged(state="ENGAGED", trading_state="HALTED", reason=reason,
                                                     command_id=self._command_id), now_ns)
            if self._command_id is not None:
                self._sink.publish(messages.CommandResult(command_id=self._command_id, command="EStop",
                                                          applied=True, reason=reason), now_ns)

    def release(self, command_id: str, now_ns: int) -> str | None:
        if self.state == EStopState.RELEASED:
            return "E-stop is not engaged"
        self.risk_engine.set_trading_state(NautilusTradingState.ACTIVE)
        self.state = EStopState.RELEASED
        self._command_id = None
        self._sink.publish(messages.EStopChanged(state="RELEASED", trading_state="ACTIVE", reason="released",
                                                 command_id=command_id), now_ns)
        return None
