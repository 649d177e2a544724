"""`sextant run --headless`: the engine and the bridge as two processes. An intent raised in Manual is approved
through the bridge's input path (a key press, dispatched by the bridge's input script) and filled by the Sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, free_port

# Each wait is an upper bound for something that must happen, generous for a loaded machine: the engine's start
# (its trust setup on the embedded chain) took over 60 s with both cores busy.
SCRIPT = """
wait status LIVE 180
wait card 90
key A
wait event OrderSubmitted 30
wait event OrderFilled 60
key 1
shot {shot}
quit
"""


@pytest.mark.slow
def test_run_headless_engine_and_bridge_approve_in_manual_and_fill(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEXTANT_", "OKX_", "ARCADE_"))}
    env.update(SEXTANT_WS_PORT=str(free_port()), SEXTANT_COOLDOWN_SECS="0",
               SEXTANT_LLM_CONFIG=str(REPO_ROOT / "llm.toml"))
    shot = tmp_path / "orders.png"
    script = tmp_path / "approve.txt"
    script.write_text(SCRIPT.format(shot=shot))
    result = subprocess.run([sys.executable, "-m", "sextant.cli", "run", "--headless", "--size", "1280x720",
                             "--speed", "10", "--duration", "360", "--autonomy", "MANUAL", "--script", str(script)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=480, check=False)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    lines = log.splitlines()
    done = [line for line in lines if line.startswith("script: line")]
    assert len(done) == 8, log[-4000:]
    approved = next(line for line in lines if "IntentApproved" in line and "by=human" in line)
    assert "command_id=bridge-approve-1" in approved
    assert any(line.strip().startswith("fill ") for line in lines)
    assert shot.stat().st_size > 10_000
    assert "sextant engine: stopped" in log, "the engine was stopped cleanly when the bridge quit"


def test_bridge_process_imports_nothing_from_the_engine_or_nautilus() -> None:
    code = ("import os, sys; os.environ['ARCADE_HEADLESS'] = '1'; import sextant.bridge.app, sextant.bridge.view, "
            "sextant.bridge.script; print(sorted(m for m in sys.modules if m.startswith(('nautilus_trader', "
            "'sextant.engine', 'sextant.swarm'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
                            cwd=REPO_ROOT)
    assert result.stdout.strip() == "[]"


@pytest.mark.slow  # a feed process and a bridge process
def test_bridge_screenshot_writes_a_png_of_the_frame(tmp_path: Path) -> None:
    feed = subprocess.Popen([sys.executable, "-m", "tests.fixtures.bridge_feed", "--scene", "storm", "--context",
                             str(tmp_path / "c.mmap"), "--events", str(tmp_path / "e.mmap")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    try:
        assert feed.stdout is not None and feed.stdin is not None
        assert feed.stdout.readline().startswith("ready")
        feed.stdin.write("step 90\n")
        feed.stdin.flush()
        assert feed.stdout.readline().startswith("ok")
        shot = tmp_path / "bridge.png"
        result = subprocess.run([sys.executable, "-m", "sextant.cli", "bridge", "--headless", "--size", "1280x720",
                                 "--mmap", str(tmp_path / "c.mmap"), "--events", str(tmp_path / "e.mmap"),
                                 "--commands", str(tmp_path / "cmd.mmap"), "--frames", "5", "--screenshot",
                                 str(shot)], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
                                check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"screenshot {shot} (LIVE)" in result.stdout
        from PIL import Image

        image = Image.open(shot)
        assert image.size == (1280, 720)
    finally:
        if feed.stdin is not None:
            feed.stdin.write("quit\n")
            feed.stdin.flush()
        feed.wait(timeout=10)
