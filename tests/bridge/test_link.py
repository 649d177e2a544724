"""The link's badge: an engine that is alive but has no market state yet is STARTING, not STALE."""

from __future__ import annotations

import time
from pathlib import Path

from sextant.bridge.link import LinkStatus, StateLink
from sextant.state.context import ContextWriter
from sextant.state.ring import EventRingWriter


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
