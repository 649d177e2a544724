"""The sea chart: the price over a volatility-heat field (blue calm → red storm), the current-price dot and the
dashed predicted path, all on the engine's clock."""

from __future__ import annotations

import numpy as np

from sextant.bridge import theme
from sextant.bridge.draw import Painter
from sextant.bridge.layout import Rect
from sextant.bridge.model import BridgeModel
from sextant.bridge.render.gl import HEAT_COLUMNS, SPRITE_DOT, GpuLayers, sprite
from sextant.state.layout import FORECAST_POINTS

FORECAST_SHARE = 0.14  # the right part of the chart, kept for the predicted path
MIN_SPAN_BPS = 6.0  # a quiet market is not magnified into noise
MIN_WINDOW_S = 20.0  # a young session fills the chart from the left, but never squeezes a few seconds wide
DRAWER_HINT = ("[1] Orders  [2] Research  [3] Memory  [4] Hull  [A] approve  [R] reject  [M] modify  [Space] E-STOP"
               "  [?] keys")


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


def draw_sea_chart(p: Painter, gpu: GpuLayers, model: BridgeModel, rect: Rect) -> None:
    ts, mids, seas, _ = model.history.ordered()
    snapshot = model.snapshot
    plot = rect.inset(p.px(14), p.px(14))
    axis_w = max(p.px(84), p.font(theme.SIZE_SMALL) * 7.6)
    plot = Rect(plot.left, plot.bottom + p.px(18), plot.width - axis_w, plot.height - p.px(44))
    p.rect(rect, theme.BG_DEEP)
    title_y = rect.top - p.px(24)
    p.label("chart:title", "SEA CHART", rect.left + p.px(16), title_y, size=theme.SIZE_SMALL, bold=True,
            color=theme.TEXT_MUTED)
    if model.replay is None or model.status.value != "REPLAY":  # a replay's timeline takes this line
        p.label("chart:hint", DRAWER_HINT, rect.left + p.px(16), rect.bottom + p.px(8), size=theme.SIZE_SMALL,
                color=theme.TEXT_DISABLED)
    if snapshot is None or len(ts) < 2:
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
    visible = ts >= now_ns - model.history_s * 1e9
    ts, mids, seas = ts[visible], mids[visible], seas[visible]
    forecast_step = float(snapshot["forecast_step_s"])
    forecast = np.asarray(snapshot["forecast_mid"], np.float64)
    has_forecast = forecast_step > 0 and bool(np.all(forecast > 0))
    forecast_ts = now_ns + (np.arange(1, FORECAST_POINTS + 1) * forecast_step * 1e9).astype(np.int64)
    prices = np.concatenate([mids, forecast]) if has_forecast else mids
    low, high = float(prices.min()), float(prices.max())
    mid_now = float(mids[-1])
    span = max(high - low, mid_now * MIN_SPAN_BPS / 1e4)
    centre = (high + low) / 2
    low, high = centre - span * 0.6, centre + span * 0.6
    start_ns = min(max(int(ts[0]), now_ns - int(model.history_s * 1e9)), now_ns - int(MIN_WINDOW_S * 1e9))
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
    with gpu.drawing():
        gpu.heat_field(plot, sea_columns, line_columns, model.now_s)
        gpu.polyline(points, p.px(2.5), theme.TEXT)
        if has_forecast:
            path = np.stack([np.concatenate([[dot_x], geometry.x(forecast_ts)]),
                             np.concatenate([[dot_y], geometry.y(forecast)])], axis=1)
            gpu.polyline(path, p.px(2.0), theme.YELLOW, dash=p.px(12))
        blink = (model.now_s % 1.2) / 1.2
        gpu.sprites([sprite(SPRITE_DOT, dot_x, dot_y, p.px(14), (blink, 0, 0, 0), sea_color)])
    # Now-line and axis labels.
    p.vline(history_end, plot.bottom, plot.top, theme.with_alpha(theme.TEXT_MUTED, 90), p.px(1))
    axis_x = plot.right + p.px(8)
    for index, fraction in enumerate((0.0, 0.5, 1.0)):
        price = low + (high - low) * (0.1 + 0.8 * fraction)
        y = float(geometry.y(price))
        if abs(y - dot_y) < p.font(theme.SIZE_SMALL) * 1.4:
            continue  # the last price's own label is there
        p.label(f"chart:axis{index}", f"{price:,.1f}", axis_x, y, size=theme.SIZE_SMALL, mono=True,
                color=theme.TEXT_MUTED, anchor_y="center")
    p.label("chart:last", f"{mid_now:,.2f}", axis_x, dot_y, size=theme.SIZE_SMALL, mono=True, bold=True,
            color=sea_color, anchor_y="center")
    span_s = (now_ns - start_ns) / 1e9
    for index, fraction in enumerate((0.0, 0.5)):
        seconds_ago = span_s * (1 - fraction)
        x = float(geometry.x(now_ns - seconds_ago * 1e9))
        p.label(f"chart:time{index}", f"-{_duration(seconds_ago)}", x + (p.px(6) if index == 0 else 0),
                plot.bottom + p.px(8), size=theme.SIZE_SMALL, color=theme.TEXT_MUTED,
                anchor_x="left" if index == 0 else "center")
    p.label("chart:now", "now", history_end, plot.bottom + p.px(8), size=theme.SIZE_SMALL, color=theme.TEXT_MUTED,
            anchor_x="center")
    if has_forecast:
        p.label("chart:forecast", f"+{_duration(FORECAST_POINTS * forecast_step)}", plot.right - p.px(6),
                plot.bottom + p.px(8), size=theme.SIZE_SMALL, color=theme.YELLOW, anchor_x="right")
    vol = float(np.asarray(snapshot["volatility"])[1]) if len(snapshot["volatility"]) > 1 else 0.0
    p.label("chart:sea", f"SEA {sea_name(sea_now)}  {sea_now:.2f}   vol {vol:.0%}   spread "
            f"{float(snapshot['spread_bps']):.2f} bps", rect.left + p.px(40) + p.font(theme.SIZE_SMALL) * 8, title_y,
            size=theme.SIZE_SMALL, mono=True, color=sea_color)


def _duration(seconds: float) -> str:
    if seconds >= 90:
        return f"{seconds / 60:.0f}m" if seconds >= 600 else f"{seconds / 60:.1f}m"
    return f"{seconds:.0f}s"

