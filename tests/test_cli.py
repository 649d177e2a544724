"""Specification of the `sextant` command, run as the real console script in a subprocess.

Exit codes (docs/spec.md#exit-codes): 0 ok, 2 bad usage or configuration. Each run has an empty working directory
(tmp_path) and an environment without any Sextant, OKX or OpenRouter setting, plus SEXTANT_LLM_CONFIG naming the
repository's llm.toml. `sextant run` and `sextant bench` are only checked through --help here: they take seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED_LLM_TOML = REPO_ROOT / "llm.toml"
CONSOLE_SCRIPT = Path(sys.executable).parent / "sextant"
COMMAND = [str(CONSOLE_SCRIPT)] if CONSOLE_SCRIPT.exists() else [sys.executable, "-m", "sextant.cli"]
TIMEOUT_SECS = 60

Runner = Callable[..., subprocess.CompletedProcess[str]]


def clean_environment(**extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("SEXTANT_", "OKX_")) and name != "OPENROUTER_API_KEY"}
    env["SEXTANT_LLM_CONFIG"] = str(SHIPPED_LLM_TOML)
    env.update(extra)
    return env


@pytest.fixture
def sextant(tmp_path: Path) -> Runner:
    def run(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*COMMAND, *args], cwd=tmp_path, env=clean_environment(**extra_env),
                              capture_output=True, text=True, timeout=TIMEOUT_SECS, check=False)

    return run


class TestHelp:
    def test_top_level_help_lists_the_verbs(self, sextant: Runner) -> None:
        result = sextant("--help")
        assert result.returncode == 0, result.stderr
        for verb in ("run", "config", "bench"):
            assert verb in result.stdout

    @pytest.mark.parametrize("verb", ["config", "run", "bench"])
    def test_every_verb_has_help(self, sextant: Runner, verb: str) -> None:
        result = sextant(verb, "--help")
        assert result.returncode == 0, result.stderr
        assert f"sextant {verb}" in result.stdout


class TestConfigShow:
    def test_prints_every_setting_with_its_variable(self, sextant: Runner) -> None:
        result = sextant("config", "show")
        assert result.returncode == 0, result.stderr
        assert "engine.ws_port" in result.stdout
        assert "SEXTANT_ENGINE_WS_PORT (or SEXTANT_WS_PORT)" in result.stdout
        assert "8765" in result.stdout
        assert "llm.strategy" in result.stdout

    def test_environment_values_are_shown(self, sextant: Runner) -> None:
        result = sextant("config", "show", SEXTANT_WS_PORT="9123")
        assert result.returncode == 0, result.stderr
        assert "9123" in result.stdout

    def test_secrets_are_masked(self, sextant: Runner) -> None:
        result = sextant("config", "show", OKX_API_KEY="supersecretvalue123")
        assert result.returncode == 0, result.stderr
        assert "supersecretvalue123" not in result.stdout
        assert "supersecretvalue123" not in result.stderr
        assert "<set>" in result.stdout
        assert "<unset>" in result.stdout  # the other OKX credentials


class TestConfigCheck:
    def test_valid_configuration_is_ok(self, sextant: Runner) -> None:
        result = sextant("config", "check")
        assert result.returncode == 0, result.stderr
        assert "configuration ok" in result.stdout

    def test_bad_value_exits_2_and_names_the_variable_and_the_fix(self, sextant: Runner) -> None:
        result = sextant("config", "check", SEXTANT_WS_PORT="abc")
        assert result.returncode == 2
        assert "SEXTANT_WS_PORT" in result.stderr
        assert "Fix:" in result.stderr
        assert "Traceback" not in result.stderr

    def test_missing_llm_config_exits_2(self, sextant: Runner, tmp_path: Path) -> None:
        result = sextant("config", "check", SEXTANT_LLM_CONFIG=str(tmp_path / "absent.toml"))
        assert result.returncode == 2
        assert "absent.toml" in result.stderr

    def test_sextant_toml_in_the_working_directory_is_read(self, sextant: Runner, tmp_path: Path) -> None:
        (tmp_path / "sextant.toml").write_text("[engine]\nws_prot = 1\n", encoding="utf-8")
        result = sextant("config", "check")
        assert result.returncode == 2
        assert "Did you mean 'ws_port'?" in result.stderr

    def test_missing_explicit_config_file_exits_2(self, sextant: Runner, tmp_path: Path) -> None:
        result = sextant("--config", str(tmp_path / "nope.toml"), "config", "check")
        assert result.returncode == 2
        assert "nope.toml" in result.stderr


class TestUsageErrors:
    def test_unknown_verb_exits_2(self, sextant: Runner) -> None:
        result = sextant("launch")
        assert result.returncode == 2
        assert "launch" in result.stderr

    def test_no_verb_exits_2_with_help(self, sextant: Runner) -> None:
        result = sextant()
        assert result.returncode == 2
        assert "run" in result.stdout and "config" in result.stdout


FOREIGN = b"precious user data, not a state file\n" * 10


class TestBadValuesAndFiles:
    """A bad command-line value or state-file path is a one-line message and exit 2: no traceback, and no file
    left behind by a start that failed (issue #18, items 8 and 9)."""

    @pytest.mark.parametrize("verb", [["engine", "--duration", "1"], ["run", "--headless", "--duration", "1"],
                                      ["sim", "--quotes", "10"]])
    @pytest.mark.parametrize("seed", ["-5", "12345678901234567890123"])
    def test_an_out_of_range_seed_is_refused_as_sextant_seed_is(
            self, sextant: Runner, tmp_path: Path, verb: list[str], seed: str) -> None:
        result = sextant(*verb, "--seed", seed, SEXTANT_WS_PORT="0")
        from_env = sextant("config", "check", SEXTANT_SEED=seed)
        assert (result.returncode, from_env.returncode) == (2, 2), result.stderr
        assert result.stderr.strip() == from_env.stderr.strip().replace("SEXTANT_SEED", "--seed")
        assert "Traceback" not in result.stderr
        assert sorted(path.name for path in tmp_path.iterdir()) == []

    @pytest.mark.slow  # each starts an engine process (Nautilus and the crew imported)
    @pytest.mark.parametrize("setting", ["SEXTANT_CONTEXT_PATH", "SEXTANT_EVENTS_PATH", "SEXTANT_COMMANDS_PATH"])
    def test_an_engine_pointed_at_a_foreign_file_exits_2_and_leaves_no_files(
            self, sextant: Runner, tmp_path: Path, setting: str) -> None:
        (tmp_path / "foreign.txt").write_bytes(FOREIGN)
        result = sextant("engine", "--duration", "1", SEXTANT_WS_PORT="0", SEXTANT_TRUST_DIR="",
                         SEXTANT_RECORD_DIR="", **{setting: "foreign.txt"})
        assert result.returncode == 2, result.stderr
        assert "foreign.txt: exists" in result.stderr and "not a Sextant state file" in result.stderr
        assert "Traceback" not in result.stderr
        assert sorted(path.name for path in tmp_path.iterdir()) == ["foreign.txt"]
        assert (tmp_path / "foreign.txt").read_bytes() == FOREIGN

    @pytest.mark.slow  # starts an engine process as far as its stream
    def test_an_engine_whose_start_fails_later_removes_the_files_it_created(
            self, sextant: Runner, tmp_path: Path) -> None:
        import socket

        with socket.socket() as taken:  # the stream's port is in use: the start fails after the files exist
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            result = sextant("engine", "--duration", "1", SEXTANT_WS_PORT=str(taken.getsockname()[1]),
                             SEXTANT_TRUST_DIR="", SEXTANT_RECORD_DIR="")
        assert result.returncode == 1 and "address already in use" in result.stderr
        assert sorted(path.name for path in tmp_path.iterdir()) == []

    @pytest.mark.parametrize(("commands", "message"), [
        ("foreign.txt", "foreign.txt: exists and is not a Sextant state file"),
        (".", ".: is a directory"),
        ("foreign.txt/commands.mmap", "foreign.txt/commands.mmap: cannot create the CommandRing here"),
    ])
    def test_a_bridge_given_a_commands_path_it_cannot_use_exits_2(
            self, sextant: Runner, tmp_path: Path, commands: str, message: str) -> None:
        (tmp_path / "foreign.txt").write_bytes(FOREIGN)
        result = sextant("bridge", "--headless", "--frames", "1", "--commands", commands)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr
        assert "Traceback" not in result.stderr
        assert (tmp_path / "foreign.txt").read_bytes() == FOREIGN

    @pytest.mark.parametrize(("option", "kind"), [("--mmap", "ContextWindow"), ("--events", "EventRing")])
    @pytest.mark.parametrize("path", ["foreign.txt", "."])
    def test_a_bridge_given_an_engine_file_path_that_can_never_hold_one_exits_2(
            self, sextant: Runner, tmp_path: Path, option: str, kind: str, path: str) -> None:
        (tmp_path / "foreign.txt").write_bytes(FOREIGN)
        result = sextant("bridge", "--headless", "--frames", "1", option, path)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(f"sextant: {path}: ") and kind in result.stderr
        assert "Traceback" not in result.stderr
        assert (tmp_path / "foreign.txt").read_bytes() == FOREIGN

    def test_bridge_paths_from_flags_are_checked_as_the_settings_are(self, sextant: Runner) -> None:
        result = sextant("bridge", "--headless", "--frames", "1", "--mmap", "same.mmap", "--events", "same.mmap")
        assert result.returncode == 2
        assert "must be three different files" in result.stderr and "Traceback" not in result.stderr


class TestLlmStatus:
    def test_without_a_record_it_says_so(self, sextant: Runner) -> None:
        result = sextant("llm", "status")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("no record yet (llm_record.sqlite)")

    def test_it_shows_each_models_record_and_what_consensus_sees(self, sextant: Runner, tmp_path: Path) -> None:
        from sextant.swarm.calibration import AnswerRecord

        record = AnswerRecord(tmp_path / "llm_record.sqlite")
        for n in range(10):
            record.asked("local/smollm2", "perception", "BUY", 0.9, 60_000.0, n, 60.0)
        record.asked("local/smollm2", "perception", "SELL", 0.3, 60_000.0, 0, 600.0)
        record.score_due(59_000.0, 100 * 10**9)  # the BUYs were wrong; the SELL waits for its horizon
        record.close()
        result = sextant("llm", "status")
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[1] == "local/smollm2 as perception: 10 scored (0% right), 1 waiting for their horizon"
        assert lines[2] == "  stated 0.8–1.0:    10 scored,   0% right → consensus sees 0.33"


class TestLlmEval:
    """`sextant llm eval` against a scripted OpenAI-compatible server: the shipped scenes' states are put to the
    model with the router's prompt, and the report, its JSON and its reliability diagram come out."""

    def test_two_shipped_scenes_give_a_report_for_the_model_and_the_rules(self, sextant: Runner,
                                                                          tmp_path: Path) -> None:
        import json

        from tests.fixtures.llm_toml import local_llm_config
        from tests.fixtures.openai_standin import OpenAIStandin, Rule

        answer = {"action": "BUY", "confidence": 0.9, "reasoning": "up"}
        with OpenAIStandin([Rule(match="Should the crew BUY, SELL or HOLD now?", content=answer)]) as standin:
            local_llm_config(tmp_path, standin.url)
            result = sextant("llm", "eval", str(REPO_ROOT / "scenes/calm-trend"), str(REPO_ROOT / "scenes/chop"),
                             "--limit", "3", "--out", str(tmp_path / "eval"),
                             SEXTANT_LLM_CONFIG=str(tmp_path / "llm.toml"))
        assert result.returncode == 0, result.stderr
        assert len(standin.requests) == 6 and "Market state: " in standin.requests[0]["messages"][1]["content"]
        assert "local/small-model as perception" in result.stdout and "rules (L1)" in result.stdout
        assert "what always saying BUY scores" in result.stdout
        report = json.loads((tmp_path / "eval/report.json").read_text())
        model, rules = report["sources"]
        assert model["states"] == rules["states"] == 6 and model["valid"] == 6 and model["actions"] == {"BUY": 6}
        assert (tmp_path / "eval/reliability.png").stat().st_size > 10_000

    def test_a_remote_model_without_a_key_is_refused_with_the_reason(self, sextant: Runner) -> None:
        result = sextant("llm", "eval", str(REPO_ROOT / "scenes/chop"))  # the shipped llm.toml: OpenRouter, no key
        assert result.returncode == 2 and "has no API key" in result.stderr and "Traceback" not in result.stderr

    def test_a_folder_that_is_not_a_scene_is_refused_by_name(self, sextant: Runner, tmp_path: Path) -> None:
        from tests.fixtures.llm_toml import local_llm_config

        local_llm_config(tmp_path, "http://127.0.0.1:9/v1")
        result = sextant("llm", "eval", str(tmp_path), SEXTANT_LLM_CONFIG=str(tmp_path / "llm.toml"))
        assert result.returncode == 2 and "metadata.json" in result.stderr and "Traceback" not in result.stderr


class TestBringYourOwnMarket:
    """`sextant data import` → a catalog that `sextant sim` and `sextant research` run on, as a new user would."""

    def test_import_show_sim_and_research_on_real_equity_bars(self, sextant: Runner, tmp_path: Path) -> None:
        from tests.fixtures.public_data import public_csv

        result = sextant("data", "import", str(public_csv("GOOG.csv")), "--kind", "equity", "--instrument",
                         "GOOG.NASDAQ", "--taker-fee", "0.0005", "--no-progress")
        assert result.returncode == 0, result.stderr
        assert "imported 2,148 bars" in result.stdout and "GOOG.NASDAQ Equity: tick 0.01" in result.stdout
        assert "next: sextant sim catalog --instrument GOOG.NASDAQ" in result.stdout
        shown = sextant("data", "show")
        assert shown.returncode == 0 and "bars   GOOG.NASDAQ-1-DAY-LAST-EXTERNAL: 1 file(s)" in shown.stdout
        sim = sextant("sim", "catalog", "--out", "sim", "--no-record")
        assert sim.returncode == 0, sim.stderr
        assert "2,148 bars" in sim.stdout and "GOOG.NASDAQ, base size 10" in sim.stdout and " USD" in sim.stdout
        research = sextant("research", "--scene", "catalog", "--budget", "5", "--workers", "1", "--no-progress",
                           "--ledger", "research/ledger.sqlite")
        assert research.returncode == 0, research.stderr
        assert "catalog catalog: GOOG.NASDAQ (2,148 GOOG.NASDAQ-1-DAY-LAST-EXTERNAL bars), base size 10" in \
            research.stdout
        assert (tmp_path / "research/report/report.md").exists()

    def test_a_bad_row_is_named_and_exits_2(self, sextant: Runner, tmp_path: Path) -> None:
        (tmp_path / "EURUSD.csv").write_text("time,bid,ask\n2024-01-01T00:00:00Z,1.1,1.2\n"
                                             "2024-01-01T00:00:01Z,1.3,1.2\n")
        result = sextant("data", "import", "EURUSD.csv", "--no-progress")
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert "EURUSD.csv line 3: crossed book, bid 1.3 above ask 1.2" in result.stderr
        assert not (tmp_path / "catalog" / "data" / "quote_tick").exists()

    def test_a_catalog_of_several_instruments_asks_which(self, sextant: Runner, tmp_path: Path) -> None:
        for name in ("EURUSD", "GBPUSD"):
            (tmp_path / f"{name}.csv").write_text("time,bid,ask\n2024-01-01T00:00:00Z,1.1,1.2\n"
                                                  "2024-01-01T00:00:01Z,1.1,1.3\n")
            assert sextant("data", "import", f"{name}.csv", "--no-progress").returncode == 0
        result = sextant("sim", "catalog")
        assert result.returncode == 2 and "holds 2 instruments (EURUSD.SIM, GBPUSD.SIM)" in result.stderr
