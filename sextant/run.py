"""`sextant run`: the engine and the bridge, as two processes (ARCHITECTURE: processes).

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

STOP_GRACE_S = 15.0


def _spawn(config_file: str | None, verb: str, args: list[str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "sextant.cli", *(["--config", config_file] if config_file else []), verb, *args]
    return subprocess.Popen(command)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(engine_args: list[str], bridge_args: list[str], config_file: str | None) -> int:
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    engine = _spawn(config_file, "engine", engine_args)
    bridge = _spawn(config_file, "bridge", bridge_args)
    try:
        while not stopping and engine.poll() is None and bridge.poll() is None:
            time.sleep(0.1)
    finally:
        _stop(bridge)
        _stop(engine)
        signal.signal(signal.SIGINT, previous)
    clean = (0, -signal.SIGINT, 130)
    if bridge.returncode not in clean:
        print(f"sextant run: the bridge exited with {bridge.returncode}", file=sys.stderr)
        return 1
    if engine.returncode not in clean:
        print(f"sextant run: the engine exited with {engine.returncode}", file=sys.stderr)
        return 1
    return 0
