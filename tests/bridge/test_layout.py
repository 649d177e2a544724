"""The bridge laid out at 1280×720, 1920×1080 and 3840×2160, through every state a trader sees
(tests/fixtures/layout_probe.py, one process per size): no two texts overlap, and no text leaves the panel it was
drawn for. Texts are measured as drawn (their glyph boxes, the line's leading trimmed), not estimated.

The 1080p main views are also golden images, beside the 720p ones of test_view.py."""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.bridge.golden import assert_matches_golden
from tests.conftest import REPO_ROOT

SIZES = ("1280x720", "1920x1080", "3840x2160")
GOLDEN_1080 = ("main_calm", "main_storm", "card")
TOLERANCE_PX = 1.0  # anti-aliasing's fringe


def overlap(a: list[float], b: list[float]) -> float:
    """The area two (left, bottom, width, height) boxes share."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(0.0, width) * max(0.0, height) if width > TOLERANCE_PX and height > TOLERANCE_PX else 0.0


def outside(box: list[float], region: list[float]) -> bool:
    return (box[0] < region[0] - TOLERANCE_PX or box[1] < region[1] - TOLERANCE_PX
            or box[0] + box[2] > region[0] + region[2] + TOLERANCE_PX
            or box[1] + box[3] > region[1] + region[3] + TOLERANCE_PX)


def layout_defects(states: dict[str, list[dict]]) -> list[str]:
    defects = []
    for state, texts in states.items():
        for text in texts:
            if text["region_rect"] is not None and outside(text["box"], text["region_rect"]):
                defects.append(f"{state}: {text['key']} {text['text']!r} leaves its panel ({text['region']})")
        for layer in ("base", "overlay"):
            shown = [t for t in texts if t["layer"] == layer]
            for a, b in combinations(shown, 2):
                if overlap(a["box"], b["box"]) > 0:
                    defects.append(f"{state}: {a['key']} {a['text']!r} overlaps {b['key']} {b['text']!r}")
    return defects


def run_probe(module: str, size: str, out: Path, shots: str = "") -> None:
    """Lay the bridge out at `size` in a process of its own (`module`: a probe such as tests.fixtures.layout_probe),
    its text boxes to out/boxes.json and the states named in `shots` to PNGs."""
    result = subprocess.run([sys.executable, "-m", module, "--size", size, "--out", str(out), "--shots", shots],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture(scope="module", params=SIZES)
def laid_out(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    size = request.param
    out = tmp_path_factory.mktemp(f"layout-{size}")
    run_probe("tests.fixtures.layout_probe", size, out, ",".join(GOLDEN_1080) if size == "1920x1080" else "")
    return size, out


@pytest.mark.slow
def test_no_text_overlaps_another_or_leaves_its_panel(laid_out: tuple[str, Path]) -> None:
    size, out = laid_out
    states = json.loads((out / "boxes.json").read_text())
    assert len(states) >= 12 and all(states.values())
    defects = layout_defects(states)
    assert not defects, f"at {size}:\n" + "\n".join(defects)


@pytest.mark.slow
@pytest.mark.parametrize("laid_out", ["1920x1080"], indirect=True)
@pytest.mark.parametrize("name", GOLDEN_1080)
def test_the_1080p_views_match_their_goldens(laid_out: tuple[str, Path], name: str) -> None:
    _, out = laid_out

    image = np.asarray(Image.open(out / f"{name}.png").convert("RGB"))
    assert image.shape == (1080, 1920, 3)
    assert_matches_golden(image, f"{name}_1080p")


def test_the_checker_sees_an_overlap_and_a_text_out_of_its_panel() -> None:
    states = {"s": [
        {"layer": "base", "key": "a", "text": "reputation not rated", "box": [100, 10, 200, 14],
         "region": "crew bar", "region_rect": [0, 0, 250, 40]},
        {"layer": "base", "key": "b", "text": "E-STOP", "box": [240, 5, 60, 20], "region": "crew bar",
         "region_rect": [0, 0, 400, 40]},
        {"layer": "overlay", "key": "c", "text": "a toast", "box": [100, 10, 50, 14], "region": "toasts",
         "region_rect": [0, 0, 400, 400]},
    ]}
    defects = layout_defects(states)
    assert defects == ["s: a 'reputation not rated' leaves its panel (crew bar)",
                       "s: a 'reputation not rated' overlaps b 'E-STOP'"]


@pytest.mark.parametrize("size", SIZES)
def test_the_fleet_strip_sits_under_the_header_and_the_body_gives_it_the_room(size: str) -> None:
    from sextant.bridge.layout import Layout

    width, height = (int(part) for part in size.split("x"))
    alone, fleet = Layout.for_size(width, height), Layout.for_size(width, height, fleet=True)
    assert alone.fleet is None and fleet.fleet is not None
    assert fleet.fleet.top == fleet.header.bottom and fleet.fleet.bottom == fleet.body.top
    assert fleet.fleet.width == width and fleet.body.height == alone.body.height - fleet.fleet.height
    assert fleet.cards.top == fleet.drawer.top == fleet.body.top, "the cards and drawers stay in the body"
    assert (fleet.header, fleet.crew_bar) == (alone.header, alone.crew_bar)
