"""What the crew says (AgentIntent) and what the engine does about it (ExecutionDirective). Immutable messages."""

from __future__ import annotations

from typing import Literal

import msgspec

from sextant.state.messages import ExecutionStyleName

IntentKind = Literal["TrendFollow", "MeanReversion", "DeltaHedge", "GammaScalp", "LiquidationCapture", "Hold",
                     "Veto", "Research"]  # Research: a change of a crew member's parameters (research/link.py)
TimeInForceName = Literal["GTC", "IOC", "FOK"]


class RiskBudget(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    max_loss: float  # USDT lost if the market moves LOSS_MOVE against the new exposure
    max_position: float  # contracts, absolute
    max_drawdown_bps: float = 500.0


class AgentIntent(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A crew member's proposal. `target_position` is the signed position (contracts) it wants to end with."""

    id: str
    agent: str
    kind: IntentKind
    instrument: str
    target_position: float | None = None
    confidence: float = 0.5
    reputation: float = 0.5
    budget: RiskBudget
    horizon_s: float = 300.0
    title: str = ""
    reasoning: str = ""
    all_or_nothing: bool = False  # compiles to FOK
    style: ExecutionStyleName | None = None  # an explicit preference overrides the kind's mapping
    created_ns: int = 0
    expires_ns: int | None = None

    @property
    def is_actionable(self) -> bool:
        return self.kind not in ("Hold", "Veto") and self.target_position is not None


class ExecutionDirective(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One order plan for Nautilus. Quantities in contracts; prices in quote currency."""

    intent_id: str
    instrument: str
    side: Literal["BUY", "SELL"]
    quantity: float
    style: ExecutionStyleName
    time_in_force: TimeInForceName
    price: float | None = None  # LIMIT, IOC, FOK
    trailing_offset_bps: float | None = None  # TRAILING_STOP
    twap_horizon_s: float | None = None  # TWAP
    twap_interval_s: float | None = None
    reference_mid: float = 0.0  # the mid the plan was made at, for re-checks and slippage
    max_slippage_bps: float = 50.0

    @property
    def plan(self) -> str:
        """The execution plan in words, for the intent card."""
        size = f"{self.side} {self.quantity:g}"
        if self.style == "TWAP":
            slices = round((self.twap_horizon_s or 0) / (self.twap_interval_s or 1))
            return f"{size} by TWAP, {slices} slices every {self.twap_interval_s:g} s"
        if self.style == "TRAILING_STOP":
            return f"{size} on a trailing stop {self.trailing_offset_bps:g} bps (emulated)"
        if self.style == "LIMIT":
            return f"{size} post-only limit @ {self.price:.1f}"
        if self.style in ("IOC", "FOK"):
            return f"{size} {self.style} limit @ {self.price:.1f}"
        return f"{size} at market"
