"""Golden-image comparison with a tolerance (docs/bridge.md#testing-the-bridge).

A frame matches its golden when at most 0.2 % of pixels differ by more than 8/255 in any channel and the mean
difference stays under 0.5. Regions that show live measurements (the Memory drawer's read latency, for one) are
masked. `UPDATE_GOLDEN=1` writes the golden and skips. A missing golden fails (a golden that wrote itself would pass
whatever the frame showed); a mismatch writes the actual frame and an amplified diff next to the golden, which
.gitignore keeps out of the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

GOLDEN_DIR = Path(__file__).parent / "golden"
MAX_DIFFERING_FRACTION = 0.002
PIXEL_THRESHOLD = 8
MAX_MEAN = 0.5


def grab(window) -> np.ndarray:
    width, height = window.get_framebuffer_size()
    raw = window.ctx.screen.read(components=3)
    return np.frombuffer(raw, np.uint8).reshape(height, width, 3)[::-1].copy()


def assert_matches_golden(image: np.ndarray, name: str, masks: list = ()) -> None:
    golden_path = GOLDEN_DIR / f"{name}.png"
    height = image.shape[0]
    keep = np.ones(image.shape[:2], bool)
    for rect in masks:  # bottom-left origin rects → image rows
        top = int(height - rect.top)
        bottom = int(np.ceil(height - rect.bottom))
        keep[max(0, top):max(0, bottom), max(0, int(rect.left)):int(np.ceil(rect.right))] = False
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN_DIR.mkdir(exist_ok=True)
        Image.fromarray(image).save(golden_path)
        pytest.skip(f"golden {golden_path.name} written; re-run to compare")
    if not golden_path.exists():
        pytest.fail(f"{name}: no golden at {golden_path}; to create it, run this test with UPDATE_GOLDEN=1, look at "
                    f"the image it writes, and commit it")
    golden = np.asarray(Image.open(golden_path).convert("RGB"))
    assert golden.shape == image.shape, f"{name}: size {image.shape} differs from the golden's {golden.shape}"
    difference = np.abs(image.astype(np.int16) - golden.astype(np.int16)).max(axis=2)
    difference[~keep] = 0
    differing = float((difference > PIXEL_THRESHOLD).sum()) / keep.sum()
    mean = float(difference[keep].mean())
    if differing > MAX_DIFFERING_FRACTION or mean > MAX_MEAN:
        Image.fromarray(image).save(golden_path.with_suffix(".actual.png"))
        Image.fromarray(np.clip(difference * 8, 0, 255).astype(np.uint8)).save(golden_path.with_suffix(".diff.png"))
        pytest.fail(f"{name}: {differing:.3%} of pixels differ by more than {PIXEL_THRESHOLD}/255 (allowed "
                    f"{MAX_DIFFERING_FRACTION:.1%}), mean difference {mean:.2f} (allowed {MAX_MEAN}); see "
                    f"{golden_path.with_suffix('.actual.png')}")
