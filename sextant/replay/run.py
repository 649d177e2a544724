"""`sextant replay SCENE`: the player process, with the bridge as a child (interactive), or the bridge in this
process rendering frames to PNG (`--headless --frames N --out DIR`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sextant.bridge.config import BridgeConfig
from sextant.replay.player import ScenePlayer
from sextant.run import StopSignals, stop_process

TICK_S = 1 / 60


def replay_interactive(config: BridgeConfig, scene: Path, speed: float, bridge_args: list[str],
                       config_file: str | None) -> int:
    """Play `scene` into the shared memory at its recorded pace × speed; the bridge shows it and sends the keys.
    Ends when the bridge is closed, or on Ctrl-C; at the end of the scene the player holds the last frame."""
    player = ScenePlayer(scene, config.context_path, config.events_path, config.commands_path, speed=speed)
    print(f"sextant replay: {scene} ({player.snapshot_count} snapshots, {player.duration_ns / 1e9:.1f} s) at "
          f"{speed:g}×", flush=True)
    command = [sys.executable, "-m", "sextant.cli", *(["--config", config_file] if config_file else []), "bridge",
               "--mmap", config.context_path, "--events", config.events_path, "--commands", config.commands_path,
               *bridge_args]
    with StopSignals() as signals:
        bridge = subprocess.Popen(command)
        try:
            next_tick = time.perf_counter()
            while not signals.requested and bridge.poll() is None:
                player.advance(TICK_S)
                next_tick += TICK_S
                time.sleep(max(0.0, next_tick - time.perf_counter()))
        finally:
            stop_process(bridge, grace_s=10)
            player.close()
    return 0


def replay_frames(config: BridgeConfig, scene: Path, speed: float, frames: int, out: Path,
                  every: int = 1) -> int:
    """Render `frames` frames of the replay off screen, one PNG per `every` frames, in lockstep: each frame
    moves the scene by 1/60 s × speed, so the same scene gives the same pictures."""
    os.environ["ARCADE_HEADLESS"] = "1"
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
