"""A golden frame of the shipped flash-crash scene, replayed headless in the bridge at a fixed frame: the storm
heat, the red hull gauges and the REPLAY timeline, as `sextant replay --headless` renders them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.bridge.golden import assert_matches_golden
from tests.conftest import REPO_ROOT

# At 16× a frame moves the scene 16/60 s: frame 1230 is 328 s in, the bottom of the crash.
FRAME = 1230


@pytest.mark.slow
def test_flash_crash_replay_frame_matches_golden(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEXTANT_")}
    env.update(SEXTANT_CONTEXT_PATH=str(tmp_path / "c.mmap"), SEXTANT_EVENTS_PATH=str(tmp_path / "e.mmap"),
               SEXTANT_COMMANDS_PATH=str(tmp_path / "k.mmap"))
    result = subprocess.run([sys.executable, "-m", "sextant.cli", "replay", str(REPO_ROOT / "scenes" / "flash-crash"),
                             "--headless", "--size", "1280x720", "--speed", "16", "--frames", str(FRAME), "--every",
                             str(FRAME), "--out", str(tmp_path / "frames")], env=env, capture_output=True, text=True,
                            timeout=300, cwd=REPO_ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    image = np.asarray(Image.open(tmp_path / "frames" / f"frame_{FRAME:05d}.png").convert("RGB"))
    assert_matches_golden(image, "flash_crash_f1230")
