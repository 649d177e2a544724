"""The golden-image helper: a missing golden fails and says how to make one; only UPDATE_GOLDEN=1 writes goldens."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.bridge import golden


@pytest.fixture
def golden_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(golden, "GOLDEN_DIR", tmp_path)
    monkeypatch.delenv("UPDATE_GOLDEN", raising=False)
    return tmp_path


def frame(value: int) -> np.ndarray:
    return np.full((8, 8, 3), value, np.uint8)


def test_a_missing_golden_fails_and_names_update_golden_without_writing_one(golden_dir: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="UPDATE_GOLDEN=1"):
        golden.assert_matches_golden(frame(0), "absent")
    assert list(golden_dir.iterdir()) == []


def test_update_golden_writes_the_golden_and_skips(golden_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPDATE_GOLDEN", "1")
    with pytest.raises(pytest.skip.Exception):
        golden.assert_matches_golden(frame(7), "fresh")
    assert np.array_equal(np.asarray(Image.open(golden_dir / "fresh.png")), frame(7))


def test_a_matching_frame_passes_and_leaves_no_artifacts(golden_dir: Path) -> None:
    Image.fromarray(frame(100)).save(golden_dir / "same.png")
    golden.assert_matches_golden(frame(100), "same")
    assert sorted(p.name for p in golden_dir.iterdir()) == ["same.png"]


def test_a_mismatch_fails_and_writes_the_actual_frame_and_the_diff(golden_dir: Path) -> None:
    Image.fromarray(frame(0)).save(golden_dir / "moved.png")
    with pytest.raises(pytest.fail.Exception, match="moved"):
        golden.assert_matches_golden(frame(200), "moved")
    assert sorted(p.name for p in golden_dir.iterdir()) == ["moved.actual.png", "moved.diff.png", "moved.png"]
