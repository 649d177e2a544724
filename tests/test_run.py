"""Specification of `sextant run`'s supervision (sextant/run.py): the restart policy on a plain clock, then the
supervisor with small stand-in children (Python one-liners) in place of the engine and the bridge, so each case
runs in a second. The real engine and bridge under `sextant run` are in tests/e2e/test_run_supervision.py."""

from __future__ import annotations

import signal
import sys
import textwrap
import time
from pathlib import Path

import msgspec
import pytest

from sextant.run import (
    STOP_DEADLINE_S,
    RestartBudget,
    RestartPolicy,
    StopSignals,
    Supervisor,
    describe_exit,
)
from sextant.state.supervision import SupervisorReport, read_report, supervisor_path, write_report


class TestRestartPolicy:
    def test_backs_off_doubling_from_one_second_up_to_the_cap(self) -> None:
        policy = RestartPolicy(limit=10, first_backoff_s=1.0, max_backoff_s=30.0)
        assert [policy.backoff_s(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]

    def test_gives_up_after_the_limit_of_restarts_in_a_row(self) -> None:
        budget = RestartBudget(RestartPolicy(limit=3, healthy_after_s=120))
        waits = []
        for now in range(4):
            budget.started(float(now))
            wait = budget.crashed(now + 1.0)
            waits.append(wait)
            if wait is not None:
                budget.restarting()
        assert waits == [1.0, 2.0, 4.0, None]

    def test_an_engine_that_ran_long_enough_starts_a_new_row(self) -> None:
        budget = RestartBudget(RestartPolicy(limit=2, healthy_after_s=120))
        budget.started(0.0)
        assert budget.crashed(1.0) == 1.0
        budget.restarting()
        budget.started(2.0)
        assert budget.crashed(3.0) == 2.0
        budget.restarting()
        budget.started(10.0)
        assert budget.crashed(200.0) == 1.0, "two minutes of health: the count starts again"

    def test_a_limit_of_zero_never_restarts(self) -> None:
        budget = RestartBudget(RestartPolicy(limit=0))
        budget.started(0.0)
        assert budget.crashed(1.0) is None


class TestDescribeExit:
    def test_names_the_signal_that_killed_it(self) -> None:
        assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"

    def test_gives_the_exit_code_and_the_last_words(self) -> None:
        assert describe_exit(1, "RuntimeError: boom") == "exited with code 1: RuntimeError: boom"


class TestSupervisorReport:
    def test_a_report_round_trips_while_its_writer_lives(self, tmp_path: Path) -> None:
        path = supervisor_path(tmp_path / "c.mmap")
        assert path.name == "c.mmap.supervisor.json"
        report = SupervisorReport(supervisor_pid=__import__("os").getpid(), engine="down", restarts=1,
                                  max_restarts=5, reason="killed by SIGKILL", restart_at_ns=5_000_000_000)
        write_report(path, report)
        assert read_report(path) == report
        assert report.describe(now_ns=3_000_000_000) == "restart 2/5 in 2 s · killed by SIGKILL"

    def test_a_report_whose_supervisor_is_gone_says_nothing(self, tmp_path: Path) -> None:
        import subprocess

        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
        path = tmp_path / "r.json"
        write_report(path, SupervisorReport(supervisor_pid=int(gone.stdout), engine="down", reason="x"))
        assert read_report(path) is None

    @pytest.mark.parametrize("content", [b"", b"{not json", b'{"supervisor_pid": 1, "engine": "sunk"}'])
    def test_a_broken_report_is_no_report(self, tmp_path: Path, content: bytes) -> None:
        path = tmp_path / "r.json"
        path.write_bytes(content)
        assert read_report(path) is None


# --------------------------------------------------------------------------------------- stand-in children

def _python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def _crashing_engine(starts: Path, code: int = 3) -> list[str]:
    return _python(f"""
        import sys
        with open({str(starts)!r}, "a") as f:
            f.write("start\\n")
        print("Traceback (most recent call last):", file=sys.stderr)
        print("RuntimeError: the venue refused the key", file=sys.stderr)
        sys.exit({code})
    """)


def _bridge_until(report: Path, state: str, seen: Path) -> list[str]:
    """A bridge that records every engine state the supervisor reports and closes once it reads `state`."""
    return _python(f"""
        import json, signal, sys, time
        signal.signal(signal.SIGINT, lambda *a: sys.exit(0))
        states = []
        while True:
            try:
                report = json.load(open({str(report)!r}))
            except (OSError, ValueError):
                report = None
            if report and (not states or states[-1] != [report["engine"], report["restarts"]]):
                states.append([report["engine"], report["restarts"]])
                open({str(seen)!r}, "w").write(json.dumps(states))
            if report and report["engine"] == {state!r}:
                break
            time.sleep(0.005)
    """)


class _RequestedWhen:
    """StopSignals' stand-in: a stop is requested once `path` exists (a child wrote it when ready)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self.at_s = 0.0

    @property
    def requested(self) -> bool:
        if not self.at_s and self._path.exists():
            self.at_s = time.monotonic()
        return bool(self.at_s)


class TestSupervisor:
    def test_a_crashing_engine_is_restarted_with_the_count_reported_then_given_up(self, tmp_path: Path) -> None:
        report, starts, seen = tmp_path / "c.mmap.supervisor.json", tmp_path / "starts", tmp_path / "seen"
        said: list[str] = []
        supervisor = Supervisor({"engine": _crashing_engine(starts), "bridge": _bridge_until(report, "gave up", seen)},
                                report, RestartPolicy(limit=2, first_backoff_s=0.05), say=said.append)
        with StopSignals() as signals:
            code = supervisor.run(signals)
        assert code == 1, "an engine that could not be kept running fails the run"
        assert starts.read_text().count("start") == 3, "the first start and two restarts"
        states = msgspec.json.decode(seen.read_bytes())
        downs = [restarts for state, restarts in states if state == "down"]
        assert downs and set(downs) <= {0, 1}, states  # a state that lasted under 5 ms may go unseen
        assert states[-1] == ["gave up", 2]
        assert any("exited with code 3: RuntimeError: the venue refused the key" in line for line in said)
        assert any("restart 1/2" in line for line in said) and any("restart 2/2" in line for line in said)
        assert not report.exists(), "the report goes with its supervisor"

    def test_a_refused_configuration_is_not_restarted(self, tmp_path: Path) -> None:
        report, starts, seen = tmp_path / "r.json", tmp_path / "starts", tmp_path / "seen"
        said: list[str] = []
        supervisor = Supervisor({"engine": _crashing_engine(starts, code=2),
                                 "bridge": _bridge_until(report, "gave up", seen)},
                                report, RestartPolicy(limit=5, first_backoff_s=0.05), say=said.append)
        with StopSignals() as signals:
            assert supervisor.run(signals) == 1
        assert starts.read_text().count("start") == 1
        assert any("its configuration was refused" in line for line in said)

    def test_a_stop_reaches_both_children_and_one_that_hangs_is_killed_in_time(self, tmp_path: Path) -> None:
        ready = tmp_path / "ready"
        deaf_engine = _python(f"""
            import signal, time
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a hung engine: never stops by itself
            open({str(ready)!r}, "w").close()
            time.sleep(60)
        """)
        bridge = _python("import signal, sys, time; signal.signal(signal.SIGINT, lambda *a: sys.exit(0)); "
                         "time.sleep(60)")
        said: list[str] = []
        supervisor = Supervisor({"engine": deaf_engine, "bridge": bridge}, tmp_path / "r.json", RestartPolicy(),
                                say=said.append)
        signals = _RequestedWhen(ready)
        code = supervisor.run(signals)  # type: ignore[arg-type]
        stopped_s = time.monotonic() - signals.at_s
        assert code == 0, "a stop the captain asked for is exit 0, even when a child had to be killed"
        assert supervisor.engine is not None and supervisor.engine.returncode == -signal.SIGKILL
        assert supervisor.bridge is not None and supervisor.bridge.returncode == 0
        assert any("the engine did not stop" in line and "killed" in line for line in said)
        assert stopped_s < STOP_DEADLINE_S

    def test_an_engine_that_ends_by_itself_ends_the_run_cleanly(self, tmp_path: Path) -> None:
        bridge = _python("import signal, sys, time; signal.signal(signal.SIGINT, lambda *a: sys.exit(0)); "
                         "time.sleep(60)")
        supervisor = Supervisor({"engine": _python("pass"), "bridge": bridge}, tmp_path / "r.json",
                                RestartPolicy(), say=lambda text: None)
        with StopSignals() as signals:
            assert supervisor.run(signals) == 0
        assert supervisor.bridge is not None and supervisor.bridge.returncode == 0
