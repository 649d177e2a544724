"""The link's badge: an engine that is alive but has no market state yet is STARTING, not STALE; a file cut short
under the link detaches it, never crashes the bridge."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from sextant.bridge.link import LinkStatus, StateLink
from sextant.state.context import ContextWriter
from sextant.state.ring import EventRingWriter
from sextant.state.supervision import SupervisorReport, supervisor_path, write_report
from tests.conftest import run_isolated


def test_an_alive_engine_without_state_is_starting_and_a_silent_one_is_stale(tmp_path: Path) -> None:
    context = ContextWriter(tmp_path / "context.mmap", "BTC-USDT-SWAP.OKX")
    events = EventRingWriter(tmp_path / "events.mmap")
    now = [time.time_ns()]
    link = StateLink(tmp_path / "context.mmap", tmp_path / "events.mmap", tmp_path / "commands.mmap",
                     clock=lambda: now[0])
    context.heartbeat(now[0])
    assert link.poll().status == LinkStatus.STARTING
    now[0] += 1_500_000_000  # no heartbeat for 1.5 s: whatever it was doing, it is not alive now
    assert link.poll().status == LinkStatus.STALE
    context.heartbeat(now[0])
    context.record["quote_count"] = 1  # the first quote
    context.commit(now[0])
    assert link.poll().status == LinkStatus.LIVE
    events.close()
    context.close()


def test_a_dead_engine_its_supervisor_reports_is_down_with_the_reason_until_a_new_one_is_alive(
        tmp_path: Path) -> None:
    context = ContextWriter(tmp_path / "context.mmap", "BTC-USDT-SWAP.OKX")
    events = EventRingWriter(tmp_path / "events.mmap")
    now = [time.time_ns()]
    link = StateLink(tmp_path / "context.mmap", tmp_path / "events.mmap", tmp_path / "commands.mmap",
                     reconnect_every_s=0.0, clock=lambda: now[0])
    context.heartbeat(now[0])
    context.record["quote_count"] = 1
    context.commit(now[0])
    report = supervisor_path(tmp_path / "context.mmap")
    write_report(report, SupervisorReport(supervisor_pid=os.getpid(), engine="running"))
    assert link.poll().status == LinkStatus.LIVE
    # SIGKILL: the files stay, the heartbeat stops, and the supervisor says what it saw
    write_report(report, SupervisorReport(supervisor_pid=os.getpid(), engine="down", restarts=0, max_restarts=5,
                                          reason="killed by SIGKILL", restart_at_ns=now[0] + 3_000_000_000))
    assert link.poll().status == LinkStatus.LIVE, "a fresh heartbeat wins: the engine answered a moment ago"
    now[0] += 1_500_000_000
    tick = link.poll()
    assert tick.status == LinkStatus.DOWN
    assert tick.supervisor is not None and tick.supervisor.describe(now[0]) == (
        "restart 1/5 in 2 s · killed by SIGKILL")
    context.heartbeat(now[0])  # the restarted engine lives
    assert link.poll().status == LinkStatus.LIVE
    report.unlink()  # without a supervisor (the engine started by hand), a silent engine is only STALE
    now[0] += 1_500_000_000
    assert link.poll().status == LinkStatus.STALE
    events.close()
    context.close()


def test_each_tick_names_the_engine_whose_files_it_read_and_a_restart_is_another(tmp_path: Path) -> None:
    now = [time.time_ns()]
    link = StateLink(tmp_path / "context.mmap", tmp_path / "events.mmap", tmp_path / "commands.mmap",
                     reconnect_every_s=0.0, clock=lambda: now[0])
    assert link.poll().instance == 0  # no engine yet
    first = ContextWriter(tmp_path / "context.mmap", "BTC-USDT-SWAP.OKX")
    events = EventRingWriter(tmp_path / "events.mmap")
    first_instance = link.poll().instance
    assert first_instance == first.created_ns != 0
    assert link.poll().instance == first_instance
    first.close()
    events.close()
    (tmp_path / "context.mmap").unlink()  # the engine died; the next one makes its files anew
    (tmp_path / "events.mmap").unlink()
    time.sleep(0.001)
    second = ContextWriter(tmp_path / "context.mmap", "BTC-USDT-SWAP.OKX")
    events = EventRingWriter(tmp_path / "events.mmap")
    assert link.poll().instance == second.created_ns != first_instance
    second.close()
    events.close()


def test_ctrl_c_twice_stops_the_bridge_cleanly(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    bridge = subprocess.Popen([sys.executable, "-m", "sextant.cli", "bridge", "--headless", "--mmap",
                               str(tmp_path / "c"), "--events", str(tmp_path / "e"), "--commands", str(tmp_path / "m")],
                              cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert bridge.stdout is not None
    for line in bridge.stdout:  # its first status line: the loop is running
        if line.startswith("[WAITING]"):
            break
    bridge.send_signal(signal.SIGINT)  # the terminal's Ctrl-C reaches the whole process group...
    time.sleep(0.05)
    bridge.send_signal(signal.SIGINT)  # ...and `sextant run` passes the stop on as well
    output, _ = bridge.communicate(timeout=30)
    assert bridge.returncode == 0, output


TRUNCATED_UNDER_THE_LINK = """
import os, sys, time
from pathlib import Path

import pytest
from sextant.bridge.link import StateLink
from sextant.state.context import ContextWriter
from sextant.state.ring import EventRingWriter
from tests.conftest import run_isolated
folder = Path(sys.argv[1])
context = ContextWriter(folder / "context.mmap", "X.SIM")
events = EventRingWriter(folder / "events.mmap")
now = [time.time_ns()]
link = StateLink(folder / "context.mmap", folder / "events.mmap", folder / "commands.mmap", clock=lambda: now[0])
print(link.poll().status.name)
os.truncate(folder / sys.argv[2], 0)
tick = link.poll()
print(tick.status.name, tick.snapshot is None, link.attached)
print(link.stats.last_error)
context.close(); events.close()
now[0] += 1_000_000_000  # past the next look for the files
os.unlink(folder / sys.argv[2])
context = ContextWriter(folder / "context.mmap", "Y.SIM")
events = EventRingWriter(folder / "events.mmap")
tick = link.poll()
print(tick.status.name, tick.snapshot.instrument, link.stats.attachments)
"""


@pytest.mark.parametrize("truncated", ["context.mmap", "events.mmap"])
def test_an_engine_file_truncated_under_the_link_detaches_it_and_a_new_engine_reattaches(
        tmp_path: Path, truncated: str) -> None:
    """Run in its own process: reading a truncated mapped file would be a SIGBUS, and must never happen."""
    result = run_isolated(TRUNCATED_UNDER_THE_LINK, str(tmp_path), truncated)
    assert result.returncode == 0, f"returncode {result.returncode}: {result.stderr[-2000:]}"
    first, detached, error, reattached = result.stdout.splitlines()
    assert first == "STARTING"
    assert detached == "WAITING True False"
    assert f"{truncated}: truncated to 0 bytes while mapped" in error
    assert reattached == "STARTING Y.SIM 2"
