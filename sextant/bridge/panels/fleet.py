"""The fleet strip: under the header, one cell per instrument the engine trades (shown from two): its symbol and
heat, its price, its position and unrealized PnL, a heat bar along its foot; the instrument the bridge shows is
highlighted. A click on a cell shows that instrument (as Tab and F1-F8 do); what each cell says is
bridge/instruments.py's."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from sextant.bridge import theme
from sextant.bridge.draw import Button, Painter
from sextant.bridge.instruments import FleetCell, fleet_cells
from sextant.bridge.layout import Rect
from sextant.bridge.model import BridgeModel

CELL_GAP = 8
SYMBOL_SIZE = theme.SIZE_SMALL
PRICE_SIZE = theme.SIZE_BODY
DETAIL_SIZE = theme.SIZE_SMALL


def draw_fleet(p: Painter, model: BridgeModel, strip: Rect, *, on_select: Callable[[int], None]) -> None:
    p.rect(strip, theme.BG_BASE)
    p.rect(Rect(strip.left, strip.bottom, strip.width, p.px(1)), theme.BORDER)
    cells = fleet_cells(model)
    if not cells:
        return
    gap = p.px(CELL_GAP)
    width = (strip.width - gap) / len(cells) - gap
    panel = p.region
    for index, cell in enumerate(cells):
        rect = Rect(strip.left + gap + index * (width + gap), strip.bottom + p.px(6), width,
                    strip.height - p.px(12))
        _draw_cell(p, cell, rect)
        p.buttons.append(Button(f"fleet:{cell.slot}", rect, partial(on_select, cell.slot)))
    p.region = panel


def _draw_cell(p: Painter, cell: FleetCell, rect: Rect) -> None:
    """Top down: symbol (left) and heat (right); the price; position (left) and uPnL (right); the heat bar."""
    hovered = p.hovered(rect)
    p.rect(rect, theme.BG_ELEVATED if cell.selected else theme.with_alpha(theme.CYAN, 24) if hovered
           else theme.BG_SURFACE)
    if cell.selected:
        p.outline(rect, theme.CYAN, p.px(1.5))
    bar_h = max(1.0, p.px(3))
    p.rect(Rect(rect.left, rect.bottom, rect.width * cell.heat, bar_h), cell.heat_color)
    p.region = (f"fleet cell {cell.slot}", rect)
    key = f"fleet{cell.slot}"
    pad = p.tx(8)
    left, right = rect.left + pad, rect.right - pad
    inner = right - left
    row = rect.height / 3
    top_y = rect.top - row * 0.78
    heat_w = p.label(f"{key}:heat", cell.heat_text, right, top_y, size=DETAIL_SIZE, mono=True, bold=True,
                     color=cell.heat_color, anchor_x="right")
    symbol_w = max(0.0, inner - heat_w - p.tx(6))
    p.label(f"{key}:symbol", p.fit(cell.symbol, symbol_w, SYMBOL_SIZE, bold=True), left, top_y, size=SYMBOL_SIZE,
            bold=True, color=theme.TEXT if cell.selected else theme.TEXT_SECONDARY)
    p.label(f"{key}:price", p.fit(cell.price, inner, PRICE_SIZE, mono=True, bold=True), left,
            rect.top - row * 1.82, size=PRICE_SIZE, mono=True, bold=True,
            color=theme.TEXT if cell.selected else theme.TEXT_SECONDARY)
    bottom_y = rect.bottom + bar_h + row * 0.3
    pnl_w = p.label(f"{key}:pnl", p.fit(cell.pnl, inner * 0.6, DETAIL_SIZE, mono=True), right, bottom_y,
                    size=DETAIL_SIZE, mono=True, color=cell.pnl_color, anchor_x="right")
    p.label(f"{key}:position", p.fit(cell.position, max(0.0, inner - pnl_w - p.tx(6)), DETAIL_SIZE, mono=True),
            left, bottom_y, size=DETAIL_SIZE, mono=True, color=cell.position_color)
