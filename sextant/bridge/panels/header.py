"""The header strip: ⚓ Sextant, instrument, price, position and PnL, the link badge and the engine's state."""

from __future__ import annotations

from sextant.bridge import theme
from sextant.bridge.draw import Painter
from sextant.bridge.layout import Rect
from sextant.bridge.link import LinkStatus
from sextant.bridge.model import BridgeModel, mid_text
from sextant.state.layout import EStopState, TradingState, Venue

BADGE_COLORS = {LinkStatus.LIVE: theme.GREEN, LinkStatus.STALE: theme.RED, LinkStatus.WAITING: theme.YELLOW,
                LinkStatus.STARTING: theme.YELLOW, LinkStatus.REPLAY: theme.MAGENTA, LinkStatus.DOWN: theme.RED}


def _enum_name(enum: type, value: int) -> str:
    try:
        return enum(value).name
    except ValueError:
        return f"#{value}"


def draw_header(p: Painter, model: BridgeModel, now_ns: int) -> None:
    rect = p.layout.header
    p.rect(rect, theme.BG_BASE)
    p.rect(Rect(rect.left, rect.bottom, rect.width, p.px(1)), theme.BORDER)
    baseline = rect.bottom + rect.height * 0.34
    gap = p.px(28)
    x = rect.left + p.px(18)
    x += p.label("header:brand", "⚓ Sextant", x, baseline, size=theme.SIZE_DISPLAY, bold=True, color=theme.CYAN) + gap
    snapshot = model.snapshot
    badge = model.status
    badge_rect = Rect(rect.right - p.px(128), rect.bottom + rect.height * 0.2, p.px(110), rect.height * 0.6)
    color = BADGE_COLORS[badge]
    p.rect(badge_rect, theme.with_alpha(color, 40))
    p.outline(badge_rect, color, p.px(1.5))
    p.label("header:badge", badge.value, badge_rect.center_x, badge_rect.center_y, size=theme.SIZE_BODY, bold=True,
            color=color, anchor_x="center", anchor_y="center")
    down = model.engine_down(now_ns)
    if down:  # what the supervisor says replaces the last numbers of a dead engine
        p.label("header:down", p.fit(down, badge_rect.left - x - gap, theme.SIZE_TITLE, bold=True), x, baseline,
                size=theme.SIZE_TITLE, bold=True, color=theme.RED)
        return
    if badge == LinkStatus.STARTING or snapshot is None or snapshot.sequence == 0:
        waiting = ("the engine is starting: no market data yet…" if badge == LinkStatus.STARTING
                   else "waiting for the engine's shared memory…")
        p.label("header:waiting", waiting, x, baseline, size=theme.SIZE_BODY, color=theme.TEXT_SECONDARY)
        return
    record = snapshot.record
    x += p.label("header:instrument", snapshot.instrument, x, baseline, size=theme.SIZE_BODY,
                 color=theme.TEXT_SECONDARY, mono=True) + gap
    mid = float(record["mid"])
    price = mid_text(mid, model.tick) if mid > 0 else "—"
    x += p.label("header:price", price, x, baseline, size=theme.SIZE_DISPLAY, mono=True, bold=True) + gap
    position = float(record["position_size"])
    unrealized = float(record["unrealized_pnl"])
    if position:
        side, side_color = ("LONG", theme.GREEN) if position > 0 else ("SHORT", theme.RED)
        text = f"{side} {abs(position):g} @ {mid_text(float(record['entry_price']), model.tick)}"
        x += p.label("header:position", text, x, baseline, size=theme.SIZE_TITLE, mono=True, color=side_color) + gap
    else:
        x += p.label("header:position", "FLAT", x, baseline, size=theme.SIZE_TITLE, mono=True,
                     color=theme.TEXT_MUTED) + gap
    realized = float(record["realized_pnl"])
    x += p.label("header:upnl", f"uPnL {unrealized:+,.2f}", x, baseline, size=theme.SIZE_TITLE, mono=True,
                 color=theme.GREEN if unrealized >= 0 else theme.RED) + gap
    x += p.label("header:rpnl", f"rPnL {realized:+,.2f}", x, baseline, size=theme.SIZE_TITLE, mono=True,
                 color=theme.GREEN if realized >= 0 else theme.RED) + gap
    trading = _enum_name(TradingState, int(record["trading_state"]))
    estop = int(record["estop"])
    flags = [_enum_name(Venue, int(record["venue"])), trading]
    if int(record["dry_run"]):
        flags.append("DRY RUN")
    state_color = theme.TEXT_SECONDARY if trading == "ACTIVE" else theme.RED
    if estop == EStopState.ENGAGED:
        flags.append("E-STOP")
    p.label("header:state", " · ".join(flags), x, baseline, size=theme.SIZE_BODY, mono=True, color=state_color)
