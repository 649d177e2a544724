"""`sextant run`: the engine and the bridge, as two processes (docs/architecture.md#processes), supervised;
`sextant replay`: the scene player in this process and the bridge as a child.

The engine (`sextant engine`) writes the shared memory; the bridge (`sextant bridge`) shows it and writes the
CommandRing. This process starts both and keeps the captain's bridge up whatever happens to the engine: an engine
that crashes is restarted after a back-off, a bounded number of times in a row (engine.restart_limit), and what
happened is written for the bridge to show (state/supervision.py: ENGINE DOWN, the reason, restart n/N). A stop
(Ctrl-C, SIGTERM, the window closed) stops both within STOP_DEADLINE_S, always with exit code 0: each is asked
to stop in order, and one still running at the deadline is killed and named.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Self

from sextant.state.supervision import EngineState, SupervisorReport, supervisor_path, write_report

if TYPE_CHECKING:
    from sextant.bridge.config import BridgeConfig

STOP_GRACE_S = 15.0  # `sextant replay`'s bridge, and children stopped outside `sextant run`
# From the stop request to both children gone. Each is asked to stop in order at once (the engine takes ~1 s);
# one still running STOP_KILL_AT_S after the request is killed, which leaves time to reap it and exit.
STOP_DEADLINE_S = 3.0
STOP_KILL_AT_S = 2.5
POLL_S = 0.05
CLEAN_EXITS = (0, -signal.SIGINT, 130)
EXIT_USAGE = 2  # the CLI's: a configuration the engine refused will not be better on a restart
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """How a crashed engine is restarted: after 1, 2, 4 … s (at most max_backoff_s), at most `limit` times in a
    row; a restarted engine that then runs `healthy_after_s` starts a new row."""

    limit: int = 5
    first_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    healthy_after_s: float = 120.0

    def backoff_s(self, restarts: int) -> float:
        return min(self.first_backoff_s * 2 ** restarts, self.max_backoff_s)


class RestartBudget:
    """The restart decisions, on the caller's clock (seconds): pure, so the policy is tested without processes."""

    def __init__(self, policy: RestartPolicy) -> None:
        self.policy = policy
        self.restarts = 0  # in the current row
        self._started_s = 0.0

    def started(self, now_s: float) -> None:
        self._started_s = now_s

    def crashed(self, now_s: float) -> float | None:
        """Seconds until the restart, or None: the limit is reached, give up."""
        if now_s - self._started_s >= self.policy.healthy_after_s:
            self.restarts = 0  # it ran well; this crash starts a new row
        if self.restarts >= self.policy.limit:
            return None
        return self.policy.backoff_s(self.restarts)

    def restarting(self) -> None:
        self.restarts += 1


def describe_exit(returncode: int, last_words: str = "") -> str:
    """Why a process ended, in words: the signal that killed it, or its exit code and its last line on stderr."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        reason = f"killed by {name}"
    else:
        reason = f"exited with code {returncode}"
    return f"{reason}: {last_words}" if last_words else reason


class StderrTail:
    """Passes a child's stderr through to ours, line by line, and keeps its last lines: a crash's reason."""

    def __init__(self, stream: IO[str], out: IO[str], lines: int = 20) -> None:
        self.lines: deque[str] = deque(maxlen=lines)
        self._stream, self._out = stream, out
        self._thread = threading.Thread(target=self._pump, name="sextant-run-stderr", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        for line in self._stream:
            try:
                self._out.write(line)
                self._out.flush()
            except (OSError, ValueError):
                pass  # our own stderr is gone; keep reading, or the child blocks on a full pipe
            plain = ANSI.sub("", line).strip()
            if plain:
                self.lines.append(plain)

    def last_words(self, timeout_s: float = 0.5) -> str:
        """The child's last line that says something (a traceback's last line is the error), once its pipe is
        drained."""
        self._thread.join(timeout=timeout_s)
        for line in reversed(self.lines):
            if not line.startswith("sextant engine: stopped"):
                return line[:200]
        return ""


def child_command(config_file: str | None, verb: str, args: list[str]) -> list[str]:
    return [sys.executable, "-m", "sextant.cli", *(["--config", config_file] if config_file else []), verb, *args]


def _spawn(config_file: str | None, verb: str, args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(child_command(config_file, verb, args))


def stop_process(process: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """Ask a child to stop (SIGINT: it cleans up), and kill it if it has not after `grace_s`."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class StopSignals:
    """Inside the block, Ctrl-C and SIGTERM set `requested` instead of interrupting, so a parent can stop its
    children in order."""

    def __init__(self) -> None:
        self.requested = False
        self.at_s = 0.0  # time.monotonic() of the first request
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: object) -> None:
        if not self.requested:
            self.requested, self.at_s = True, time.monotonic()

    def __enter__(self) -> Self:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]


class Supervisor:
    """One `sextant run`: the bridge for the whole run, the engine for as long as it lives or can be restarted."""

    def __init__(self, commands: dict[str, list[str]], report: Path, policy: RestartPolicy, *,
                 say: Callable[[str], None] | None = None) -> None:
        self._commands = commands  # "engine" and "bridge": each child's command line
        self._report_path = report
        self._budget = RestartBudget(policy)
        self._policy = policy
        self._say = say or (lambda text: print(f"sextant run: {text}", file=sys.stderr, flush=True))
        self.engine: subprocess.Popen | None = None
        self.bridge: subprocess.Popen | None = None
        self._engine_stderr: StderrTail | None = None
        self._reason = ""
        self._engine_started_ns = 0
        self._restart_at_s: float | None = None
        self.gave_up = False

    def _report(self, engine: EngineState, restart_at_s: float | None = None) -> None:
        now_ns = time.time_ns()
        restart_at_ns = now_ns + int((restart_at_s - time.monotonic()) * 1e9) if restart_at_s is not None else 0
        try:
            write_report(self._report_path, SupervisorReport(
                supervisor_pid=os.getpid(), engine=engine, restarts=self._budget.restarts,
                max_restarts=self._policy.limit, reason=self._reason, restart_at_ns=restart_at_ns,
                engine_started_ns=self._engine_started_ns, updated_ns=now_ns))
        except OSError as error:
            self._say(f"cannot write {self._report_path} ({error.strerror}); the bridge will show STALE only")

    def _start_engine(self, state: EngineState) -> None:
        self._engine_started_ns = time.time_ns()
        self._report(state)  # before the engine can write a file: the bridge knows which files are its
        self.engine = subprocess.Popen(self._commands["engine"], stderr=subprocess.PIPE, text=True,
                                       errors="replace")
        assert self.engine.stderr is not None
        self._engine_stderr = StderrTail(self.engine.stderr, sys.stderr)
        self._budget.started(time.monotonic())
        self._say(f"engine started (pid {self.engine.pid})")

    def run(self, signals: StopSignals) -> int:
        self._engine_started_ns = time.time_ns()
        self._report("running")
        self.bridge = subprocess.Popen(self._commands["bridge"])
        self._say(f"bridge started (pid {self.bridge.pid})")
        self._start_engine("running")
        ended_by_itself = False
        while not signals.requested and self.bridge.poll() is None:
            if self.engine is not None and self.engine.poll() is not None:
                if self._engine_ended():
                    ended_by_itself = True
                    break
            elif self._restart_at_s is not None and time.monotonic() >= self._restart_at_s:
                self._restart_at_s = None
                self._budget.restarting()
                self._start_engine("restarting")
            time.sleep(POLL_S)
        stop_at_s = signals.at_s if signals.requested else time.monotonic()
        self._report("stopping")
        killed = stop_together([p for p in (self.bridge, self.engine) if p is not None], stop_at_s)
        for process in killed:
            which = "engine" if process is self.engine else "bridge"
            extra = "; if it had orders working at a live venue, check them there" if which == "engine" else ""
            self._say(f"the {which} did not stop within {STOP_KILL_AT_S:g} s and was killed{extra}")
        self._report_path.unlink(missing_ok=True)
        return self._exit_code(signals.requested, ended_by_itself)

    def _engine_ended(self) -> bool:
        """The engine is gone: True when it ended by itself (--duration), else a crash, restarted or given up."""
        assert self.engine is not None and self._engine_stderr is not None
        returncode = self.engine.returncode
        if returncode in CLEAN_EXITS:
            return True
        self._reason = describe_exit(returncode, self._engine_stderr.last_words())
        self.engine = None
        wait_s = None if returncode == EXIT_USAGE else self._budget.crashed(time.monotonic())
        if wait_s is None:
            self.gave_up = True
            why = ("its configuration was refused" if returncode == EXIT_USAGE
                   else "engine.restart_limit is 0" if self._policy.limit == 0
                   else f"{self._budget.restarts} restarts in a row")
            self._say(f"the engine went down ({self._reason}); not restarting: {why}. The bridge stays up; close "
                      "it to end.")
            self._report("gave up")
            return False
        self._restart_at_s = time.monotonic() + wait_s
        self._say(f"the engine went down ({self._reason}); restart {self._budget.restarts + 1}/"
                  f"{self._policy.limit} in {wait_s:g} s")
        self._report("down", self._restart_at_s)
        return False

    def _exit_code(self, requested: bool, ended_by_itself: bool) -> int:
        """0 for a stop the captain asked for and for an engine that ended by itself; 1 when a child failed."""
        assert self.bridge is not None
        if self.gave_up:
            self._say(f"the engine could not be kept running: {self._reason}")
            return 1
        if not requested and not ended_by_itself and self.bridge.returncode not in CLEAN_EXITS:
            self._say(f"the bridge exited with {self.bridge.returncode}")
            return 1
        return 0


def stop_together(processes: list[subprocess.Popen], requested_at_s: float,
                  kill_at_s: float = STOP_KILL_AT_S) -> list[subprocess.Popen]:
    """Ask each running process to stop (SIGINT, so each cleans up in order), wait for all of them until
    `kill_at_s` after the request, then kill what is left. Returns the ones that had to be killed."""
    for process in processes:
        if process.poll() is None:
            try:
                process.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass
    killed = []
    for process in processes:
        try:
            process.wait(timeout=max(0.0, requested_at_s + kill_at_s - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            killed.append(process)
    return killed


def run(engine_args: list[str], bridge_args: list[str], config_file: str | None, *, context_path: str,
        restart_limit: int) -> int:
    commands = {"engine": child_command(config_file, "engine", engine_args),
                "bridge": child_command(config_file, "bridge", bridge_args)}
    supervisor = Supervisor(commands, supervisor_path(context_path), RestartPolicy(limit=restart_limit))
    with StopSignals() as signals, terminal_restored():
        return supervisor.run(signals)


@contextlib.contextmanager
def terminal_restored() -> Iterator[None]:
    """The terminal's modes as they were, whatever a child did to them: a bridge that reads keys puts it in cbreak
    mode, and one that was killed cannot put it back."""
    try:
        import termios

        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    except (ImportError, OSError, ValueError):
        saved = None
    try:
        yield
    finally:
        if saved is not None:
            try:
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)
            except termios.error:
                pass  # the terminal is gone


def replay_interactive(config: BridgeConfig, scene: Path, speed: float, bridge_args: list[str],
                       config_file: str | None) -> int:
    """Play `scene` into the shared memory at its recorded pace × speed; the bridge shows it and sends the keys.
    Ends when the bridge is closed, or on Ctrl-C; at the end of the scene the player holds the last frame."""
    from sextant.replay.player import TICK_S, ScenePlayer  # here: `sextant run` starts without numpy and Arrow

    player = ScenePlayer(scene, config.context_path, config.events_path, config.commands_path, speed=speed)
    scale = f" (1× is {player.time_scale:,.0f}× the recorded clock: its snapshots are far apart)" \
        if player.time_scale > 1 else ""
    print(f"sextant replay: {scene} ({player.snapshot_count} snapshots, {player.duration_ns / 1e9:.1f} s) at "
          f"{speed:g}×{scale}", flush=True)
    with StopSignals() as signals:
        bridge = _spawn(config_file, "bridge", ["--mmap", config.context_path, "--events", config.events_path,
                                                "--commands", config.commands_path, *bridge_args])
        try:
            next_tick = time.perf_counter()
            while not signals.requested and bridge.poll() is None:
                player.advance(TICK_S)
                next_tick += TICK_S
                time.sleep(max(0.0, next_tick - time.perf_counter()))
        finally:
            stop_process(bridge, grace_s=10)
            player.close()
    return 0
