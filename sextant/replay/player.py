"""ScenePlayer: writes a recorded scene back into the ContextWindow and the EventRing, so the bridge runs its
normal code path on it (docs/architecture.md: the bridge cannot tell replay from live, except by the REPLAY flag).

The timeline is the engine's clock (the snapshots' and events' `ts_ns`), so a scene recorded live and one run by
`sextant sim` on a simulated clock replay alike. The player advances by wall time × speed; the bridge's transport
keys arrive as ReplayControl commands on the CommandRing. Every snapshot written carries `replay = 1`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sextant.replay.format import SceneError, read_context, read_metadata, read_table
from sextant.state import messages
from sextant.state.context import ContextWriter, decode_instrument
from sextant.state.ring import CommandRingFollower, EventRingWriter

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
# At 1× a scene plays at most this long per snapshot: one recorded live (a snapshot every 50 ms) or by a sim of
# quotes (every 250 ms to 1 s) plays in real time, one of hourly bars a bar a second instead of an hour.
SECONDS_PER_SNAPSHOT = 1.0
STATUS_EVERY_NS = 200_000_000
TICK_S = 1 / 60  # how far `sextant replay` advances the player per step


class ScenePlayer:
    def __init__(self, scene: str | Path, context_path: str | Path, events_path: str | Path,
                 commands_path: str | Path | None = None, *, speed: float = 1.0,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.scene = Path(scene)
        self.metadata = read_metadata(self.scene)
        rows = read_context(self.scene)
        usable = rows.ts_ns > 0  # snapshots from before the first quote have no place on the timeline
        self._records = rows.records[usable]
        self._times = rows.ts_ns[usable].astype(np.int64)
        if not len(self._records):
            raise SceneError(f"{self.scene}: the scene has no ContextWindow snapshot after its first quote")
        events = read_table(self.scene, "events")
        self._event_times = events.column("ts_ns").to_numpy().astype(np.int64)
        self._event_kinds = events.column("kind").to_numpy()
        self._event_payloads = events.column("payload").to_pylist()
        self.start_ns = int(self._times[0])
        self.duration_ns = int(self._times[-1]) - self.start_ns
        self.speed = speed
        # engine seconds per wall second at 1×: 1, or more where the snapshots are further apart (bars)
        gaps = np.diff(self._times)
        gap_s = float(np.median(gaps[gaps > 0])) / 1e9 if np.any(gaps > 0) else 0.0
        self.time_scale = max(1.0, gap_s / SECONDS_PER_SNAPSHOT)
        self.paused = False
        self.position_ns = 0
        self._clock = clock
        self._shown = -1  # index of the snapshot on screen
        self._next_event = 0
        self._last_status_ns = 0
        # The bridge's transport keys; only commands sent after the replay started count.
        self._commands = CommandRingFollower(commands_path, start="latest", recheck_ns=500_000_000) \
            if commands_path else None
        first = self._records[0]
        ids = [decode_instrument(raw) for raw in first["instruments"]["instrument"][:max(1, first["instrument_count"])]]
        self.context = ContextWriter(context_path, ids)
        self.events = EventRingWriter(events_path)
        self._show(0)

    @property
    def finished(self) -> bool:
        return self.position_ns >= self.duration_ns

    @property
    def snapshot_count(self) -> int:
        return len(self._records)

    def now_ns(self) -> int:
        """The scene's clock at the current position: what 'now' meant when this was recorded."""
        return self.start_ns + self.position_ns

    # --------------------------------------------------------------------------------------------- playing

    def advance(self, wall_dt_s: float) -> None:
        """Move the timeline by `wall_dt_s` × speed (not while paused), then handle the bridge's commands."""
        self._read_commands()
        if not self.paused:
            self._move_to(self.position_ns + int(wall_dt_s * self.speed * self.time_scale * 1e9))
        now = self._clock()
        self.context.heartbeat(now)
        self.events.heartbeat(now)
        if now - self._last_status_ns >= STATUS_EVERY_NS:
            self._status()

    def seek(self, fraction: float) -> None:
        target = int(min(max(fraction, 0.0), 1.0) * self.duration_ns)
        self._move_to(target, seeking=True)
        self._status(seeked=True)

    def step(self, count: int) -> None:
        """Pause and move by `count` snapshots."""
        self.paused = True
        index = int(min(max(self._shown + count, 0), len(self._records) - 1))
        self._move_to(int(self._times[index]) - self.start_ns, seeking=count < 0)
        self._status(seeked=count < 0)

    def set_speed(self, speed: float) -> None:
        self.speed = float(min(max(speed, SPEEDS[0]), SPEEDS[-1]))
        self._status()

    def _move_to(self, position_ns: int, *, seeking: bool = False) -> None:
        self.position_ns = int(min(max(position_ns, 0), self.duration_ns))
        now_ns = self.start_ns + self.position_ns
        index = int(np.searchsorted(self._times, now_ns, side="right")) - 1
        if seeking:  # events are history up to the new position; nothing after it has happened yet
            self._next_event = int(np.searchsorted(self._event_times, self._times[max(index, 0)], side="right"))
        while self._next_event < len(self._event_times) and self._event_times[self._next_event] <= now_ns:
            self.events.publish_raw(int(self._event_kinds[self._next_event]), self._event_payloads[self._next_event],
                                    ts_ns=int(self._event_times[self._next_event]))
            self._next_event += 1
        if index != self._shown and index >= 0:
            self._show(index)

    def _show(self, index: int) -> None:
        self._shown = index
        self.context.load(self._records[index])
        self.context.record["replay"] = 1
        self.context.commit(self._clock())

    def _status(self, seeked: bool = False) -> None:
        self._last_status_ns = self._clock()
        self.events.publish(messages.ReplayStatus(scene=self.scene.name, position_ns=self.position_ns,
                                                  duration_ns=self.duration_ns, speed=self.speed,
                                                  paused=self.paused, seeked=seeked), ts_ns=self.now_ns())

    # --------------------------------------------------------------------------------------------- control

    def _read_commands(self) -> None:
        if self._commands is None:
            return
        for received in self._commands.drain():
            command = received.message
            if isinstance(command, messages.ReplayControl):
                self.control(command)
            elif command is not None:
                self.events.publish(messages.CommandResult(command_id=command.command_id, command=received.type_name,
                                                           applied=False, reason="a replay takes no trading commands"),
                                    ts_ns=self.now_ns())

    def control(self, command: messages.ReplayControl) -> None:
        action = command.action
        if action in ("toggle", "pause", "resume"):
            self.paused = not self.paused if action == "toggle" else action == "pause"
            self._status()
        elif action == "step":
            self.step(int(command.value) or 1)
        elif action == "speed":
            self.set_speed(command.value)
        elif action == "seek":
            self.seek(command.value)
        self.events.publish(messages.CommandResult(command_id=command.command_id, command="ReplayControl",
                                                   applied=True, reason=action), ts_ns=self.now_ns())

    def close(self) -> None:
        if self._commands is not None:
            self._commands.close()
        self.context.close()
        self.events.close()
