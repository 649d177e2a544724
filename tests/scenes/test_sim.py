"""`sextant sim`: deterministic headless simulation. The shipped scenes run end to end through the full crew on
Nautilus' BacktestEngine, and their outcomes are asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sextant.risk.hull import RiskLimits
from tests.conftest import REPO_ROOT

SCENES = REPO_ROOT / "scenes"
CONTRACT_BTC = 0.01


def sim(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "out"
    tmp_path.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEXTANT_", "OKX_"))}
    result = subprocess.run([sys.executable, "-m", "sextant.cli", "sim", *args, "--out", str(out)], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    summary["stdout"] = result.stdout
    summary["out"] = out
    return summary


@pytest.mark.slow
def test_same_seed_same_event_log_hash_in_separate_processes_and_another_seed_differs(tmp_path: Path) -> None:
    runs = [sim(tmp_path / f"run{index}", "--quotes", "8000", "--seed", str(seed), "--no-record")
            for index, seed in enumerate((5, 5, 6))]
    assert runs[0]["events"] > 5, "the crew did something to fingerprint"
    assert runs[0]["event_log_sha256"] == runs[1]["event_log_sha256"]
    assert runs[0]["event_log_sha256"] != runs[2]["event_log_sha256"]
    log = (runs[0]["out"] / "events.jsonl").read_text().splitlines()
    assert all(json.loads(line)["type"] != "Heartbeat" for line in log)
    assert "sha256 " + runs[0]["event_log_sha256"] in runs[0]["stdout"]


@pytest.mark.slow
def test_flash_crash_vetoes_alerts_and_keeps_the_position_inside_the_limit(tmp_path: Path) -> None:
    summary = sim(tmp_path, str(SCENES / "flash-crash"))
    assert summary["event_counts"].get("Veto", 0) >= 1
    assert summary["risk_alerts"] >= 1 and summary["risk_vetoes"] >= 1
    limit_contracts = RiskLimits().delta / CONTRACT_BTC
    assert summary["max_position"] <= limit_contracts
    assert abs(summary["final_position"]) <= limit_contracts


@pytest.mark.slow
@pytest.mark.parametrize("scene", ["calm-trend", "chop", "aapl-2018"])
def test_quiet_scenes_trade_without_vetoes(tmp_path: Path, scene: str) -> None:
    summary = sim(tmp_path, str(SCENES / scene))
    assert summary["trades"] >= 1 and summary["fills"] >= 1
    assert summary["risk_vetoes"] == 0
    assert summary["max_position"] <= RiskLimits().delta / CONTRACT_BTC


@pytest.mark.slow
def test_a_sim_writes_a_replayable_scene(tmp_path: Path) -> None:
    from sextant.replay.format import read_context, read_metadata

    summary = sim(tmp_path, "--quotes", "3000", "--seed", "9")
    scene = summary["out"] / "scene"
    assert read_metadata(scene)["seed"] == 9
    assert len(read_context(scene).records) >= 100


@pytest.mark.slow  # `sextant sim` in its own process (Nautilus imported)
def test_a_folder_that_is_not_a_scene_is_refused_clearly(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "sextant.cli", "sim", str(tmp_path)], capture_output=True,
                            text=True, timeout=120, check=False, cwd=tmp_path)
    assert result.returncode == 2
    assert "metadata.json: missing" in result.stderr
