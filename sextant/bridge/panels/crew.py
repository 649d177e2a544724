"""The crew bar: one cell per agent (avatar, breathing status light, name, one-line task), then the autonomy
selector and the E-STOP. Buttons send commands; what they show comes back from the engine."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from sextant.bridge import theme
from sextant.bridge.draw import Painter
from sextant.bridge.layout import Rect
from sextant.bridge.model import BridgeModel, attestor_status
from sextant.bridge.render.gl import SPRITE_AVATAR, SPRITE_LIGHT, GpuLayers, sprite
from sextant.state.context import render_crew_task, validated_share
from sextant.state.layout import Autonomy, CrewAgent, CrewState, EStopState
from sextant.state.messages import AttestorDown

# The crew's nautical roles (docs/bridge.md#the-look) and each avatar's hue.
ROLES: dict[int, tuple[str, theme.Color]] = {
    CrewAgent.MOMENTUM: ("helmsman", theme.CYAN),
    CrewAgent.MEAN_REVERSION: ("navigator", theme.MAGENTA),
    CrewAgent.RISK: ("bosun", theme.RED),
    CrewAgent.DELTA_HEDGE: ("trimmer", theme.YELLOW),
    CrewAgent.PERCEPTION: ("lookout", theme.GREEN),
    CrewAgent.RESEARCH: ("scribe", theme.TEXT_SECONDARY),
}
STATE_COLORS: dict[int, theme.Color] = {
    CrewState.OFFLINE: theme.TEXT, CrewState.IDLE: theme.TEXT_MUTED, CrewState.ACTIVE: theme.GREEN,
    CrewState.THINKING: theme.CYAN, CrewState.SUGGESTING: theme.YELLOW, CrewState.ALERT: theme.RED,
}
BREATH_S = 1.5  # the status light's breathing period (docs/bridge.md#the-look)
CONTROLS_W = 560


def _name(enum: type, value: int) -> str:
    try:
        return enum(value).name
    except ValueError:
        return f"#{value}"


def draw_crew_bar(p: Painter, gpu: GpuLayers, model: BridgeModel, *, on_autonomy: Callable[[str], None],
                  on_estop: Callable[[], None]) -> None:
    bar = p.layout.crew_bar
    p.rect(bar, theme.BG_BASE)
    p.rect(Rect(bar.left, bar.top - p.px(1), bar.width, p.px(1)), theme.BORDER)
    controls = Rect(bar.right - p.px(CONTROLS_W), bar.bottom, p.px(CONTROLS_W), bar.height)
    snapshot = model.snapshot
    count = int(snapshot["crew_count"]) if snapshot is not None else 0
    cells_w = controls.left - bar.left - p.px(12)
    cell_w = cells_w / max(count, 1)
    sprites = []
    phase = (model.now_s % BREATH_S) / BREATH_S
    for slot in range(count):
        assert snapshot is not None
        agent = int(snapshot["crew_agent"][slot])
        state = int(snapshot["crew_state"][slot])
        role, hue = ROLES.get(agent, ("crew", theme.TEXT_SECONDARY))
        color = STATE_COLORS.get(state, theme.TEXT_MUTED)
        cell = Rect(bar.left + p.px(8) + slot * cell_w, bar.bottom + p.px(10), cell_w - p.px(8), bar.height - p.px(20))
        p.rect(cell, theme.with_alpha(color, 0x15) if state != CrewState.IDLE else theme.BG_ELEVATED)
        radius = min(cell.height * 0.32, p.px(28))
        avatar_x, avatar_y = cell.left + p.px(10) + radius, cell.center_y
        sprites.append(sprite(SPRITE_AVATAR, avatar_x, avatar_y, radius, (agent, phase, 0, 0), hue))
        light_x, light_y = cell.right - p.px(16), cell.top - p.px(16)
        sprites.append(sprite(SPRITE_LIGHT, light_x, light_y, p.px(9), (phase, 1.0 if state == CrewState.THINKING
                                                                         else 0.0, 0, 0), color))
        text_x = avatar_x + radius + p.px(10)
        text_w = max(10.0, cell.right - text_x - p.px(6))
        panel = p.region
        p.region = (f"crew cell {slot}", Rect(text_x, cell.bottom, cell.right - text_x, cell.height))
        name = _name(CrewAgent, agent).lower().replace("_", " ")
        name_w = max(10.0, light_x - p.px(9) * 1.3 - text_x - p.px(4))  # clear of the status light
        p.label(f"crew:name{slot}", p.fit(name, name_w, theme.SIZE_BODY - 1, bold=True), text_x, cell.top - p.px(24),
                size=theme.SIZE_BODY - 1, bold=True)
        reputation = float(snapshot["crew_reputation"][slot])
        role_line = f"{role} · {_name(CrewState, state).lower()}" + (f" · ★{reputation:.2f}" if reputation > 0 else "")
        p.label(f"crew:role{slot}", p.fit(role_line, text_w, theme.SIZE_SMALL - 1), text_x, cell.top - p.px(46),
                size=theme.SIZE_SMALL - 1, color=color)
        task = render_crew_task(int(snapshot["crew_task"][slot]), float(snapshot["crew_task_value"][slot]))
        p.label(f"crew:task{slot}", p.fit(task, text_w, theme.SIZE_SMALL - 1, mono=True), text_x,
                cell.bottom + p.px(12), size=theme.SIZE_SMALL - 1, mono=True, color=theme.TEXT_SECONDARY)
        p.region = panel
        confidence = float(snapshot["crew_confidence"][slot])
        bar_rect = Rect(cell.left, cell.bottom, cell.width * float(np.clip(confidence, 0, 1)), p.px(3))
        p.rect(bar_rect, color)
    if count == 0:
        p.label("crew:none", "no crew reported yet", bar.left + p.px(20), bar.center_y, size=theme.SIZE_BODY,
                color=theme.TEXT_MUTED, anchor_y="center")
    if sprites:
        with gpu.drawing():
            gpu.sprites(sprites)
    _draw_controls(p, model, controls, on_autonomy, on_estop)


def _draw_controls(p: Painter, model: BridgeModel, rect: Rect, on_autonomy: Callable[[str], None],
                   on_estop: Callable[[], None]) -> None:
    snapshot = model.snapshot
    live = snapshot is not None and model.status.value in ("LIVE", "STALE")
    level = int(snapshot["autonomy"]) if snapshot is not None else -1
    ceiling = int(snapshot["autonomy_ceiling"]) if snapshot is not None else -1
    stop = Rect(rect.right - p.px(172), rect.bottom + p.px(14), p.px(156), rect.height - p.px(28))
    panel = p.region
    p.region = ("autonomy", Rect(rect.left, rect.bottom, stop.left - p.px(8) - rect.left, rect.height))
    title_w = p.label("controls:autonomy", "AUTONOMY", rect.left, rect.top - p.px(26), size=theme.SIZE_SMALL,
                      bold=True, color=theme.TEXT_MUTED)
    if snapshot is not None and ceiling >= 0:
        reputation = float(snapshot["reputation"])
        attestor = attestor_status(model.attestor)
        down = isinstance(model.attestor, AttestorDown)
        rated = f"{reputation:.2f}" if reputation > 0 else "not rated"
        text = f"ceiling {_name(Autonomy, ceiling)} · reputation {rated}"
        left = rect.left + title_w + p.px(10)
        p.label("controls:ceiling", p.fit(text, stop.left - p.px(12) - left, theme.SIZE_SMALL), left,
                rect.top - p.px(26), size=theme.SIZE_SMALL, color=theme.TEXT_MUTED)
        # the chain's second opinion, and the attestor's health, on a line of their own under the ceiling
        validated = validated_share(int(snapshot["validations_reproduced"]), int(snapshot["validations_answered"]))
        trust = " · ".join(part for part in (validated, f"attestor {attestor}" if attestor else "") if part)
        if trust:
            p.label("controls:trust", p.fit(trust, stop.left - p.px(12) - rect.left, theme.SIZE_SMALL - 1),
                    rect.left, rect.top - p.px(44), size=theme.SIZE_SMALL - 1,
                    color=theme.RED if down else theme.TEXT_MUTED)
    button_w, button_h = p.px(112), p.px(40)
    y = rect.bottom + p.px(16)
    for index, autonomy in enumerate(Autonomy):
        button = Rect(rect.left + index * (button_w + p.px(6)), y, button_w, button_h)
        p.button(f"autonomy:{autonomy.name}", button, autonomy.name,
                 partial(on_autonomy, autonomy.name), color=theme.CYAN, active=index == level,
                 enabled=live and index <= ceiling and index != level, size=theme.SIZE_SMALL)
    p.region = panel
    estop = int(snapshot["estop"]) if snapshot is not None else EStopState.RELEASED
    engaged = estop != EStopState.RELEASED
    label = "RELEASE" if estop == EStopState.ENGAGED else "STOPPING…" if estop == EStopState.ENGAGING else "E-STOP"
    p.button("estop", stop, label, on_estop, color=theme.RED, filled=not engaged, enabled=live and
             estop != EStopState.ENGAGING, size=theme.SIZE_TITLE)
