"""Hull integrity: the risk field's six dimensions as round gauges (value against its limit, zone ticks, trend)."""

from __future__ import annotations

import numpy as np

from sextant.bridge import theme
from sextant.bridge.draw import Painter
from sextant.bridge.layout import Rect
from sextant.bridge.model import BridgeModel, hull_fractions
from sextant.bridge.render.gl import SPRITE_GAUGE, GpuLayers, sprite
from sextant.state.layout import HullDimension

GAUGES = (HullDimension.DELTA, HullDimension.GAMMA, HullDimension.VEGA, HullDimension.LIQUIDITY,
          HullDimension.CONCENTRATION, HullDimension.LEVERAGE)
SHORT_NAMES = {"DELTA": "DELTA", "GAMMA": "GAMMA", "VEGA": "VEGA", "LIQUIDITY": "LIQ", "CONCENTRATION": "CONC",
               "LEVERAGE": "LEV"}
TREND_WINDOW = 120  # history samples the trend line covers


def gauge_readings(model: BridgeModel) -> list[tuple[str, float, bool]]:
    """(name, fraction of limit, applicable) per gauge; all zero before the first snapshot."""
    snapshot = model.snapshot
    if snapshot is None:
        return [(d.name, 0.0, True) for d in GAUGES]
    fractions = hull_fractions(snapshot)
    applicable = np.asarray(snapshot["risk_applicable"])
    return [(d.name, float(fractions[d]), bool(applicable[d])) for d in GAUGES]


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
    for (name, fraction, applicable), (x, _) in zip(readings, centres, strict=True):
        p.label(f"hullstrip:{name}", SHORT_NAMES[name], x, plate.bottom + p.px(5),
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
            dimension = GAUGES[index]
            lines = ((f"{float(snapshot['risk_x'][dimension]):,.3g} of {float(snapshot['risk_limit'][dimension]):,.3g}",
                      f"U {float(snapshot['risk_potential'][dimension]):.3f}") if applicable
                     else ("not applicable", "to a linear perp"))
            for line_index, line in enumerate(lines):
                p.label(f"hull:detail{index}.{line_index}", line, x, y - radius - p.tx(38 + 17 * line_index),
                        size=theme.SIZE_SMALL, mono=True, color=theme.TEXT_MUTED, anchor_x="center")
    if snapshot is not None:
        total = float(snapshot["risk_total"])
        veto = float(snapshot["risk_veto"])
        p.label("hull:total", f"field U = {total:.3f}   warn {float(snapshot['risk_warn']):.2f}   veto {veto:.2f}",
                area.left + p.px(16), area.bottom + p.px(12), size=theme.SIZE_BODY, mono=True,
                color=theme.RED if veto and total >= veto else theme.TEXT_SECONDARY)
