"""The replay timeline: where the replay is in its scene, its speed, and a bar to click to seek."""

from __future__ import annotations

from collections.abc import Callable

from sextant.bridge import theme
from sextant.bridge.draw import Button, Painter
from sextant.bridge.layout import Rect
from sextant.bridge.model import BridgeModel


def _clock(ns: int) -> str:
    seconds = max(0, ns) // 1_000_000_000
    return f"{seconds // 60}:{seconds % 60:02d}"


def draw_timeline(p: Painter, model: BridgeModel, chart: Rect, *, on_seek: Callable[[float], None]) -> None:
    replay = model.replay
    strip = Rect(chart.left + p.px(12), chart.bottom + p.px(2), chart.width - p.px(24), p.tx(22))
    p.rect(strip, theme.with_alpha(theme.BG_BASE, 235))
    if replay is None:
        p.label("timeline:waiting", "REPLAY", strip.left + p.px(8), strip.center_y, size=theme.SIZE_SMALL,
                color=theme.MAGENTA, anchor_y="center")
        return
    state = "❚❚ paused" if replay.paused else "▶ playing"
    text = f"{state}  {_clock(replay.position_ns)} / {_clock(replay.duration_ns)}  {replay.speed:g}×   " \
           f"[Space] pause  [←/→] step  [ / ] speed  click the bar to seek"
    width = p.label("timeline:text", text, strip.left + p.px(8), strip.center_y, size=theme.SIZE_SMALL,
                    color=theme.MAGENTA, anchor_y="center")
    bar = Rect(strip.left + width + p.px(24), strip.center_y - p.tx(3), max(p.px(40), strip.right - strip.left - width
                                                                          - p.px(36)), p.tx(6))
    fraction = replay.position_ns / replay.duration_ns if replay.duration_ns > 0 else 1.0
    p.rect(bar, theme.BG_ELEVATED)
    p.rect(Rect(bar.left, bar.bottom, bar.width * min(max(fraction, 0.0), 1.0), bar.height), theme.MAGENTA)
    hit = Rect(bar.left, strip.bottom, bar.width, strip.height)

    def seek_at_mouse() -> None:
        on_seek((p.mouse[0] - bar.left) / bar.width if bar.width > 0 else 0.0)

    p.buttons.append(Button("timeline:seek", hit, seek_at_mouse))  # the bar itself is the button
