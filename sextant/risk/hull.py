"""The hull readings: the portfolio's risk field's inputs, from the ContextWindow's positions, books and account.

    DELTA          the portfolio's net delta in the settlement currency: Σ position × multiplier × mid. Its limit is
                   the largest of the instruments' own delta limits at their mids, so with one instrument it is that
                   instrument's limit (10 base sizes). Each instrument's delta in its base asset has its own term
                   against its own limit (`delta_potential` in its slot) once there are two or more.
    GAMMA, VEGA    zero for linear instruments: flagged not applicable, never shown as a fake reading
    LIQUIDITY      estimated cost in bps to trade out, of the least liquid instrument: half the spread, scaled up by
                   the size against the depth at the touch on the exit side (the base size when flat, so the gauge
                   shows the market's liquidity)
    CONCENTRATION  the largest single instrument's |notional| as a share of equity; not applicable with one
                   instrument, where it would only repeat the leverage
    LEVERAGE       gross notional (Σ |notional|) / equity
    DRAWDOWN       fall of equity from its peak, as a fraction
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
import numpy as np
from numba import njit

from sextant.risk.field import size_factor, slope_along
from sextant.state.layout import HullDimension

LINEAR_PERP_APPLICABLE = np.array([1, 0, 0, 1, 1, 1, 1], np.uint8)
# The dimensions as literals for `readings`: numba freezes globals into its on-disk cache, which a change in
# layout.py alone would not invalidate; this check makes such a change fail here, where an edit recompiles.
_DELTA, _GAMMA, _VEGA, _LIQUIDITY, _CONCENTRATION, _LEVERAGE, _DRAWDOWN = 0, 1, 2, 3, 4, 5, 6
if {d.name: int(d) for d in HullDimension} != {"DELTA": _DELTA, "GAMMA": _GAMMA, "VEGA": _VEGA, "LIQUIDITY": _LIQUIDITY,
                                               "CONCENTRATION": _CONCENTRATION, "LEVERAGE": _LEVERAGE,
                                               "DRAWDOWN": _DRAWDOWN}:
    raise ImportError("HullDimension changed: update the literals in sextant/risk/hull.py")
_DIMENSIONS = 7


def applicable(instruments: int) -> np.ndarray:
    """Which dimensions apply to a portfolio of linear instruments: concentration only across two or more."""
    flags = LINEAR_PERP_APPLICABLE.copy()
    flags[_CONCENTRATION] = 1 if instruments > 1 else 0
    return flags


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
def instrument_readings(rec: Any, base_size: float) -> None:
    """An instrument's own readings into its slot `rec`: its delta in the base asset and its cost to trade out."""
    position = rec.position_size
    rec.delta = position * rec.multiplier
    exit_depth = rec.bid_size if position >= 0 else rec.ask_size
    size = max(abs(position), base_size)
    rec.liquidity_bps = rec.spread_bps / 2 * (1.0 + size / exit_depth) if exit_depth > 0 else math.inf


@njit(cache=True, nogil=True)
def least_liquid(slots: np.ndarray, count: int) -> int:
    """The slot whose exit costs the most bps (the LIQUIDITY reading's instrument)."""
    worst = 0
    for j in range(1, count):
        if slots[j].liquidity_bps > slots[worst].liquidity_bps:
            worst = j
    return worst


@njit(cache=True, nogil=True)
def readings(acct: Any, slots: np.ndarray, count: int, out: np.ndarray) -> None:
    """Fill `out` (length DIMENSIONS) with the portfolio's readings from the account `acct` and its first `count`
    instrument slots, once each slot's instrument_readings and the account's marks are current."""
    out[_DELTA] = acct.net_delta
    out[_GAMMA] = 0.0
    out[_VEGA] = 0.0
    out[_LIQUIDITY] = slots[least_liquid(slots, count)].liquidity_bps if count > 0 else 0.0
    equity = acct.equity
    out[_CONCENTRATION] = slots[acct.largest_slot].position_notional / equity if equity > 0 and count > 0 else 0.0
    out[_LEVERAGE] = acct.leverage
    out[_DRAWDOWN] = acct.drawdown


@njit(cache=True, nogil=True)
def instrument_potentials(slots: np.ndarray, count: int) -> float:
    """Each instrument's own delta term into its slot, summed; none with one instrument (its delta is the net)."""
    total = 0.0
    for j in range(count):
        rec = slots[j]
        if count < 2:
            rec.delta_potential = 0.0
            continue
        ratio = abs(rec.delta) / rec.delta_limit if rec.delta_limit > 0 else math.inf
        rec.delta_potential = -math.log1p(-ratio) if ratio < 1.0 else math.inf
        total += rec.delta_potential
    return total


@njit(cache=True, nogil=True)
def change_per_contract(acct: Any, slots: np.ndarray, slot: int, direction: float, out: np.ndarray) -> None:
    """How each reading moves per contract of instrument `slot` traded in `direction` (+1 buy, −1 sell): the field's
    direction vector. `out` holds the DIMENSIONS portfolio readings, then one delta term per instrument slot."""
    rec = slots[slot]
    count = acct.instrument_count
    position, multiplier, mid, equity = rec.position_size, rec.multiplier, rec.mid, acct.equity
    grows = 1.0 if position == 0 or (position > 0) == (direction > 0) else -1.0  # d|position|
    exit_depth = rec.bid_size if position >= 0 else rec.ask_size
    out[:] = 0.0
    out[_DELTA] = direction * multiplier * mid
    if equity > 0:
        out[_LEVERAGE] = grows * multiplier * mid / equity
        if count > 1 and slot == acct.largest_slot:
            out[_CONCENTRATION] = out[_LEVERAGE]
    if exit_depth > 0 and slot == least_liquid(slots, count):
        out[_LIQUIDITY] = grows * rec.spread_bps / 2 / exit_depth
    out[_DIMENSIONS + slot] = direction * multiplier


@njit(cache=True, nogil=True)
def _trade_field(account: np.ndarray, slots: np.ndarray, slot: int, direction: float, contracts: float,
                 change: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The field a trade of `contracts` of instrument `slot` in `direction` moves through: the portfolio's readings,
    then each instrument's own delta (applicable with two or more), as (x, limits, applicable); `change` (DIMENSIONS
    + the slot count) receives the trade's move of each."""
    acct = account[0]
    change_per_contract(acct, slots, slot, direction, change)
    dimensions = _DIMENSIONS
    size = change.shape[0]
    x, limits, applicable = np.zeros(size), np.ones(size), np.zeros(size, np.uint8)
    for i in range(dimensions):
        change[i] *= contracts
        x[i], limits[i], applicable[i] = acct.risk_x[i], acct.risk_limit[i], acct.risk_applicable[i]
    count = acct.instrument_count
    for j in range(size - dimensions):
        change[dimensions + j] *= contracts
        if count > 1 and j < count and slots[j].delta_limit > 0:
            x[dimensions + j], limits[dimensions + j] = slots[j].delta, slots[j].delta_limit
            applicable[dimensions + j] = 1
    return x, limits, applicable


@njit(cache=True, nogil=True)
def trade_size_factor(account: np.ndarray, slots: np.ndarray, slot: int, direction: float, contracts: float,
                      change: np.ndarray) -> float:
    """size_factor for trading `contracts` of instrument `slot` in `direction`, from the pending record (the
    ContextWriter's account_storage and slots): the gate's one call on the path from a quote to an order."""
    x, limits, applicable = _trade_field(account, slots, slot, direction, contracts, change)
    return size_factor(x, limits, applicable, change)


@njit(cache=True, nogil=True)
def trade_relieves(account: np.ndarray, slots: np.ndarray, slot: int, direction: float, contracts: float,
                   change: np.ndarray) -> bool:
    """Whether such a trade lowers the portfolio's potential (an exit, a hedge): what stays allowed over the veto."""
    x, limits, applicable = _trade_field(account, slots, slot, direction, contracts, change)
    return slope_along(x, limits, applicable, change) < 0.0
