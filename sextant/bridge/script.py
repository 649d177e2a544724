"""Scripted input: drive a running bridge through its real input path, for end-to-end tests and demos.

A script is a list of lines, one step each; a step waits or acts, and the next starts when it is done:

    wait status LIVE [timeout_s]      the link badge shows this status
    wait card [timeout_s]             a card waits for a decision
    wait event TYPE [timeout_s]       the engine reported an event of this type since the script started
    wait seconds N                    let N seconds of frames pass
    key A                             a key press (A R M SPACE ESCAPE ENTER 1 2 3 4 TAB PAGEUP F2 ...)
    click card0:approve               a left click on the centre of the button drawn this frame under that key
                                      (a fleet cell is fleet:N, N the instrument's slot from 0)
    shot PATH                         a PNG of the current frame
    quit                              close the bridge

Keys and clicks go through the window's event dispatch, exactly where a real keyboard and mouse arrive.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import arcade
from pyglet.event import EventDispatcher

DEFAULT_TIMEOUT_S = 60.0


class ScriptError(Exception):
    """A script line is malformed, or a wait ran out of time."""


@dataclass(frozen=True, slots=True)
class Step:
    verb: str
    args: tuple[str, ...]
    line: int

    def timeout_s(self, position: int) -> float:
        return float(self.args[position]) if len(self.args) > position else DEFAULT_TIMEOUT_S


VERBS = {"wait", "key", "click", "shot", "quit"}


def parse_script(text: str) -> list[Step]:
    steps = []
    for number, raw in enumerate(text.splitlines(), 1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        verb, args = words[0].lower(), tuple(words[1:])
        if verb not in VERBS:
            raise ScriptError(f"line {number}: unknown step {verb!r}; use one of {', '.join(sorted(VERBS))}")
        if verb == "wait" and (not args or args[0] not in ("status", "card", "event", "seconds")):
            raise ScriptError(f"line {number}: wait what? use 'wait status S', 'wait card', 'wait event TYPE' or "
                              f"'wait seconds N'")
        if verb in ("key", "click", "shot") and len(args) != 1:
            raise ScriptError(f"line {number}: {verb} takes one argument")
        if verb == "key" and not hasattr(arcade.key, args[0].upper()) and not args[0].isdigit():
            raise ScriptError(f"line {number}: unknown key {args[0]!r}")
        steps.append(Step(verb, args, number))
    return steps


class ScriptRunner:
    def __init__(self, steps: list[Step], window: arcade.Window, stop: Callable[[], None]) -> None:
        self._steps = steps
        self._window = window
        self._stop = stop
        self._index = 0
        self._step_started = time.monotonic()
        self._events_at_start: dict[str, int] | None = None
        self.done = not steps

    def tick(self, view: object) -> None:
        """Advance as far as the current frame allows. Raises ScriptError when a wait times out."""
        from sextant.bridge.view import BridgeView

        assert isinstance(view, BridgeView)
        if self._events_at_start is None:
            self._events_at_start = dict(view.model.event_counts)
        while not self.done:
            step = self._steps[self._index]
            if not self._run(step, view):
                return
            print(f"script: line {step.line} done: {step.verb} {' '.join(step.args)}", flush=True)
            self._index += 1
            self._step_started = time.monotonic()
            self.done = self._index >= len(self._steps)
            if step.verb in ("key", "click"):
                return  # let a frame show what the input did before the next step looks at it

    def _run(self, step: Step, view: object) -> bool:
        from sextant.bridge.view import BridgeView

        assert isinstance(view, BridgeView)
        if step.verb == "wait":
            kind = step.args[0]
            if kind == "seconds":
                return time.monotonic() - self._step_started >= float(step.args[1])
            if kind == "status":
                ready = view.model.status.value == step.args[1].upper()
                timeout = step.timeout_s(2)
            elif kind == "card":
                ready = (card := view.model.top_card()) is not None and not card.pending_command
                timeout = step.timeout_s(1)
            else:
                name = step.args[1]
                assert self._events_at_start is not None
                ready = view.model.event_counts[name] > self._events_at_start.get(name, 0)
                timeout = step.timeout_s(2)
            if not ready and time.monotonic() - self._step_started > timeout:
                raise ScriptError(f"line {step.line}: {step.verb} {' '.join(step.args)} timed out after {timeout:g} s")
            return ready
        if step.verb == "key":
            name = step.args[0].upper()
            symbol = getattr(arcade.key, f"KEY_{name}") if name.isdigit() else getattr(arcade.key, name)
            EventDispatcher.dispatch_event(self._window, "on_key_press", symbol, 0)
            EventDispatcher.dispatch_event(self._window, "on_key_release", symbol, 0)
            return True
        if step.verb == "click":
            rect = view.painter.button_rect(step.args[0])
            if rect is None:
                raise ScriptError(f"line {step.line}: no button {step.args[0]!r} on screen")
            x, y = int(rect.center_x), int(rect.center_y)
            EventDispatcher.dispatch_event(self._window, "on_mouse_motion", x, y, 0, 0)
            EventDispatcher.dispatch_event(self._window, "on_mouse_press", x, y, arcade.MOUSE_BUTTON_LEFT, 0)
            EventDispatcher.dispatch_event(self._window, "on_mouse_release", x, y, arcade.MOUSE_BUTTON_LEFT, 0)
            return True
        if step.verb == "shot":
            view.screenshot(Path(step.args[0]))
            return True
        self._stop()
        return True
