"""IntentCompiler: an intent becomes one execution directive, or a rejection with its reason. Pure.

Mapping (docs/spec.md#the-crew): TrendFollow → emulated TrailingStop (50 bps); MeanReversion → post-only Limit at
the passive touch; DeltaHedge → TWAP through Nautilus' TWAP algorithm; GammaScalp and LiquidationCapture → IOC; an
all-or-nothing intent → FOK; an explicit style preference wins; anything else → Market. IOC and FOK are marketable
limits at the far touch.

Quantity = target − position, rounded down to the lot; the side follows its sign (the original read the sign of
the target, so reducing a long bought more). Checks: finite numbers, the target within the budget's position,
the loss at a LOSS_MOVE adverse move within max_loss, and the order's notional at least min_notional.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

from sextant.state.messages import ExecutionStyleName
from sextant.swarm.intent import AgentIntent, ExecutionDirective

LOSS_MOVE = 0.005  # the adverse move max_loss is measured against (0.5 %)
TRAILING_OFFSET_BPS = 50.0
TWAP_MIN_INTERVAL_S = 1.0
TWAP_MAX_SLICES = 20
STYLE_SLIPPAGE_BPS: dict[ExecutionStyleName, float] = {
    "MARKET": 50.0, "LIMIT": 10.0, "TRAILING_STOP": 200.0, "TWAP": 50.0, "IOC": 100.0, "FOK": 100.0}
_KIND_STYLE: dict[str, ExecutionStyleName] = {
    "TrendFollow": "TRAILING_STOP", "MeanReversion": "LIMIT", "DeltaHedge": "TWAP", "GammaScalp": "IOC",
    "LiquidationCapture": "IOC"}


class CompileRejected(ValueError):
    """The intent cannot become an order; the message is the reason shown to the human and in the event log."""


class MarketView(msgspec.Struct, frozen=True, kw_only=True):
    """What the compiler needs to know about the market and the book."""

    bid: float
    ask: float
    position: float  # contracts, signed
    lot: float = 0.01
    tick: float = 0.1
    multiplier: float = 0.01
    min_notional: float = 20.0  # in the account's currency
    currency: str = "USDT"  # the account's: the instrument's settlement currency
    instrument: str = ""  # whose book this is (one of the engine's instruments)

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2


def scaled_quantity(size: float, size_factor: float, lot: float) -> float:
    """`size` scaled by the risk field's factor, in whole lots: the nearest lot, never more than `size` itself (a
    field that trims 0.1 % must not cut a whole lot)."""
    return min(round(size * size_factor / lot), math.floor(size / lot + 1e-9)) * lot


def compile_intent(intent: AgentIntent, market: MarketView, size_factor: float = 1.0) -> ExecutionDirective | None:
    """The directive for `intent`, or None when there is nothing to do (Hold, Veto, already at target).

    `size_factor` (0..1, from the risk field) scales the quantity; a factor that leaves less than one lot is a
    rejection, so the human sees why nothing happened.
    """
    if not intent.is_actionable:
        return None
    target = intent.target_position
    assert target is not None
    for name, value in (("target position", target), ("confidence", intent.confidence),
                        ("bid", market.bid), ("ask", market.ask), ("position", market.position)):
        if not math.isfinite(value):
            raise CompileRejected(f"{name} is not a finite number ({value})")
    if not (0 < market.bid <= market.ask):
        raise CompileRejected(f"no usable book (bid {market.bid}, ask {market.ask})")
    if abs(target) > intent.budget.max_position:
        raise CompileRejected(f"target {target:g} exceeds the budget's max position {intent.budget.max_position:g}")
    delta = target - market.position
    if math.floor(abs(delta) / market.lot + 1e-9) < 1:
        return None
    if not (math.isfinite(size_factor) and 0 <= size_factor <= 1):
        raise CompileRejected(f"risk size factor {size_factor} is not in [0, 1]")
    quantity = scaled_quantity(abs(delta), size_factor, market.lot)
    if quantity < market.lot:
        raise CompileRejected(f"the risk field scales {abs(delta):g} contracts by {size_factor:.3f}: less than one "
                              f"lot is left")
    side = "BUY" if delta > 0 else "SELL"
    notional = quantity * market.mid * market.multiplier
    loss = notional * LOSS_MOVE
    if loss > intent.budget.max_loss:
        raise CompileRejected(f"a {LOSS_MOVE:.1%} move would lose {loss:.2f} {market.currency}, over the budget's "
                              f"{intent.budget.max_loss:.2f}")
    if notional < market.min_notional:
        raise CompileRejected(f"order notional {notional:.2f} {market.currency} is below the minimum "
                              f"{market.min_notional:.2f}")
    style: ExecutionStyleName = intent.style or (
        "FOK" if intent.all_or_nothing else _KIND_STYLE.get(intent.kind, "MARKET"))
    common: dict[str, Any] = {"intent_id": intent.id, "instrument": intent.instrument, "side": side,
                              "quantity": round(quantity, 8), "style": style, "reference_mid": market.mid,
                              "max_slippage_bps": STYLE_SLIPPAGE_BPS[style]}
    passive, aggressive = (market.bid, market.ask) if side == "BUY" else (market.ask, market.bid)
    if style == "LIMIT":
        return ExecutionDirective(**common, time_in_force="GTC", price=passive)
    if style in ("IOC", "FOK"):
        return ExecutionDirective(**common, time_in_force=style, price=aggressive)
    if style == "TRAILING_STOP":
        return ExecutionDirective(**common, time_in_force="GTC", trailing_offset_bps=TRAILING_OFFSET_BPS)
    if style == "TWAP":
        max_slices = max(1, min(TWAP_MAX_SLICES, int(intent.horizon_s // TWAP_MIN_INTERVAL_S),
                                int(quantity / market.lot + 1e-9)))
        interval = intent.horizon_s / max_slices
        return ExecutionDirective(**common, time_in_force="GTC", twap_horizon_s=interval * max_slices,
                                  twap_interval_s=interval)
    return ExecutionDirective(**common, time_in_force="GTC")
