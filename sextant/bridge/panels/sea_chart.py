"""The sea chart: the price over a volatility-heat field (blue calm → red storm), the current-price dot and the
dashed predicted path, all on the engine's clock; over them what the trader has in the market (the position's
entry, its stop, every working order, each fill, each E-STOP moment) with a legend; axes at round values; and
under it the session's equity strip.

From the top: the title row, the plot (the price axis to its right), the time axis, the equity strip, the key hint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sextant.bridge import theme
from sextant.bridge.axes import format_ago, format_price, price_ticks, time_ticks_ago
from sextant.bridge.blotter import EStopMark, OrderState
from sextant.bridge.draw import Painter
from sextant.bridge.layout import Rect
from sextant.bridge.model import BridgeModel, mid_text, price_text
from sextant.bridge.panels.hull import hull_strip_plate
from sextant.bridge.positions import position_words
from sextant.bridge.render.gl import HEAT_COLUMNS, SPRITE_DOT, SPRITE_FILL, GpuLayers, sprite
from sextant.state.layout import FORECAST_POINTS

FORECAST_SHARE = 0.14  # the right part of the chart, kept for the predicted path
MIN_SPAN_BPS = 6.0  # a quiet market is not magnified into noise
MIN_WINDOW_S = 20.0  # a young session fills the chart from the left, but never squeezes a few seconds wide
HELP_HINT = "[?] keys"
PRICE_TICK_PX = 100  # at 1080p: round prices at least this far apart
TIME_TICK_PX = 150
FILL_MARKER_PX = 11
ENTRY_COLOR = theme.TEXT_SECONDARY
STOP_COLOR = theme.RED
ORDER_COLOR = theme.CYAN
ESTOP_COLOR = theme.RED


def sea_name(sea: float) -> str:
    return "CALM" if sea < 0.33 else "CHOPPY" if sea < 0.66 else "STORM"


class ChartGeometry:
    """Maps engine time and price to chart pixels."""

    def __init__(self, plot: Rect, now_ns: int, start_ns: int, forecast_s: float, low: float, high: float) -> None:
        self.plot = plot
        self.now_ns = now_ns
        self.start_ns = start_ns
        self.history_w = plot.width * (1 - FORECAST_SHARE)
        self.forecast_s = forecast_s
        self.low, self.high = low, high

    def x(self, ts_ns: np.ndarray | float) -> np.ndarray:
        ts = np.asarray(ts_ns, np.float64)
        past = (ts - self.start_ns) / max(1.0, self.now_ns - self.start_ns) * self.history_w
        future = self.history_w + (ts - self.now_ns) / 1e9 / max(self.forecast_s, 1e-9) * (self.plot.width -
                                                                                            self.history_w)
        return self.plot.left + np.where(ts <= self.now_ns, past, future)

    def y(self, price: np.ndarray | float) -> np.ndarray:
        return self.plot.bottom + (np.asarray(price, np.float64) - self.low) / (self.high - self.low) * self.plot.height


@dataclass(frozen=True, slots=True)
class ChartFrame:
    """Where each part of the chart goes inside its rect."""

    plot: Rect
    axis_x: float  # the price labels' left edge
    title_y: float
    time_y: float  # the time labels' baseline, under the plot
    strip: Rect  # the equity strip
    hint_y: float

    @classmethod
    def inside(cls, p: Painter, rect: Rect) -> ChartFrame:
        pad = p.px(14)
        axis_w = max(p.px(84), p.font(theme.SIZE_SMALL) * 7.6)
        line = p.tx(22)  # one row of small text
        hint_bottom = rect.bottom + p.px(6)
        strip = Rect(rect.left + pad, hint_bottom + line, rect.width - 2 * pad - axis_w, p.tx(58))
        plot_bottom = strip.top + line + p.px(4)
        plot_top = rect.top - p.px(40)
        plot = Rect(rect.left + pad, plot_bottom, strip.width, max(p.px(40), plot_top - plot_bottom))
        return cls(plot, plot.right + p.px(8), rect.top - p.px(24), strip.top + p.px(8), strip,
                   hint_bottom + p.px(4))


def draw_sea_chart(p: Painter, gpu: GpuLayers, model: BridgeModel, rect: Rect, *, trader_layers: bool = True) -> None:
    """`trader_layers` False leaves out the orders, fills, E-STOP marks, legend and equity strip: what the chart was
    before them, for `sextant bench bridge` to measure their cost in the same run."""
    ts, mids, seas, _ = model.history.ordered(model.selected)
    priced = mids > 0  # the samples taken before this instrument had a price are not its past
    ts, mids, seas = ts[priced], mids[priced], seas[priced]
    snapshot = model.snapshot
    frame = ChartFrame.inside(p, rect)
    plot = frame.plot
    p.rect(rect, theme.BG_DEEP)
    p.label("chart:title", "SEA CHART", rect.left + p.px(16), frame.title_y, size=theme.SIZE_SMALL, bold=True,
            color=theme.TEXT_MUTED)
    replaying = model.replay is not None and model.status.value == "REPLAY"  # its timeline takes the bottom row
    if not replaying:
        p.label("chart:help", HELP_HINT, plot.right, frame.hint_y, size=theme.SIZE_SMALL, color=theme.CYAN,
                anchor_x="right")
    if snapshot is None or len(ts) < 2 or model.status.value == "STARTING":
        with gpu.drawing():
            gpu.heat_field(plot, np.zeros(HEAT_COLUMNS), np.full(HEAT_COLUMNS, -1.0), model.now_s)
        p.label("chart:empty", "no market data yet", plot.center_x, plot.center_y, size=theme.SIZE_TITLE,
                color=theme.TEXT_MUTED, anchor_x="center", anchor_y="center")
        return
    # The newest quote is drawn even between history samples, so the dot and the header agree.
    live_ts, live_mid = int(snapshot["ts_ns"]), float(snapshot["mid"])
    if live_ts > ts[-1] and live_mid > 0:
        ts, mids = np.append(ts, live_ts), np.append(mids, live_mid)
        seas = np.append(seas, float(snapshot["sea_state"]))
    now_ns = int(ts[-1])
    visible = ts >= now_ns - model.window_s * 1e9
    ts, mids, seas = ts[visible], mids[visible], seas[visible]
    forecast_step = float(snapshot["forecast_step_s"])
    forecast = np.asarray(snapshot["forecast_mid"], np.float64)
    has_forecast = forecast_step > 0 and bool(np.all(forecast > 0))
    forecast_ts = now_ns + (np.arange(1, FORECAST_POINTS + 1) * forecast_step * 1e9).astype(np.int64)
    prices = np.concatenate([mids, forecast]) if has_forecast else mids
    low, high = float(prices.min()), float(prices.max())
    mid_now = float(mids[-1])
    levels = _levels(model, mid_now) if trader_layers else []
    # A working order or the entry a little beyond the price's range widens it, so its line and words are on the
    # chart; one far away (a 2 % stop in a quiet market) stays at the edge with an arrow instead.
    reach = max(high - low, mid_now * MIN_SPAN_BPS / 1e4) * 0.75
    for level in levels:
        if low - reach <= level.price <= high + reach:
            low, high = min(low, level.price), max(high, level.price)
    span = max(high - low, mid_now * MIN_SPAN_BPS / 1e4)
    centre = (high + low) / 2
    low, high = centre - span * 0.6, centre + span * 0.6
    start_ns = min(max(int(ts[0]), now_ns - int(model.window_s * 1e9)), now_ns - int(MIN_WINDOW_S * 1e9))
    geometry = ChartGeometry(plot, now_ns, start_ns, FORECAST_POINTS * forecast_step if has_forecast else 1.0,
                             low, high)
    # Heat and line heights, per column along the time axis.
    column_x = plot.left + np.linspace(0.0, 1.0, HEAT_COLUMNS) * plot.width
    history_end = plot.left + geometry.history_w
    x_samples = geometry.x(ts)
    sea_columns = np.interp(column_x, x_samples, seas)
    line_columns = (np.interp(column_x, x_samples, mids) - low) / (high - low)
    line_columns[(column_x < x_samples[0]) | (column_x > history_end)] = -1.0
    # Thin the line to about one point per 3 px: sliver triangles are what costs on a software rasteriser.
    step = max(1, int(len(ts) / max(2.0, geometry.history_w / 3)))
    points = np.stack([x_samples[::step], geometry.y(mids[::step])], axis=1)
    points = np.vstack([points, [[x_samples[-1], float(geometry.y(mid_now))]]])
    dot_x, dot_y = float(x_samples[-1]), float(geometry.y(mid_now))
    sea_now = float(seas[-1])
    sea_color = theme.SEA_WARM if sea_now >= 0.66 else theme.SEA_CURRENT if sea_now >= 0.33 else theme.SEA_COOL
    tick_prices, tick_step = price_ticks(low, high, max(3, int(plot.height / p.px(PRICE_TICK_PX))))
    span_s = (now_ns - start_ns) / 1e9
    time_ago = time_ticks_ago(span_s, max(2, int(geometry.history_w / p.px(TIME_TICK_PX))))
    with gpu.drawing():
        gpu.heat_field(plot, sea_columns, line_columns, model.now_s)
    _grid(p, geometry, tick_prices, time_ago, history_end)
    estops = [mark for mark in model.blotter.estops if start_ns <= mark.ts_ns <= now_ns] if trader_layers else []
    for mark in estops:
        p.vline(float(geometry.x(mark.ts_ns)), plot.bottom, plot.top, theme.with_alpha(ESTOP_COLOR, 200), p.px(2))
    fills = [fill for fill in model.blotter.fills_of(model.instrument_filter) if start_ns <= fill.ts_ns <= now_ns] \
        if trader_layers else []
    with gpu.drawing():
        for level in levels:
            y = float(np.clip(geometry.y(level.price), plot.bottom, plot.top))
            gpu.polyline(np.array([[plot.left, y], [history_end, y]]), p.px(1.5), level.color, dash=p.px(8))
        gpu.polyline(points, p.px(2.5), theme.TEXT)
        if has_forecast:
            path = np.stack([np.concatenate([[dot_x], geometry.x(forecast_ts)]),
                             np.concatenate([[dot_y], geometry.y(forecast)])], axis=1)
            gpu.polyline(path, p.px(2.0), theme.YELLOW, dash=p.px(12))
        blink = (model.now_s % 1.2) / 1.2
        markers = [sprite(SPRITE_FILL, float(geometry.x(fill.ts_ns)),
                          float(np.clip(geometry.y(fill.price), plot.bottom, plot.top)), p.px(FILL_MARKER_PX),
                          (1.0 if fill.side == "BUY" else -1.0, 0, 0, 0), theme.side_color(fill.side))
                   for fill in fills]
        gpu.sprites([*markers, sprite(SPRITE_DOT, dot_x, dot_y, p.px(14), (blink, 0, 0, 0), sea_color)])
    axis_top = min(plot.top, hull_strip_plate(p, rect).bottom)
    _price_axis(p, frame, geometry, tick_prices, tick_step, mid_now, dot_y, sea_color, levels, axis_top, model.tick)
    _time_axis(p, frame, geometry, time_ago, history_end, has_forecast, FORECAST_POINTS * forecast_step)
    if not replaying and trader_layers:
        _legend(p, frame, levels, bool(fills), bool(estops))
    marker_points = [(float(geometry.x(fill.ts_ns)), float(geometry.y(fill.price))) for fill in fills]
    _level_labels(p, geometry, levels, history_end, marker_points)
    _estop_labels(p, geometry, estops[-4:])
    if trader_layers:
        _equity_strip(p, gpu, model, frame.strip, geometry)
    vol = float(np.asarray(snapshot["volatility"])[1]) if len(snapshot["volatility"]) > 1 else 0.0
    p.label("chart:sea", f"SEA {sea_name(sea_now)}  {sea_now:.2f}   vol {vol:.0%}   spread "
            f"{float(snapshot['spread_bps']):.2f} bps", rect.left + p.px(40) + p.font(theme.SIZE_SMALL) * 8,
            frame.title_y, size=theme.SIZE_SMALL, mono=True, color=sea_color)


@dataclass(frozen=True, slots=True)
class Level:
    """A price the trader has in the market: the entry, a stop, a working order."""

    key: str
    price: float
    text: str
    color: theme.Color
    kind: str  # entry, stop, order (the legend's entries)


def _levels(model: BridgeModel, mid: float) -> list[Level]:
    snapshot = model.snapshot
    assert snapshot is not None
    levels = []
    size, entry = float(snapshot["position_size"]), float(snapshot["entry_price"])
    if size and entry > 0:
        levels.append(Level("entry", entry, f"ENTRY {position_words(size)} @ {mid_text(entry, model.tick)}",
                            ENTRY_COLOR, "entry"))
    for order in model.blotter.working(model.instrument_filter):
        level = order.level
        if level is None or level <= 0:
            continue
        stop = order.role in ("stop-loss", "trailing stop", "stop")
        levels.append(Level(order.client_order_id, level, _order_text(order, mid, model.tick),
                            STOP_COLOR if stop else ORDER_COLOR, "stop" if stop else "order"))
    return levels


def _order_text(order: OrderState, mid: float, tick: float) -> str:
    away = (order.level or mid) / mid - 1 if mid > 0 else 0.0
    filled = f" {order.filled:g}/{order.quantity:g}" if order.filled else f" {order.quantity:g}"
    # A trailing stop's trigger moves with the price at the venue (or Nautilus' emulator); the engine reports
    # where it was placed, so that is what the line and its words say.
    at = "placed at" if order.role == "trailing stop" else "@"
    return f"{order.role.upper()} {order.side}{filled} {at} {price_text(order.level or 0.0, tick)} ({away:+.2%})"


def _grid(p: Painter, geometry: ChartGeometry, tick_prices: list[float], time_ago: list[int],
          history_end: float) -> None:
    plot = geometry.plot
    rule = theme.with_alpha(theme.TEXT_MUTED, 34)
    for price in tick_prices:
        p.rect(Rect(plot.left, float(geometry.y(price)) - p.px(0.5), plot.width, p.px(1)), rule)
    for ago in time_ago:
        p.vline(float(geometry.x(geometry.now_ns - ago * 1e9)), plot.bottom, plot.top, rule, p.px(1))
    p.vline(history_end, plot.bottom, plot.top, theme.with_alpha(theme.TEXT_MUTED, 90), p.px(1))


def _price_axis(p: Painter, frame: ChartFrame, geometry: ChartGeometry, tick_prices: list[float], tick_step: float,
                mid: float, dot_y: float, sea_color: theme.Color, levels: list[Level], top: float,
                tick: float) -> None:
    """The last price, then each level clamped into the plot, then the round ticks, each only where it has room
    (below `top`: the hull gauges sit over the axis' upper end)."""
    row = p.font(theme.SIZE_SMALL) * 1.35
    taken: list[float] = []

    def room(y: float) -> bool:
        return all(abs(y - other) >= row for other in taken)

    plot = frame.plot
    last_y = float(np.clip(dot_y, plot.bottom + row / 2, top - row / 2))
    p.label("chart:last", mid_text(mid, tick), frame.axis_x, last_y, size=theme.SIZE_SMALL, mono=True, bold=True,
            color=sea_color, anchor_y="center")
    taken.append(last_y)
    for level in levels:
        y = float(np.clip(geometry.y(level.price), plot.bottom + row / 2, top - row / 2))
        if room(y):
            p.label(f"chart:level:{level.key}", price_text(level.price, tick), frame.axis_x, y, size=theme.SIZE_SMALL,
                    mono=True, color=level.color, anchor_y="center")
            taken.append(y)
    for index, price in enumerate(tick_prices):
        y = float(geometry.y(price))
        if plot.bottom + row / 2 <= y <= top - row / 2 and room(y):
            p.label(f"chart:axis{index}", format_price(price, tick_step), frame.axis_x, y, size=theme.SIZE_SMALL,
                    mono=True, color=theme.TEXT_MUTED, anchor_y="center")
            taken.append(y)


def _time_axis(p: Painter, frame: ChartFrame, geometry: ChartGeometry, time_ago: list[int], history_end: float,
               has_forecast: bool, forecast_s: float) -> None:
    plot = frame.plot
    half = p.font(theme.SIZE_SMALL) * 1.6
    now_w = p.label("chart:now", "now", history_end, frame.time_y, size=theme.SIZE_SMALL, color=theme.TEXT_MUTED,
                    anchor_x="center")
    right_limit = history_end - now_w / 2 - p.px(10)
    for index, ago in enumerate(time_ago):
        x = float(geometry.x(geometry.now_ns - ago * 1e9))
        if x - half < plot.left or x + half > right_limit:
            continue
        p.label(f"chart:time{index}", format_ago(ago), x, frame.time_y, size=theme.SIZE_SMALL, color=theme.TEXT_MUTED,
                anchor_x="center")
    if has_forecast:
        p.label("chart:forecast", f"+{forecast_s:.0f}s", plot.right, frame.time_y, size=theme.SIZE_SMALL,
                color=theme.YELLOW, anchor_x="right")


def _legend(p: Painter, frame: ChartFrame, levels: list[Level], fills: bool, estops: bool) -> None:
    """What each mark means, along the bottom row, for the marks shown, and the heat's scale."""
    kinds = {level.kind for level in levels}
    lines = [("price", theme.TEXT, False), ("forecast", theme.YELLOW, True)]
    lines += [(name, color, True) for kind, name, color in (
        ("entry", "entry", ENTRY_COLOR), ("stop", "stop", STOP_COLOR), ("order", "working order", ORDER_COLOR))
        if kind in kinds]
    size = theme.SIZE_SMALL - 1
    x, y = frame.plot.left, frame.hint_y
    right = frame.plot.right - p.measure(HELP_HINT, theme.SIZE_SMALL) - p.px(16)
    swatch_w, swatch_h = p.px(16), max(1.0, p.px(2))
    middle = y + p.font(size) * 0.35
    for index, (name, color, dashed) in enumerate(lines):
        if x + swatch_w + p.px(5) + p.measure(name, size) > right:
            return
        for part in ((0.0, 0.4), (0.6, 1.0)) if dashed else ((0.0, 1.0),):
            p.rect(Rect(x + part[0] * swatch_w, middle, (part[1] - part[0]) * swatch_w, swatch_h), color)
        x += swatch_w + p.px(5)
        x += p.label(f"chart:legend{index}", name, x, y, size=size, color=theme.TEXT_SECONDARY) + p.px(14)
    marks = [("▲", "buy fill", theme.GREEN), ("▼", "sell fill", theme.RED)] if fills else []
    if estops:
        marks.append(("│", "E-STOP", ESTOP_COLOR))
    for index, (glyph, name, color) in enumerate(marks):
        if x + p.measure(f"{glyph} {name}", size, bold=True) + p.px(4) > right:
            return
        x += p.label(f"chart:mark{index}:glyph", glyph, x, y, size=size, color=color, bold=True) + p.px(4)
        x += p.label(f"chart:mark{index}", name, x, y, size=size, color=theme.TEXT_SECONDARY) + p.px(14)
    bar_w = p.px(64)
    if x + p.measure("heat: calm storm", size) + bar_w + p.px(12) > right:
        return
    x += p.label("chart:legend:calm", "heat: calm", x, y, size=size, color=theme.TEXT_SECONDARY) + p.px(6)
    ramp = theme.HEAT_RAMP
    for segment in range(12):
        t = segment / 11 * (len(ramp) - 1)
        low_color, high_color = ramp[int(t)], ramp[min(int(t) + 1, len(ramp) - 1)]
        f = t - int(t)
        mixed = [int(a + (b - a) * f) for a, b in zip(low_color, high_color, strict=True)]
        p.rect(Rect(x + segment * bar_w / 12, middle - p.px(3), bar_w / 12 + 0.5, p.px(8)),
               (mixed[0], mixed[1], mixed[2], 255))
    p.label("chart:legend:storm", "storm", x + bar_w + p.px(6), y, size=size, color=theme.TEXT_SECONDARY)


def _level_labels(p: Painter, geometry: ChartGeometry, levels: list[Level], history_end: float,
                  markers: list[tuple[float, float]]) -> None:
    """Each level's words on its line at the left, moved apart where lines are close and right past the fill
    markers they would hide; a level outside the price range sits at the edge with an arrow."""
    plot = geometry.plot
    size = theme.SIZE_SMALL - 1
    row = p.font(size) * 1.45
    marker_r = p.px(FILL_MARKER_PX)
    placed: list[float] = []
    for level in sorted(levels, key=lambda lv: -lv.price):
        y = float(np.clip(geometry.y(level.price), plot.bottom + row, plot.top - row)) + p.px(3)
        for other in placed:
            if abs(y - other) < row:
                y = other - row
        if y < plot.bottom + p.px(4):
            continue  # no room left: the axis still shows its price
        beyond = "▲ " if level.price > geometry.high else "▼ " if level.price < geometry.low else ""
        text = p.fit(beyond + level.text, history_end - plot.left - p.px(24), size, bold=True)
        x, width = plot.left + p.px(10), p.measure(text, size, bold=True)
        for marker_x, marker_y in sorted(markers):
            if y - marker_r <= marker_y <= y + row and x - marker_r <= marker_x <= x + width + marker_r:
                x = marker_x + marker_r + p.px(4)
        if x + width > history_end:
            continue  # markers all along the line: its price is on the axis
        p.label(f"chart:levelText:{level.key}", text, x, y, size=size, color=level.color, bold=True)
        placed.append(y)


def _estop_labels(p: Painter, geometry: ChartGeometry, estops: list[EStopMark]) -> None:
    """Each E-STOP moment named beside its line at the foot of the plot, a row up where the one before is close."""
    size = theme.SIZE_SMALL - 1
    row = p.font(size) * 1.45
    ends: list[float] = []  # each row's right edge so far
    for index, mark in enumerate(estops):
        text = f"E-STOP {mark.state}"
        x = float(geometry.x(mark.ts_ns)) + p.px(4)
        width = p.measure(text, size, bold=True)
        if x + width > geometry.plot.right:
            x = float(geometry.x(mark.ts_ns)) - p.px(4) - width  # at the right edge: left of its line
        level = next((n for n, end in enumerate(ends) if x > end + p.px(8)), len(ends))
        if level == len(ends):
            ends.append(0.0)
        ends[level] = x + width
        p.label(f"chart:estop{index}", text, x, geometry.plot.bottom + p.px(10) + level * row, size=size, bold=True,
                color=ESTOP_COLOR)


def _equity_strip(p: Painter, gpu: GpuLayers, model: BridgeModel, strip: Rect, geometry: ChartGeometry) -> None:
    """The session's PnL (equity against this engine's first), on the chart's own time axis."""
    p.rect(strip, theme.with_alpha(theme.BG_BASE, 220))
    ts, equity = model.history.equity_curve()
    start = model.session_start_equity
    keep = (ts >= geometry.start_ns) & (equity > 0)
    ts, equity = ts[keep], equity[keep]
    snapshot = model.snapshot
    now_equity = float(snapshot["equity"]) if snapshot is not None else 0.0
    pnl_now = now_equity - start if start and now_equity else 0.0
    color = theme.GREEN if pnl_now >= 0 else theme.RED
    size = theme.SIZE_SMALL - 1
    label_w = p.label("strip:pnl", f"SESSION PnL {pnl_now:+,.2f}", strip.left + p.px(8), strip.top - p.font(size) * 1.3,
                      size=size, bold=True, mono=True, color=color)
    p.label("strip:equity", f"equity {now_equity:,.2f}", strip.left + p.px(8) + label_w + p.px(16),
            strip.top - p.font(size) * 1.3, size=size, mono=True, color=theme.TEXT_SECONDARY)
    if len(ts) < 2 or not start:
        return
    pnl = equity - start
    extent = max(float(np.abs(pnl).max()), start * 1e-5)  # a flat session is a flat line, not magnified noise
    line_area = Rect(strip.left, strip.bottom + p.px(4), strip.width, strip.height - p.font(size) * 1.6)
    zero_y = line_area.center_y
    x = np.clip(geometry.x(ts), strip.left, strip.left + geometry.history_w)
    y = zero_y + pnl / extent * line_area.height / 2
    p.rect(Rect(strip.left, zero_y - p.px(0.5), geometry.history_w, p.px(1)), theme.with_alpha(theme.TEXT_MUTED, 90))
    with gpu.drawing():
        gpu.polyline(np.stack([x, y], axis=1), p.px(1.5), color)
    p.label("strip:extent", f"±{extent:,.2f}", strip.left + geometry.history_w - p.px(6),
            strip.top - p.font(size) * 1.3, size=size, mono=True, color=theme.TEXT_MUTED, anchor_x="right")
