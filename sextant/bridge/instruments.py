"""The instruments the engine trades, as the bridge names them (short symbols, the account's currency) and the
fleet: one cell per instrument with its price, position, PnL and heat, for the window's fleet strip and the
terminal alike. No GL here.

Heat is an instrument's own delta against its own limit, |delta| / delta_limit (both in its base asset, from its
slot), 0 to 1: the same reading as a hull gauge, coloured by the same zones (green, then yellow from 0.6 of the
limit, red from 0.8). Its potential (`delta_potential`) would say the same less plainly, and is 0 with one
instrument.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sextant.bridge import theme
from sextant.bridge.model import BridgeModel, mid_text
from sextant.state.context import decode_instrument


def short_symbol(instrument_id: str) -> str:
    """The instrument without its venue: BTC-USDT-SWAP.OKX → BTC-USDT-SWAP."""
    return instrument_id.rsplit(".", 1)[0] if "." in instrument_id else instrument_id


def base_asset(model: BridgeModel, slot: int) -> str:
    """What instrument `slot` trades, as the engine wrote it (BTC, EUR, an equity's symbol); "" before it did."""
    slots = model.slots()
    return decode_instrument(slots[slot]["base"]) if slots is not None and slot < len(slots) else ""


def account_currency(model: BridgeModel) -> str:
    """The account's currency, as the engine wrote it (USDT on OKX, USD for EURUSD); "" before it did."""
    return decode_instrument(model.snapshot["currency"]) if model.snapshot is not None else ""


def signed_size(position: float) -> str:
    """A position, signed: +2, -0.5, or flat."""
    return f"{position:+g}" if position else "flat"


@dataclass(frozen=True, slots=True)
class FleetCell:
    """One instrument at a glance, as words and the colours they are drawn in."""

    slot: int
    instrument: str  # its id, e.g. BTC-USDT-SWAP.OKX
    symbol: str  # the id without the venue
    price: str  # the mid, at its own decimals; "—" before its first quote
    position: str  # signed contracts: +2, -6, flat
    position_color: theme.Color
    pnl: str  # unrealized, in the account's currency
    pnl_color: theme.Color
    heat: float  # |delta| / delta_limit, 0 .. 1 (0 without a limit)
    heat_text: str  # "Δ 45%", "Δ —" without a limit
    heat_color: theme.Color
    selected: bool


def fleet_cells(model: BridgeModel) -> list[FleetCell]:
    """Every instrument the engine trades, in slot order; none before its first record."""
    if model.snapshot is None:
        return []
    slots = model.slots()
    cells = []
    for slot, instrument in enumerate(model.instrument_ids[: model.instrument_count]):
        fields = slots[slot]
        mid, tick = float(fields["mid"]), float(fields["price_increment"])
        position, unrealized = float(fields["position_size"]), float(fields["unrealized_pnl"]) + 0.0  # no -0.00
        delta, limit = float(fields["delta"]), float(fields["delta_limit"])
        heat = float(np.clip(abs(delta) / limit, 0.0, 1.0)) if limit > 0 and np.isfinite(delta) else 0.0
        cells.append(FleetCell(
            slot, instrument, short_symbol(instrument), mid_text(mid, tick) if mid > 0 else "—",
            signed_size(position), theme.GREEN if position > 0 else theme.RED if position < 0 else theme.TEXT_MUTED,
            f"{unrealized:+,.2f}", theme.GREEN if unrealized > 0 else theme.RED if unrealized < 0 else theme.TEXT_MUTED,
            heat, f"Δ {heat:.0%}" if limit > 0 else "Δ —", theme.zone_color(heat) if limit > 0 else theme.TEXT_MUTED,
            slot == model.selected))
    return cells


def fleet_line(model: BridgeModel) -> str:
    """The fleet on one line, for the terminal: the selected instrument marked with ▸."""
    return "  ".join(f"{'▸' if cell.selected else ' '}{cell.slot + 1} {cell.symbol} {cell.price} {cell.position} "
                     f"uPnL {cell.pnl} {cell.heat_text}" for cell in fleet_cells(model))
