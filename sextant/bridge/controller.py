"""The bridge without a screen: the link to the engine's files, the model it keeps, and every command the captain
can give. The window (view.py) and the terminal (terminal.py) are two faces of this one controller, so a key on
either does the same thing, and neither needs GL to decide it.

State flows down (each tick: the link's Tick into the model); commands flow up (the CommandRing). A command is
refused here, with a toast saying why, when no engine can act on it.
"""

from __future__ import annotations

import time
from collections import deque

from sextant.bridge.config import BridgeConfig
from sextant.bridge.link import Clock, LinkStatus, StateLink
from sextant.bridge.model import BridgeModel
from sextant.state import messages
from sextant.state.layout import EStopState

# A starting or stale engine reads its CommandRing once it runs: an E-STOP sent then still counts.
ACCEPTS_COMMANDS = (LinkStatus.LIVE, LinkStatus.STALE, LinkStatus.STARTING)
REPLAY_SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
SENT_KEPT = 1000  # the latest commands sent, for tests and the Memory drawer


class BridgeController:
    def __init__(self, config: BridgeConfig, *, clock: Clock = time.time_ns, link: StateLink | None = None) -> None:
        self.config = config
        self.clock = clock
        self.link = link or StateLink(config.context_path, config.events_path, config.commands_path,
                                      stale_after_s=config.stale_after_s, reconnect_every_s=config.reconnect_every_s,
                                      clock=clock)
        self.model = BridgeModel(history_s=config.history_s)
        self.ticks = 0
        self.tick_s = 1.0 / config.tick_hz
        self.sent: deque[messages.Command] = deque(maxlen=SENT_KEPT)
        self.last_events: list[messages.Event] = []  # what the last tick drained, for the console

    def tick(self) -> None:
        """One fixed tick: read the shared memory into the model."""
        self.ticks += 1
        tick = self.link.poll()
        self.last_events = [received.message for received in tick.events if received.message is not None]
        self.model.apply(tick, self.ticks * self.tick_s)

    def engine_now_ns(self) -> int:
        """'Now' for countdowns: the wall clock live, the scene's clock in a replay."""
        snapshot = self.model.snapshot
        if self.model.status == LinkStatus.REPLAY and snapshot is not None:
            return int(snapshot["ts_ns"])
        return self.clock()

    def send(self, command: messages.Command, *, quiet: bool = False) -> bool:
        """Send a command, or say why not (`quiet`: say nothing; a hover is not a decision)."""
        replaying = self.model.status == LinkStatus.REPLAY
        refusal = ""
        if replaying != isinstance(command, messages.ReplayControl):
            refusal = "this is a replay" if replaying else "no replay is running"
        elif not replaying and self.model.status not in ACCEPTS_COMMANDS:
            refusal = f"the bridge is {self.model.status.value}"
        if refusal:
            if not quiet:
                self.model.toast(f"{type(command).__name__} not sent: {refusal}", False)
            return False
        number = self.link.send(command)
        if not quiet:
            self.model.command_sent(command, number)
        self.sent.append(command)
        return True

    def approve(self, intent_id: str) -> bool:
        return self.send(messages.Approve(command_id=self.link.next_command_id("approve"), intent_id=intent_id))

    def reject(self, intent_id: str) -> bool:
        return self.send(messages.Reject(command_id=self.link.next_command_id("reject"), intent_id=intent_id,
                                         reason="rejected on the bridge"))

    def modify(self, intent_id: str, changes: dict[str, object]) -> bool:
        """`changes`: the fields of Modify that differ from the intent (the editor's `changes()`)."""
        return self.send(messages.Modify(command_id=self.link.next_command_id("modify"), intent_id=intent_id,
                                         **changes))  # type: ignore[arg-type]

    def hold_countdown(self, intent_id: str, hold: bool) -> bool:
        return self.send(messages.HoldCountdown(command_id=self.link.next_command_id("hold" if hold else "resume"),
                                                intent_id=intent_id, hold=hold), quiet=True)

    def set_autonomy(self, level: str) -> bool:
        return self.send(messages.SetAutonomy(command_id=self.link.next_command_id("autonomy"),
                                              level=level))  # type: ignore[arg-type]

    def estop_state(self) -> EStopState:
        snapshot = self.model.snapshot
        return EStopState(int(snapshot["estop"])) if snapshot is not None else EStopState.RELEASED

    def estop(self, engage: bool) -> bool:
        return self.send(messages.EStop(command_id=self.link.next_command_id("estop"), engage=engage))

    def replay_control(self, action: str, value: float = 0.0) -> bool:
        return self.send(messages.ReplayControl(command_id=self.link.next_command_id("replay"),
                                                action=action, value=value))  # type: ignore[arg-type]

    def seek(self, fraction: float) -> bool:
        return self.replay_control("seek", min(max(fraction, 0.0), 1.0))

    def replay_speed(self, faster: bool) -> bool:
        current = self.model.replay.speed if self.model.replay is not None else 1.0
        index = min(range(len(REPLAY_SPEEDS)), key=lambda i: abs(REPLAY_SPEEDS[i] - current))
        index = min(len(REPLAY_SPEEDS) - 1, index + 1) if faster else max(0, index - 1)
        return self.replay_control("speed", REPLAY_SPEEDS[index])

    def select_instrument(self, slot: int) -> bool:
        """Show instrument `slot` (from 0); a slot the engine does not trade is refused with a toast. Nothing is
        sent: which instrument the bridge shows is the bridge's own business."""
        if self.model.select(slot):
            return True
        count = self.model.instrument_count
        self.model.toast(f"no instrument {slot + 1}: the engine trades {count}" if count
                         else "no instrument yet: the engine has not said what it trades", False)
        return False

    def cycle_instrument(self, step: int) -> bool:
        """Show the next (`step` 1) or the previous (-1) instrument, round; with one, nothing changes."""
        return self.model.cycle(step)

    def close(self) -> None:
        self.link.close()
