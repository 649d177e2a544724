"""What `sextant run` says about the engine it supervises, for the bridge to show: a small JSON file beside the
ContextWindow, replaced whole (write, then rename) so a reader never sees half of one.

The ContextWindow cannot say it: a crashed engine writes nothing, and its last heartbeat only tells the bridge that
it went quiet (STALE), not that it died, why, or whether it is coming back. The supervisor saw the exit code and
the engine's last words, and it decides the restart.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import msgspec

from sextant.state.processes import process_alive

SUPERVISOR_SUFFIX = ".supervisor.json"

EngineState = Literal["running", "down", "restarting", "gave up", "stopping"]
DOWN_STATES: frozenset[str] = frozenset({"down", "restarting", "gave up"})


class SupervisorReport(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    supervisor_pid: int  # a report whose supervisor is gone says nothing (a file left by a killed `sextant run`)
    engine: EngineState
    restarts: int = 0  # restarts in this run of crashes (a long healthy run clears it)
    max_restarts: int = 0  # engine.restart_limit
    reason: str = ""  # why the engine went down: its exit status and its last line on stderr
    restart_at_ns: int = 0  # wall clock: when the next start is due while "down"; 0 if none is
    # wall clock: when the current engine process was started. Engine files created before it are a dead
    # engine's, never the current one's: the bridge does not show them as if they were.
    engine_started_ns: int = 0
    updated_ns: int = 0

    @property
    def down(self) -> bool:
        return self.engine in DOWN_STATES

    def describe(self, now_ns: int) -> str:
        """The report in words, for the header and the console: "" while the engine runs."""
        # The count first: a long reason is cut at the end of the line, never the restart
        if self.engine == "gave up":
            return f"gave up after {self.restarts} restarts · {self.reason}"
        if self.engine == "down":
            wait_s = max(0.0, (self.restart_at_ns - now_ns) / 1e9)
            return f"restart {self.restarts + 1}/{self.max_restarts} in {wait_s:.0f} s · {self.reason}"
        if self.engine == "restarting":
            return f"restart {self.restarts}/{self.max_restarts} starting · {self.reason}"
        return ""


def supervisor_path(context_path: str | Path) -> Path:
    """Where the supervisor of the engine writing `context_path` reports."""
    path = Path(context_path)
    return path.with_name(path.name + SUPERVISOR_SUFFIX)


def write_report(path: Path, report: SupervisorReport) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(msgspec.json.encode(report))
    os.replace(temporary, path)


def read_report(path: Path) -> SupervisorReport | None:
    """The report at `path` if a live supervisor wrote it; None when there is none, it is not one, or its writer is
    gone."""
    try:
        report = msgspec.json.decode(path.read_bytes(), type=SupervisorReport)
    except (OSError, msgspec.DecodeError):
        return None
    return report if process_alive(report.supervisor_pid) else None
