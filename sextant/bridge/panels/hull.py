"""Hull integrity: the risk field's six dimensions as round gauges (value against its limit, zone ticks, trend).

The hull is the portfolio's: DELTA is the net delta in the account's currency (named NET DELTA once there are two
instruments or more), CONCENTRATION the largest instrument's |notional| against equity (not applicable with one
instrument, shown so as gamma and vega are), LEVERAGE the gross notional against equity. Each reading is written in
its own unit: "net Δ -1,234 USDT", "lev 0.12×", "conc 8% BTC".
"""

from __future__ import annotations

import numpy as np

from sextant.bridge import theme
from sextant.bridge.draw import Painter
from sextant.bridge.instruments import account_currency, base_asset
from sextant.bridge.layout import Rect
from sextant.bridge.model import BridgeModel, hull_fractions
from sextant.bridge.render.gl import SPRITE_GAUGE, GpuLayers, sprite
from sextant.state.context import ContextSnapshot
from sextant.state.layout import HullDimension

GAUGES = (HullDimension.DELTA, HullDimension.GAMMA, HullDimension.VEGA, HullDimension.LIQUIDITY,
          HullDimension.CONCENTRATION, HullDimension.LEVERAGE)
SHORT_NAMES = {"DELTA": "DELTA", "GAMMA": "GAMMA", "VEGA": "VEGA", "LIQUIDITY": "LIQ", "CONCENTRATION": "CONC",
               "LEVERAGE": "LEV"}
TREND_WINDOW = 120  # history samples the trend line covers


def gauge_readings(model: BridgeModel) -> list[tuple[str, float, bool]]:
    """(name, fraction of limit, applicable) per gauge; all zero before the first snapshot."""
    snapshot = model.snapshot
    names = [gauge_name(d, model.fleet_shown) for d in GAUGES]
    if snapshot is None:
        return [(name, 0.0, True) for name in names]
    fractions = hull_fractions(snapshot)
    applicable = np.asarray(snapshot["risk_applicable"])
    return [(name, float(fractions[d]), bool(applicable[d])) for name, d in zip(names, GAUGES, strict=True)]


def gauge_name(dimension: HullDimension, fleet: bool, short: bool = False) -> str:
    """A gauge's name: DELTA is the net delta of the fleet where there are two instruments or more."""
    if dimension == HullDimension.DELTA and fleet:
        return "NET Δ" if short else "NET DELTA"
    return SHORT_NAMES[dimension.name] if short else dimension.name


def _amount(value: float, sign: str = "") -> str:
    """A reading as a trader writes it: 1,234 for a large one, 0.085 for a small one (`sign` "+": always signed)."""
    magnitude = abs(value)
    return format(value, sign + (",.0f" if magnitude >= 100 else ",.2f" if magnitude >= 1 else ".3g"))


def gauge_details(model: BridgeModel, dimension: HullDimension, applicable: bool) -> tuple[str, str]:
    """The two lines under a large gauge: the reading in its own unit, then its limit and its potential."""
    snapshot = model.snapshot
    assert snapshot is not None
    if not applicable:
        why = "one instrument" if dimension == HullDimension.CONCENTRATION else "to a linear perp"
        return ("not applicable", why)
    x, limit = float(snapshot["risk_x"][dimension]), float(snapshot["risk_limit"][dimension])
    potential = f"U {float(snapshot['risk_potential'][dimension]):.3f}"
    if dimension == HullDimension.DELTA:
        name = "net Δ" if model.fleet_shown else "Δ"
        currency = account_currency(model)
        return (f"{name} {_amount(x, '+')} {currency}".rstrip(), f"of {_amount(limit)} · {potential}")
    if dimension == HullDimension.LIQUIDITY:
        return (f"exit {x:.1f} bps", f"of {limit:g} bps · {potential}")
    if dimension == HullDimension.CONCENTRATION:
        return (f"conc {abs(x):.0%} {_largest(model, snapshot)}".rstrip(), f"of {limit:.0%} · {potential}")
    if dimension == HullDimension.LEVERAGE:
        return (f"lev {x:.2f}×", f"of {limit:g}× · {potential}")
    return (f"{x:,.3g} of {limit:,.3g}", potential)


def _largest(model: BridgeModel, snapshot: ContextSnapshot) -> str:
    """The base asset of the instrument the concentration reading is of (the account's `largest_slot`)."""
    return base_asset(model, int(snapshot["largest_slot"]))


def gauge_sprites(readings: list[tuple[str, float, bool]], centres: list[tuple[float, float]],
                  radius: float) -> list[tuple]:
    out = []
    for (_, fraction, applicable), (x, y) in zip(readings, centres, strict=True):
        color = theme.zone_color(fraction) if applicable else theme.TEXT_DISABLED
        out.append(sprite(SPRITE_GAUGE, x, y, radius, (fraction if applicable else 0.0, theme.ZONE_YELLOW,
                                                         theme.ZONE_RED, 0.0), color))
    return out


def hull_strip_plate(p: Painter, rect: Rect) -> Rect:
    """Where the strip sits in the chart `rect` (the chart keeps its labels out of it)."""
    radius, spacing = p.px(20), p.px(62)
    right = rect.right - p.px(20) - radius
    y = rect.top - p.px(34)
    left = right - (len(GAUGES) - 1) * spacing
    return Rect(left - radius - p.px(12), y - radius - p.px(22), (len(GAUGES) - 1) * spacing + 2 * radius + p.px(24),
                2 * radius + p.px(30))


def draw_hull_strip(p: Painter, gpu: GpuLayers, model: BridgeModel, rect: Rect) -> None:
    """Six small gauges across the top right of the sea chart: the hull at a glance."""
    readings = gauge_readings(model)
    radius = p.px(20)
    spacing = p.px(62)
    right = rect.right - p.px(20) - radius
    y = rect.top - p.px(34)
    centres = [(right - (len(readings) - 1 - i) * spacing, y) for i in range(len(readings))]
    plate = hull_strip_plate(p, rect)
    p.rect(plate, theme.with_alpha(theme.BG_BASE, 200))
    with gpu.drawing():
        gpu.sprites(gauge_sprites(readings, centres, radius))
    for dimension, (_, fraction, applicable), (x, _) in zip(GAUGES, readings, centres, strict=True):
        p.label(f"hullstrip:{dimension.name}", gauge_name(dimension, model.fleet_shown, short=True), x,
                plate.bottom + p.px(5),
                size=theme.SIZE_SMALL - 2, color=theme.zone_color(fraction) if applicable else theme.TEXT_DISABLED,
                anchor_x="center")


def draw_hull_drawer(p: Painter, gpu: GpuLayers, model: BridgeModel, area: Rect) -> None:
    """Drawer [4]: large gauges in a 3×2 grid, each with its numbers and a trend line."""
    readings = gauge_readings(model)
    snapshot = model.snapshot
    columns, rows = 3, 2
    footer = p.tx(44)  # the field's total, under the grid
    grid = Rect(area.left, area.bottom + footer, area.width, area.height - footer)
    cell_w, cell_h = grid.width / columns, grid.height / rows
    # Each cell, top down: the gauge, its name and two lines of numbers, then its trend line.
    text_h = p.tx(18 + 38 + 17) + p.font(theme.SIZE_SMALL)
    trend_h = max(p.px(12), cell_h * 0.10)
    radius = max(p.px(16), min(cell_w * 0.26, (cell_h - text_h - trend_h - p.px(28)) / 2.2))
    centres = []
    for index in range(len(readings)):
        column, row = index % columns, index // columns
        centres.append((grid.left + cell_w * (column + 0.5), grid.top - cell_h * row - p.px(10) - radius * 1.1))
    _, _, _, hull = model.history.ordered()
    with gpu.drawing():
        gpu.sprites(gauge_sprites(readings, centres, radius))
        for index, dimension in enumerate(GAUGES):
            trend = hull[-TREND_WINDOW:, dimension]
            if len(trend) >= 2:
                x0 = centres[index][0] - cell_w * 0.38
                y0 = centres[index][1] - radius - text_h - p.px(8) - trend_h
                xs = x0 + np.linspace(0, cell_w * 0.76, len(trend))
                ys = y0 + np.clip(trend, 0, 1) * trend_h
                gpu.polyline(np.stack([xs, ys], axis=1), p.px(1.5), theme.zone_color(float(trend[-1])))
    for index, (name, fraction, applicable) in enumerate(readings):
        x, y = centres[index]
        color = theme.zone_color(fraction) if applicable else theme.TEXT_DISABLED
        p.label(f"hull:value{index}", f"{fraction:.0%}" if applicable else "n/a", x, y, size=theme.SIZE_DISPLAY,
                bold=True, mono=True, color=color, anchor_x="center", anchor_y="center")
        p.label(f"hull:name{index}", name, x, y - radius - p.tx(18), size=theme.SIZE_BODY, bold=True,
                color=theme.TEXT_SECONDARY, anchor_x="center")
        if snapshot is not None:
            lines = gauge_details(model, GAUGES[index], applicable)
            for line_index, line in enumerate(lines):
                p.label(f"hull:detail{index}.{line_index}", line, x, y - radius - p.tx(38 + 17 * line_index),
                        size=theme.SIZE_SMALL, mono=True, color=theme.TEXT_MUTED, anchor_x="center")
    if snapshot is not None:
        total = float(snapshot["risk_total"])
        veto = float(snapshot["risk_veto"])
        p.label("hull:total", f"field U = {total:.3f}   warn {float(snapshot['risk_warn']):.2f}   veto {veto:.2f}",
                area.left + p.px(16), area.bottom + p.px(12), size=theme.SIZE_BODY, mono=True,
                color=theme.RED if veto and total >= veto else theme.TEXT_SECONDARY)
