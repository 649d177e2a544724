"""The hull readings: the risk field's inputs, computed from the ContextWindow's position, book and account numbers.

    DELTA          signed exposure in the base asset (BTC, EUR, shares): position × contract multiplier
    GAMMA, VEGA    zero for a linear perpetual: flagged not applicable, never shown as a fake reading
    LIQUIDITY      estimated cost in bps to trade out: half the spread, scaled up by the size against the depth at
                   the touch on the exit side (the base size when flat, so the gauge shows the market's liquidity)
    CONCENTRATION  share of equity committed as margin
    LEVERAGE       position notional / equity
    DRAWDOWN       fall of equity from its peak, as a fraction
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
import numpy as np
from numba import njit

from sextant.risk.field import size_factor
from sextant.state.layout import HullDimension

LINEAR_PERP_APPLICABLE = np.array([1, 0, 0, 1, 1, 1, 1], np.uint8)
# The dimensions as literals for `readings`: numba freezes globals into its on-disk cache, which a change in
# layout.py alone would not invalidate; this check makes such a change fail here, where an edit recompiles.
_DELTA, _GAMMA, _VEGA, _LIQUIDITY, _CONCENTRATION, _LEVERAGE, _DRAWDOWN = 0, 1, 2, 3, 4, 5, 6
if {d.name: int(d) for d in HullDimension} != {"DELTA": _DELTA, "GAMMA": _GAMMA, "VEGA": _VEGA, "LIQUIDITY": _LIQUIDITY,
                                               "CONCENTRATION": _CONCENTRATION, "LEVERAGE": _LEVERAGE,
                                               "DRAWDOWN": _DRAWDOWN}:
    raise ImportError("HullDimension changed: update the literals in sextant/risk/hull.py")


DELTA_BASE_SIZES = 10.0


class RiskLimits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    delta: float = 0.1  # in the base asset: 10 contracts of BTC-USDT-SWAP (for_base_size scales it)
    gamma: float = 1.0  # (not applicable to a linear perp; a limit is still required by the field)
    vega: float = 1.0
    liquidity_bps: float = 25.0
    concentration: float = 0.5
    leverage: float = 3.0
    drawdown: float = 0.05
    warn: float = 1.0  # docs/spec.md#risk-field: warn at U ≥ 1
    veto: float = 2.0  # and veto at U ≥ 2

    @classmethod
    def for_base_size(cls, base_size: float, multiplier: float) -> RiskLimits:
        """The limits for a crew trading `base_size` of an instrument of `multiplier`: a delta of DELTA_BASE_SIZES
        base sizes, whatever the instrument (BTC-USDT-SWAP's 1 contract of 0.01 BTC: 0.1 BTC)."""
        return cls(delta=DELTA_BASE_SIZES * base_size * multiplier)

    def as_array(self) -> np.ndarray:
        return np.array([self.delta, self.gamma, self.vega, self.liquidity_bps, self.concentration,
                         self.leverage, self.drawdown])

    def __post_init__(self) -> None:
        for name in ("delta", "gamma", "vega", "liquidity_bps", "concentration", "leverage", "drawdown", "warn",
                     "veto"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"risk limit {name}={value} must be a positive number")
        if self.warn >= self.veto:
            raise ValueError(f"risk warn threshold {self.warn} must be below the veto threshold {self.veto}")


@njit(cache=True, nogil=True)
def readings(position: float, multiplier: float, bid_size: float, ask_size: float, spread_bps: float,
             margin_used: float, equity: float, leverage: float, drawdown: float, base_size: float,
             out: np.ndarray) -> None:
    """Fill `out` (length DIMENSIONS) with the readings for a book: position (contracts), contract multiplier,
    top-of-book sizes and spread, margin used, equity, leverage and drawdown (the encoder's per-quote kernel)."""
    exit_depth = bid_size if position >= 0 else ask_size
    size = max(abs(position), base_size)
    out[_DELTA] = position * multiplier
    out[_GAMMA] = 0.0
    out[_VEGA] = 0.0
    out[_LIQUIDITY] = spread_bps / 2 * (1.0 + size / exit_depth) if exit_depth > 0 else math.inf
    out[_CONCENTRATION] = margin_used / equity if equity > 0 else 0.0
    out[_LEVERAGE] = leverage
    out[_DRAWDOWN] = drawdown


@njit(cache=True, nogil=True)
def change_per_contract(rec: Any, direction: float, out: np.ndarray) -> None:
    """How each reading moves per contract traded in `direction` (+1 buy, −1 sell): the field's direction vector.
    `rec` is a ContextWindow record inside numba (a structured array's element)."""
    position, multiplier = rec.position_size, rec.multiplier
    mid, equity = rec.mid, rec.equity
    grows = 1.0 if position == 0 or (position > 0) == (direction > 0) else -1.0  # d|position|
    notional = rec.position_notional
    exit_depth = rec.bid_size if position >= 0 else rec.ask_size
    out[:] = 0.0
    out[_DELTA] = direction * multiplier
    if equity > 0:
        out[_LEVERAGE] = grows * multiplier * mid / equity
        if notional > 0:
            out[_CONCENTRATION] = out[_LEVERAGE] * rec.margin_used / notional
    if exit_depth > 0:
        out[_LIQUIDITY] = grows * rec.spread_bps / 2 / exit_depth


@njit(cache=True, nogil=True)
def trade_size_factor(storage: np.ndarray, direction: float, contracts: float, change: np.ndarray) -> float:
    """size_factor for trading `contracts` in `direction` from the record `storage[0]` (the ContextWriter's
    pending record): the gate's one call on the path from a quote to an order. `change` receives the trade's
    move of the readings."""
    rec = storage[0]
    change_per_contract(rec, direction, change)
    dimensions = change.shape[0]
    for i in range(dimensions):
        change[i] *= contracts
    return size_factor(rec.risk_x[:dimensions], rec.risk_limit[:dimensions], rec.risk_applicable[:dimensions],
                       change)
