"""`sextant research` on a recorded scene: a report with its plots; a ledger refuses to mix in other data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sextant.research.ledger import Ledger

REPO = Path(__file__).resolve().parents[2]


def research(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sextant.cli", "research", "--budget", "4", "--workers", "1",
                           "--no-progress", "--ledger", str(tmp_path / "ledger.sqlite"), "--report",
                           str(tmp_path / "report"), *args], cwd=REPO, capture_output=True, text=True, timeout=300,
                          check=False)


@pytest.mark.slow
def test_a_scene_is_researched_and_the_ledger_then_refuses_other_data(tmp_path: Path) -> None:
    done = research(tmp_path, "--scene", "scenes/chop")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "scene scenes/chop (6,000 quotes)" in done.stdout and "4 hypotheses judged" in done.stdout
    report = (tmp_path / "report" / "report.md").read_text()
    assert "Hypotheses: 4 proposed, 4 judged" in report and "![IR evolution](ir_evolution.png)" in report
    assert "Hold (one base size long through each selection window): selection IR **" in report
    assert (tmp_path / "report" / "ir_evolution.png").stat().st_size > 10_000
    assert (tmp_path / "report" / "equity.png").stat().st_size > 10_000
    other = research(tmp_path, "--market", "noise", "--quotes", "6000")
    assert other.returncode == 2 and "was started with other data" in other.stderr
    assert Ledger(tmp_path / "ledger.sqlite").counts()["proposed"] == 4, "nothing was mixed in"


def test_a_folder_that_is_not_a_scene_is_refused_by_name(tmp_path: Path) -> None:
    done = research(tmp_path, "--scene", str(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "metadata.json: missing; is" in done.stderr


def test_a_resumed_runs_bar_starts_at_what_was_judged_and_ends_at_the_budget() -> None:
    from sextant.research.command import progress_span

    interrupted = {"proposed": 12, "judged": 9, "accepted": 1}  # three proposals were in flight
    assert progress_span(interrupted, 20) == (9, 20)
    assert progress_span(interrupted, 10) == (9, 12)  # a smaller budget than the ledger holds: never past 100 %
