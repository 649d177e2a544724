"""Decision outcomes: what each closed position earned, and for which intent and agent.

This is what reputation (issue #7) will attest. A win is the position's realised PnL after fees being positive,
whatever its side. The original decided "win" after it had already reset the entry price to 0, so every closed
long counted as a win and every short as a loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sextant.engine.events import intent_of


@dataclass(frozen=True, slots=True)
class DecisionOutcome:
    intent_id: str | None
    agent: str | None
    side: str  # LONG or SHORT: the position's entry side
    quantity: float  # peak size, contracts
    entry_price: float
    exit_price: float
    realized_pnl: float  # quote currency, after fees
    win: bool
    ts_closed: int
    instrument: str = ""  # the position's instrument id (one of a portfolio's)


class OutcomeBook:
    def __init__(self, strategy: Any) -> None:
        self._strategy = strategy
        self.outcomes: list[DecisionOutcome] = []

    def on_position_closed(self, event: Any, agents_by_intent: dict[str, str]) -> DecisionOutcome:
        cache = self._strategy.cache
        opening = cache.order(event.opening_order_id)
        intent_id = intent_of(opening, cache) if opening is not None else None
        realized = event.realized_pnl.as_double() if event.realized_pnl is not None else 0.0
        outcome = DecisionOutcome(
            intent_id=intent_id, agent=agents_by_intent.get(intent_id) if intent_id else None,
            side="LONG" if event.entry.name == "BUY" else "SHORT", quantity=float(event.peak_qty),
            entry_price=float(event.avg_px_open), exit_price=float(event.avg_px_close), realized_pnl=realized,
            win=realized > 0, ts_closed=event.ts_closed, instrument=event.instrument_id.value)
        self.outcomes.append(outcome)
        return outcome
