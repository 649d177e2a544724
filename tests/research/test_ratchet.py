"""The ratchet on markets with a known answer: it accepts nothing from noise and finds a planted edge; its ledger
survives a kill, and a resumed run neither loses the best nor evaluates a hypothesis twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sextant.research.config import ResearchConfig
from sextant.research.data import planted_momentum, random_walk
from sextant.research.ledger import Ledger
from sextant.research.ratchet import Ratchet

REPO = Path(__file__).resolve().parents[2]


def baseline_ir(ledger: Ledger, family: str) -> float:
    (row,) = [row for row in ledger.rows() if row.family == family and row.verdict == "baseline"]
    assert row.selection_ir is not None
    return row.selection_ir


@pytest.mark.slow
def test_on_pure_noise_640_hypotheses_are_tried_and_none_is_accepted(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    config = ResearchConfig(budget=640, executor="process", workers=2, seed=3)
    summary = Ratchet(config, random_walk(24_000, seed=11), ledger).run()
    rows = [row for row in ledger.rows() if row.verdict != "baseline"]
    assert len(rows) == 640 and all(row.judged for row in rows)
    assert summary.screened_out_now == 600 and summary.confirmed_now == 40  # ten rounds of 64, the best 4 confirmed
    lucky = [row for row in rows if row.selection_ir is not None and row.selection_ir > baseline_ir(ledger, row.family)]
    assert len(lucky) >= 10, "some confirmed hypotheses must beat their baseline on the selection windows by luck"
    assert summary.accepted_now == 0 and not any(row.accepted for row in rows)
    for family in config.families:  # the best is still each family's baseline
        assert ledger.best(family).verdict == "baseline"  # type: ignore[union-attr]


@pytest.mark.slow
def test_a_planted_momentum_edge_is_found_and_accepted(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    config = ResearchConfig(budget=128, executor="inline", workers=1, families=("momentum",), seed=3)
    summary = Ratchet(config, planted_momentum(40_000, seed=11), ledger).run()
    accepted = [row for row in ledger.rows() if row.accepted]
    assert summary.accepted_now >= 1 and accepted
    best = ledger.best("momentum")
    assert best is not None and best.accepted
    assert best.holdout is not None and best.holdout["ir"] > 0 and best.dsr is not None and best.dsr >= 0.95
    assert best.selection_ir > baseline_ir(ledger, "momentum") + 100  # type: ignore[operator]
    irs = [row.selection_ir for row in accepted]
    assert irs == sorted(irs), "the best only goes up"


@pytest.mark.slow
def test_a_killed_run_resumes_with_its_best_and_evaluates_nothing_twice(tmp_path: Path) -> None:
    ledger_path = tmp_path / "ledger.sqlite"
    command = [sys.executable, "-m", "sextant.cli", "research", "--market", "planted", "--quotes", "40000",
               "--families", "momentum", "--seed", "3", "--budget", "160", "--executor", "inline",
               "--ledger", str(ledger_path), "--report", str(tmp_path / "report"), "--no-progress"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + 240
    for line in process.stdout:  # kill it once it has accepted something and gone on a little
        if "ACCEPTED" in line or time.monotonic() > deadline:
            break
    time.sleep(1.0)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)

    before = Ledger(ledger_path)
    judged_before = {row.id: row for row in before.rows() if row.judged}
    best_before = before.best("momentum")
    assert best_before is not None and best_before.accepted, "the run must have accepted something before the kill"
    assert before.counts()["judged"] < 160, "the kill must come mid-way"
    before.close()

    resumed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resumed the ledger" in resumed.stdout

    after = Ledger(ledger_path)
    rows = after.rows()
    assert after.counts()["proposed"] == 160 and all(row.judged for row in rows)
    assert all(row.evaluations == 1 for row in rows), "no hypothesis may be evaluated twice"
    assert len({row.id for row in rows}) == len(rows)
    for hypothesis_id, row in judged_before.items():  # what was judged stays judged, as it was
        again = after.get(hypothesis_id)
        assert again is not None and (again.verdict, again.selection_ir) == (row.verdict, row.selection_ir)
    best_after = after.best("momentum")
    assert best_after is not None and best_after.selection_ir >= best_before.selection_ir  # type: ignore[operator]
    assert (tmp_path / "report" / "report.md").exists() and (tmp_path / "report" / "ir_evolution.png").exists()
    with sqlite3.connect(ledger_path) as db:  # and the ledger says so itself
        assert db.execute("SELECT MAX(evaluations) FROM hypotheses").fetchone()[0] == 1


def ledger_of(tmp_path: Path, executor: str, workers: int) -> list[tuple]:
    ledger = Ledger(tmp_path / f"{executor}.sqlite")
    config = ResearchConfig(budget=8, executor=executor, workers=workers, families=("momentum",), seed=3)  # type: ignore[arg-type]
    Ratchet(config, planted_momentum(40_000, seed=11), ledger).run()
    return [(row.seq, row.id, row.verdict, row.selection_ir, row.dsr) for row in ledger.rows()]


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["process", "ray"])
def test_every_executor_writes_the_same_ledger_as_one_inline_worker(tmp_path: Path, executor: str) -> None:
    if executor == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            if os.environ.get("CI_REQUIRE_RAY"):
                pytest.fail("Ray is required here (CI_REQUIRE_RAY) but not installed: pip install -e '.[ray]'")
            pytest.skip("Ray is the optional backend (pip install -e '.[ray]')")
    assert ledger_of(tmp_path, executor, workers=2) == ledger_of(tmp_path, "inline", workers=1)
