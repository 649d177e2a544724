"""`sextant replay SCENE --headless --frames N --out DIR`: the bridge in this process rendering a replay to PNG,
while the player writes the scene into the shared memory (`sextant replay` without --frames: sextant/run.py)."""

from __future__ import annotations

import time
from pathlib import Path

from sextant.bridge.config import BridgeConfig
from sextant.bridge.headless import use_headless_gl
from sextant.replay.player import TICK_S, ScenePlayer


def replay_frames(config: BridgeConfig, scene: Path, speed: float, frames: int, out: Path,
                  every: int = 1) -> int:
    """Render `frames` frames of the replay off screen, one PNG per `every` frames, in lockstep: each frame
    moves the scene by 1/60 s × speed, so the same scene gives the same pictures."""
    use_headless_gl()
    import arcade
    from pyglet.event import EventDispatcher

    from sextant.bridge.view import BridgeView

    out.mkdir(parents=True, exist_ok=True)
    virtual = [time.time_ns()]

    def clock() -> int:
        return virtual[0]

    player = ScenePlayer(scene, config.context_path, config.events_path, speed=speed, clock=clock)
    window = arcade.Window(config.width, config.height, "Sextant replay", antialiasing=False, vsync=False,
                           visible=False)
    view = BridgeView(config, clock=clock)
    window.show_view(view)
    try:
        for index in range(frames):
            virtual[0] += int(TICK_S * 1e9)
            player.advance(TICK_S)
            EventDispatcher.dispatch_event(window, "on_fixed_update", TICK_S)
            view.on_draw()
            if index % every == 0 or index == frames - 1:
                view.screenshot(out / f"frame_{index + 1:05d}.png")
            window.flip()
    finally:
        view.link.close()
        player.close()
        window.close()
    print(f"sextant replay: {frames} frames of {scene.name} rendered to {out}", flush=True)
    return 0
