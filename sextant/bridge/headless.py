"""Off-screen rendering: how the bridge tells arcade to draw without a window.

arcade (through pyglet) chooses between a window and an off-screen EGL context once, when it is first imported,
from the ARCADE_HEADLESS environment variable; no API sets it later. So each entry point that renders off screen
calls `use_headless_gl()` before anything imports arcade. This is the one place Sextant writes the environment.
"""

from __future__ import annotations

import os
import sys


def use_headless_gl() -> None:
    """Make the next import of arcade render off screen (EGL; Mesa's llvmpipe where there is no GPU)."""
    if "arcade" in sys.modules and not os.environ.get("ARCADE_HEADLESS"):
        raise RuntimeError("arcade was imported with a window before headless rendering was asked for")
    os.environ["ARCADE_HEADLESS"] = "1"
