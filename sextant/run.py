"""`sextant run`: the engine and the bridge, as two processes (docs/architecture.md#processes); `sextant replay`: the
scene player in this process and the bridge as a child.

The engine (`sextant engine`) writes the shared memory; the bridge (`sextant bridge`) shows it and writes the
CommandRing. This process only starts them and stops them together: when either ends (the window is closed, the
engine's --duration is over, a crash), or on Ctrl-C / SIGTERM, the other is stopped too, engine last so that it
can cancel and flatten cleanly.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from sextant.bridge.config import BridgeConfig

STOP_GRACE_S = 15.0


def _spawn(config_file: str | None, verb: str, args: list[str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "sextant.cli", *(["--config", config_file] if config_file else []), verb, *args]
    return subprocess.Popen(command)


def stop_process(process: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """Ask a child to stop (SIGINT: it cleans up), and kill it if it has not after `grace_s`."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class StopSignals:
    """Inside the block, Ctrl-C and SIGTERM set `requested` instead of interrupting, so a parent can stop its
    children in order."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: object) -> None:
        self.requested = True

    def __enter__(self) -> Self:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]


def run(engine_args: list[str], bridge_args: list[str], config_file: str | None) -> int:
    with StopSignals() as signals:
        engine = _spawn(config_file, "engine", engine_args)
        bridge = _spawn(config_file, "bridge", bridge_args)
        try:
            while not signals.requested and engine.poll() is None and bridge.poll() is None:
                time.sleep(0.1)
        finally:
            stop_process(bridge)
            stop_process(engine)
    clean = (0, -signal.SIGINT, 130)
    if bridge.returncode not in clean:
        print(f"sextant run: the bridge exited with {bridge.returncode}", file=sys.stderr)
        return 1
    if engine.returncode not in clean:
        print(f"sextant run: the engine exited with {engine.returncode}", file=sys.stderr)
        return 1
    return 0


def replay_interactive(config: BridgeConfig, scene: Path, speed: float, bridge_args: list[str],
                       config_file: str | None) -> int:
    """Play `scene` into the shared memory at its recorded pace × speed; the bridge shows it and sends the keys.
    Ends when the bridge is closed, or on Ctrl-C; at the end of the scene the player holds the last frame."""
    from sextant.replay.player import TICK_S, ScenePlayer  # here: `sextant run` starts without numpy and Arrow

    player = ScenePlayer(scene, config.context_path, config.events_path, config.commands_path, speed=speed)
    print(f"sextant replay: {scene} ({player.snapshot_count} snapshots, {player.duration_ns / 1e9:.1f} s) at "
          f"{speed:g}×", flush=True)
    with StopSignals() as signals:
        bridge = _spawn(config_file, "bridge", ["--mmap", config.context_path, "--events", config.events_path,
                                                "--commands", config.commands_path, *bridge_args])
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
