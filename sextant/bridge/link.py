"""The bridge's only connection to the engine: the three shared-memory files.

It reads the ContextWindow and drains the EventRing once per tick, and it owns the CommandRing (the bridge is that
ring's single writer). The engine may start after the bridge, stop, or restart: the link waits for its files, sees
when they are replaced (a new `created_ns` in the header) and re-attaches, without the bridge noticing more than a
WAITING or STALE badge.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np

from sextant.state import messages
from sextant.state.context import CONTEXT_SPEC, ContextReader, ContextSnapshot
from sextant.state.ring import EVENT_RING_SPEC, CommandRingWriter, EventRingReader, RingMessage
from sextant.state.shm import StateFileError, check_usable, read_header
from sextant.state.supervision import SupervisorReport, read_report, supervisor_path

Clock = Callable[[], int]  # wall clock, ns; tests pass a stepped one so frames are reproducible

READ_LATENCY_SAMPLES = 600  # ten seconds of frames
MAX_EVENTS_PER_TICK = 1024  # a burst beyond this waits for the next tick instead of stalling a frame


class LinkStatus(Enum):
    WAITING = "WAITING"  # no engine files yet
    STARTING = "STARTING"  # the engine is alive (fresh heartbeat) but has no market state yet (trust setup, connecting)
    LIVE = "LIVE"
    STALE = "STALE"  # files present, heartbeat older than stale_after_s
    REPLAY = "REPLAY"  # the writer is a replay process (ContextWindow `replay` flag)
    DOWN = "DOWN"  # no live engine, and its supervisor (`sextant run`) says it died: why, and whether it comes back


@dataclass(slots=True)
class LinkStats:
    """What the Memory drawer shows: measured here, every tick."""

    read_latency_ns: np.ndarray = field(default_factory=lambda: np.zeros(READ_LATENCY_SAMPLES, np.int64))
    reads: int = 0
    events_received: int = 0
    events_undecodable: int = 0
    events_truncated: int = 0
    attachments: int = 0
    last_error: str = ""

    def add_read(self, elapsed_ns: int) -> None:
        self.read_latency_ns[self.reads % READ_LATENCY_SAMPLES] = elapsed_ns
        self.reads += 1

    def read_latencies(self) -> np.ndarray:
        return self.read_latency_ns[: min(self.reads, READ_LATENCY_SAMPLES)]


@dataclass(frozen=True, slots=True)
class Tick:
    """What one poll saw."""

    status: LinkStatus
    snapshot: ContextSnapshot | None
    events: list[RingMessage[messages.Event]]
    heartbeat_age_s: float
    lost: int  # events this bridge will never see (it fell behind the ring), since attaching
    # The engine these came from: its ContextWindow's created_ns, a new one each time an engine (or a replay)
    # creates its files; 0 while none is attached.
    instance: int = 0
    supervisor: SupervisorReport | None = None  # what `sextant run` last said of the engine; None without one


class StateLink:
    def __init__(self, context_path: str | Path, events_path: str | Path, commands_path: str | Path, *,
                 stale_after_s: float = 1.0, reconnect_every_s: float = 0.5, clock: Clock = time.time_ns) -> None:
        self._context_path = Path(context_path)
        self._events_path = Path(events_path)
        # The engine's files may come later, but a path where they never can is refused now (exit 2 in the CLI).
        check_usable(self._context_path, CONTEXT_SPEC)
        check_usable(self._events_path, EVENT_RING_SPEC)
        self._stale_after_ns = int(stale_after_s * 1e9)
        self._reconnect_every_ns = int(reconnect_every_s * 1e9)
        self._clock = clock
        self._context: ContextReader | None = None
        self._events: EventRingReader | None = None
        self._attached_created: tuple[int, int] = (0, 0)
        self._supervisor_path = supervisor_path(self._context_path)
        self._supervisor_seen: tuple[int, int] = (0, 0)  # (mtime_ns, size) of the report last read
        self.supervisor: SupervisorReport | None = None
        self._next_check_ns = 0
        self.stats = LinkStats()
        # The bridge is the CommandRing's writer: it exists from the bridge's start, so commands sent before the
        # engine attaches wait there (the engine answers ones older than itself as refused, never executes them).
        self.commands = CommandRingWriter(commands_path)
        self._command_counter = 0

    @property
    def attached(self) -> bool:
        return self._context is not None and self._events is not None

    def poll(self) -> Tick:
        now = self._clock()
        if now >= self._next_check_ns:
            self._next_check_ns = now + self._reconnect_every_ns
            self._read_supervisor()
            self._attach_if_needed()
        supervisor = self.supervisor
        if self._context is None or self._events is None:
            # No engine files, or only a dead engine's: with a supervisor, its word on the engine process
            status = (LinkStatus.WAITING if supervisor is None else LinkStatus.DOWN if supervisor.down
                      else LinkStatus.STARTING)
            return Tick(status, None, [], float("inf"), 0, supervisor=supervisor)
        try:
            # Once per frame, before the seqlock copy: a file cut short under the bridge is a detached link, not
            # a SIGBUS. The drain checks the event ring itself.
            self._context.check_intact()
            started = time.perf_counter_ns()
            snapshot = self._context.snapshot()
            self.stats.add_read(time.perf_counter_ns() - started)
            received = self._events.drain(MAX_EVENTS_PER_TICK)
            events_heartbeat_ns = self._events.heartbeat_ns
        except StateFileError as error:
            self.stats.last_error = str(error)
            self._close_readers()  # re-attaches when a whole engine file is back at the path
            return Tick(LinkStatus.WAITING, None, [], float("inf"), 0, supervisor=supervisor)
        self.stats.events_received += len(received)
        for message in received:
            if message.message is None:
                self.stats.events_undecodable += 1
                self.stats.last_error = message.error or "undecodable event"
            elif message.truncated:
                self.stats.events_truncated += 1
        heartbeat_ns = max(snapshot.heartbeat_ns, events_heartbeat_ns)
        age_s = (now - heartbeat_ns) / 1e9
        fresh = now - heartbeat_ns <= self._stale_after_ns
        if not fresh and supervisor is not None and supervisor.down:
            status = LinkStatus.DOWN  # the supervisor saw it die: say so, not a guess from the heartbeat
        elif snapshot.sequence == 0 or int(snapshot["quote_count"]) == 0:  # files, but no market state yet
            status = LinkStatus.STARTING if fresh else LinkStatus.STALE  # alive, or dead before its first state
        elif not fresh:
            status = LinkStatus.STALE
        elif int(snapshot["replay"]):
            status = LinkStatus.REPLAY
        else:
            status = LinkStatus.LIVE
        return Tick(status, snapshot, [m for m in received if m.message is not None], age_s, self._events.lost,
                    self._attached_created[0], supervisor)

    def send(self, command: messages.Command) -> int:
        return self.commands.publish(command, ts_ns=self._clock())

    def next_command_id(self, prefix: str) -> str:
        self._command_counter += 1
        return f"bridge-{prefix}-{self._command_counter}"

    def _attach_if_needed(self) -> None:
        created = (_created_ns(self._context_path), _created_ns(self._events_path))
        supervisor = self.supervisor
        if supervisor is not None and min(created) < supervisor.engine_started_ns:
            self._close_readers()  # a dead engine's files: the engine now starting has not written its own yet
            return
        if self.attached and created == self._attached_created:
            return
        if 0 in created:
            return
        try:
            context = ContextReader(self._context_path)
            events = EventRingReader(self._events_path, start="oldest")
        except StateFileError as error:
            self.stats.last_error = str(error)
            return
        self._close_readers()
        self._context, self._events, self._attached_created = context, events, created
        self.stats.attachments += 1

    def _read_supervisor(self) -> None:
        """Read the supervisor's report when it changed; None once it is gone (or its writer is)."""
        try:
            stat = self._supervisor_path.stat()
        except OSError:
            self.supervisor, self._supervisor_seen = None, (0, 0)
            return
        seen = (stat.st_mtime_ns, stat.st_size)
        if seen != self._supervisor_seen or self.supervisor is not None:
            # re-read a live one each time too: read_report drops it when its supervisor has died
            self._supervisor_seen = seen
            self.supervisor = read_report(self._supervisor_path)

    def _close_readers(self) -> None:
        for reader in (self._context, self._events):
            if reader is not None:
                reader.close()
        self._context = self._events = None

    def close(self) -> None:
        self._close_readers()
        self.commands.close()


def _created_ns(path: Path) -> int:
    try:
        header = read_header(path)
    except OSError:
        return 0
    return 0 if header is None else int(header["created_ns"])
