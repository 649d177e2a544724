"""The bridge in a terminal (`--headless` without --screenshot, --frames or --script): no GL at all, a status line
every second from its own thread whatever the load, a line per notable event, and the captain's keys read from
the terminal, so a trader over SSH can approve a card.

Keys: A approve and R reject the top card; Space twice within ESTOP_CONFIRM_S engages the E-STOP (or releases an
engaged one); 1-4 print the orders, research, memory and hull drawers as text; Tab and Shift+Tab show the next and
the previous instrument where the engine trades several (the status line and the drawers follow it), f prints the
fleet; ? the keys; q quits.
"""

from __future__ import annotations

import os
import re
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from sextant.bridge.config import BridgeConfig
from sextant.bridge.console import NOTABLE, describe_event, status_line
from sextant.bridge.controller import BridgeController
from sextant.bridge.instruments import fleet_line
from sextant.bridge.link import LinkStatus
from sextant.bridge.model import Card, Toast
from sextant.bridge.pacing import FixedRate
from sextant.bridge.positions import (
    llm_calls_text,
    llm_role_spend,
    llm_spend_text,
    model_record_lines,
    order_cells,
    position_lines,
)
from sextant.state.layout import EStopState, HullDimension

STATUS_EVERY_S = 1.0
ESTOP_CONFIRM_S = 2.0  # the second Space must come this soon after the first
BACK_TAB = "\x1b[Z"  # what a terminal sends for Shift+Tab
_KEYS = re.compile(re.escape(BACK_TAB) + "|.", re.DOTALL)  # a press: Shift+Tab's sequence, or one character
DRAWER_LINES = 10
TERMINAL_KEYS_HELP: tuple[tuple[str, str], ...] = (
    ("A  R", "approve or reject the top card"),
    ("Space Space", f"E-STOP: press twice within {ESTOP_CONFIRM_S:g} s; when engaged, RELEASE"),
    ("1  2  3  4", "print orders, research, memory or hull integrity"),
    ("Tab  Shift+Tab", "next / previous instrument, with two or more: the status line and drawers follow it"),
    ("f", "print the fleet: every instrument's price, position, uPnL and heat"),
    ("?", "these keys"),
    ("q", "quit the bridge"),
)


class TerminalKeys:
    """Single key presses from a terminal, without Enter and without echo (cbreak: Ctrl-C still interrupts).
    Not a terminal (a pipe, /dev/null): no keys, and said once."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        stream = stream if stream is not None else sys.stdin
        self._fd: int | None = None
        self._saved: list[Any] | None = None
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):
            return
        if not os.isatty(fd):
            return
        import termios
        import tty

        self._fd = fd
        self._saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)

    @property
    def available(self) -> bool:
        return self._fd is not None

    def read(self) -> str:
        """The keys pressed since the last read, without waiting."""
        if self._fd is None:
            return ""
        pressed = b""
        while select.select([self._fd], [], [], 0)[0]:
            chunk = os.read(self._fd, 64)
            if not chunk:  # the terminal is gone
                self.close()
                break
            pressed += chunk
        return pressed.decode(errors="replace")

    def close(self) -> None:
        if self._fd is not None and self._saved is not None:
            import termios

            try:
                termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
            except termios.error:
                pass  # the terminal is gone
        self._fd = None


def card_line(card: Card, now_ns: int) -> str:
    """A card's arrival, as the terminal announces it (with the bell)."""
    intent = card.intent
    title = intent.title or f"{intent.side or ''} {intent.quantity:g}".strip()
    if intent.auto_approve_at_ns is not None:
        when = f"auto-approves in {max(0.0, (intent.auto_approve_at_ns - now_ns) / 1e9):.0f} s"
    elif intent.expires_at_ns is not None:
        when = f"expires in {max(0.0, (intent.expires_at_ns - now_ns) / 1e9):.0f} s"
    else:
        when = "waits for you"
    return f"CARD {intent.agent}: {title} — {intent.plan} ({when}). [A] approve  [R] reject"


class TerminalBridge:
    """The controller, driven from a terminal."""

    def __init__(self, config: BridgeConfig, *, out: IO[str] | None = None, keys: TerminalKeys | None = None,
                 controller: BridgeController | None = None, clock: Callable[[], int] = time.time_ns) -> None:
        self.controller = controller or BridgeController(config, clock=clock)
        self._out = out if out is not None else sys.stdout
        self._keys = keys
        self._clock = clock
        self._lock = threading.Lock()  # the tick and the status thread take turns on the model
        self._estop_armed_s: float | None = None
        self._announced: set[str] = set()
        self._said_toasts: list[Toast] = []  # toasts are the model's; each is printed once
        self.quit = False

    def say(self, text: str) -> None:
        try:
            self._out.write(text + "\n")
            self._out.flush()
        except (OSError, ValueError):
            pass  # the terminal is gone; the bridge goes on until stopped

    # ------------------------------------------------------------------------------------------------ the loop

    def step(self) -> None:
        """One tick: read the engine, say what happened, take the keys pressed."""
        with self._lock:
            self.controller.tick()
            model = self.controller.model
            for event in self.controller.last_events:
                if isinstance(event, NOTABLE):
                    self.say(f"  {describe_event(event)}")
            self._announce_cards()
            for toast in model.toasts:
                if not any(toast is said for said in self._said_toasts):
                    self.say(f"  {'ok' if toast.good else '!!'} {toast.text}")
            self._said_toasts = list(model.toasts)
            pressed = self._keys.read() if self._keys is not None else ""
            for character in _KEYS.findall(pressed):
                self.on_key(character)

    def _announce_cards(self) -> None:
        model = self.controller.model
        if not model.answering:
            return
        for card in model.visible_cards():
            if not card.outcome and card.intent_id not in self._announced:
                self._announced.add(card.intent_id)
                self.say(f"\a{card_line(card, self.controller.engine_now_ns())}")

    def status(self) -> str:
        with self._lock:
            return status_line(self.controller.model, self._clock())

    def run(self, tick_s: float) -> None:
        """Until q, or a KeyboardInterrupt (Ctrl-C, `sextant run` stopping us)."""
        if self._keys is not None and not self._keys.available:
            self.say("sextant bridge: stdin is not a terminal, so no keys are read here; Ctrl-C stops")
        elif self._keys is not None:
            self.say("sextant bridge: keys: A approve · R reject · Space twice E-STOP · 1-4 drawers · Tab instrument · "
                     "f fleet · ? keys · q quit")
        stop_status = threading.Event()
        printer = threading.Thread(target=self._print_status, args=(stop_status,), name="sextant-bridge-status",
                                   daemon=True)
        printer.start()
        try:
            pacer = FixedRate(tick_s)
            while not self.quit:
                self.step()
                pacer.wait()
        finally:
            stop_status.set()
            printer.join(timeout=1.0)

    def _print_status(self, stop: threading.Event) -> None:
        """Its own thread, on its own schedule: the line keeps coming when a tick is slow."""
        next_at = time.monotonic()
        while not stop.is_set():
            self.say(self.status())
            next_at += STATUS_EVERY_S
            if stop.wait(max(0.0, next_at - time.monotonic())):
                break
            if time.monotonic() - next_at > STATUS_EVERY_S:
                next_at = time.monotonic()  # starved for a while: print now, then on the second again

    # ------------------------------------------------------------------------------------------------ keys

    def on_key(self, character: str) -> None:
        """One key press: a character, or BACK_TAB."""
        controller, model = self.controller, self.controller.model
        if character != " " and self._estop_armed_s is not None:
            self._estop_armed_s = None
            self.say("  E-STOP not sent")
        top = model.top_card()
        if character in "aA":
            if top is None:
                self.say(f"  no card to approve{'' if model.answering else f' (the bridge is {model.status.value})'}")
            elif not top.pending_command:
                self.say(f"  approve {top.intent_id}: {'sent' if controller.approve(top.intent_id) else 'not sent'}")
        elif character in "rR":
            if top is None:
                self.say(f"  no card to reject{'' if model.answering else f' (the bridge is {model.status.value})'}")
            elif not top.pending_command:
                self.say(f"  reject {top.intent_id}: {'sent' if controller.reject(top.intent_id) else 'not sent'}")
        elif character == " ":
            self._estop_key()
        elif character in "1234":
            for line in self.drawer_lines(int(character)):
                self.say(f"  {line}")
        elif character in ("\t", BACK_TAB):
            if controller.cycle_instrument(-1 if character == BACK_TAB else 1):
                self.say(f"  showing {model.instrument_ids[model.selected]} ({model.selected + 1}/"
                         f"{model.instrument_count})")
                self.say(f"  {fleet_line(model)}")
            else:
                self.say("  one instrument: nothing to switch to")
        elif character in "fF":
            self.say(f"  {fleet_line(model) or 'no instruments yet'}")
        elif character in "?hH":
            for keys, action in TERMINAL_KEYS_HELP:
                self.say(f"  {keys:<12} {action}")
        elif character in "qQ":
            self.quit = True

    def _estop_key(self) -> None:
        controller = self.controller
        state = controller.estop_state()
        if state == EStopState.ENGAGING:
            self.say("  E-STOP is engaging: wait for it")
            return
        engage = state == EStopState.RELEASED
        now_s = time.monotonic()
        if self._estop_armed_s is None or now_s - self._estop_armed_s > ESTOP_CONFIRM_S:
            self._estop_armed_s = now_s
            self.say(f"  press Space again within {ESTOP_CONFIRM_S:g} s to {'ENGAGE' if engage else 'RELEASE'} "
                     "the E-STOP")
            return
        self._estop_armed_s = None
        sent = controller.estop(engage)
        self.say(f"  E-STOP {'engage' if engage else 'release'}: {'sent' if sent else 'not sent'}")

    def drawer_lines(self, number: int) -> list[str]:
        """A drawer's content as text: 1 orders, 2 research, 3 memory, 4 hull integrity."""
        model, stats = self.controller.model, self.controller.link.stats
        if number == 1:
            instrument = model.instrument_filter  # with several instruments, the selected one's orders
            working = [" ".join(order_cells(order, model.tick)) for order in model.blotter.working(instrument)]
            recent = [" ".join(order_cells(order, model.tick)) for order in model.blotter.recent(DRAWER_LINES,
                                                                                                   instrument)
                      if not order.working]
            return ["POSITION", *(text for text, _ in position_lines(model)), "WORKING", *(working or ["none"]),
                    "RECENT", *(recent or ["no orders yet"])]
        if number == 2:
            lines = [describe_event(result) for result in list(model.research)[-DRAWER_LINES:]]
            return ["RESEARCH", *(lines or ["no research results yet"])]
        if number == 3:
            latencies = stats.read_latencies()
            read = (f"read median {np.median(latencies) / 1e3:.1f} µs, p99 {np.percentile(latencies, 99) / 1e3:.1f} µs"
                    if len(latencies) else "no reads yet")
            return ["MEMORY", f"{read} over {len(latencies)} reads", f"events received {stats.events_received}, "
                    f"lost {model.events_lost}, undecodable {stats.events_undecodable}, truncated "
                    f"{stats.events_truncated}", f"attachments {stats.attachments}"
                    + (f", last error: {stats.last_error}" if stats.last_error else ""),
                    *([f"LLM, last hour: {llm_spend_text(model.snapshot)}",
                       *(f"  {role}: {spend}" for role, spend in llm_role_spend(model.snapshot)),
                       f"  calls: {llm_calls_text(model.snapshot)}"] if model.snapshot is not None else []),
                    *(f"  {layer} record: {record}" for layer, record in model_record_lines(model))]
        snapshot = model.snapshot
        if snapshot is None or model.status == LinkStatus.WAITING:
            return ["HULL INTEGRITY", "no engine state yet"]
        values = np.asarray(snapshot["risk_x"], np.float64)
        limits = np.asarray(snapshot["risk_limit"], np.float64)
        return ["HULL INTEGRITY", *(f"{dimension.name.lower():<14} {values[dimension]:+.4g} of limit "
                                    f"{limits[dimension]:.4g}" for dimension in HullDimension)]


def run_terminal_bridge(config: BridgeConfig) -> int:
    """The `sextant bridge --headless` process."""
    from sextant.bridge.app import interrupt_once

    keys = TerminalKeys()
    bridge = TerminalBridge(config, keys=keys)
    previous = signal.signal(signal.SIGINT, interrupt_once) if threading.current_thread() is \
        threading.main_thread() else None
    print("sextant bridge: in the terminal (no window, no GL)", flush=True)
    try:
        bridge.run(1.0 / config.tick_hz)
    except KeyboardInterrupt:
        pass
    finally:
        keys.close()
        bridge.controller.close()
        if previous is not None and signal.getsignal(signal.SIGINT) is interrupt_once:
            signal.signal(signal.SIGINT, previous)
    return 0

