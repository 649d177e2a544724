"""The bridge under test: one headless arcade window per session (arcade allows one per process), a fresh
BridgeView per test, and the stepped fixture process that writes its shared memory."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.fixtures.bridge_feed import clock_at

WIDTH, HEIGHT = 1280, 720
TICK_S = 1 / 60


class FeedProcess:
    """tests/fixtures/bridge_feed.py as its own process, stepped in lockstep with the bridge's frames."""

    def __init__(self, directory: Path, scene: str) -> None:
        self.context, self.events, self.commands = (directory / "context.mmap", directory / "events.mmap",
                                                    directory / "commands.mmap")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fixtures.bridge_feed", "--scene", scene, "--context", str(self.context),
             "--events", str(self.events)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
        assert self.process.stdout is not None and self.process.stdin is not None
        ready = self.process.stdout.readline().split()
        assert ready and ready[0] == "ready", f"feed did not start: {ready}"
        self.base_ns = int(ready[1])
        self.steps = 0

    def step(self, count: int = 1) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"step {count}\n")
        self.process.stdin.flush()
        self.steps = int(self.process.stdout.readline().split()[1])

    def clock(self) -> int:
        """The feed's virtual wall clock, which the bridge under test shares."""
        return clock_at(self.base_ns, self.steps) + 1_000_000

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("quit\n")
            self.process.stdin.flush()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture(scope="session")
def window():
    import arcade

    assert arcade.headless, "the bridge tests run headless (ARCADE_HEADLESS=1, set in tests/conftest.py)"
    window = arcade.Window(WIDTH, HEIGHT, "sextant-test", antialiasing=False, vsync=False, visible=False)
    yield window
    window.close()


@pytest.fixture
def feed_factory(tmp_path: Path) -> Iterator:
    feeds: list[FeedProcess] = []

    def start(scene: str = "calm", directory: Path | None = None) -> FeedProcess:
        feed = FeedProcess(directory or tmp_path, scene)
        feeds.append(feed)
        return feed

    yield start
    for feed in feeds:
        feed.stop()


@pytest.fixture
def bridge_factory(window, tmp_path: Path) -> Iterator:
    from sextant.bridge.config import BridgeConfig
    from sextant.bridge.view import BridgeView

    views: list[BridgeView] = []

    def make(clock, context: Path | None = None, events: Path | None = None,
             commands: Path | None = None, **config: object) -> BridgeView:
        settings = BridgeConfig(context_path=str(context or tmp_path / "context.mmap"),
                                events_path=str(events or tmp_path / "events.mmap"),
                                commands_path=str(commands or tmp_path / "commands.mmap"), width=WIDTH, height=HEIGHT,
                                fullscreen=False, history_s=120.0, reconnect_every_s=0.0, **config)
        view = BridgeView(settings, clock=clock)
        window.show_view(view)
        views.append(view)
        return view

    yield make
    for view in views:
        view.link.close()


def frame(window, view) -> None:
    """One frame with the fixed tick, no event loop: tick, draw, flip."""
    from pyglet.event import EventDispatcher

    EventDispatcher.dispatch_event(window, "on_fixed_update", TICK_S)
    view.on_draw()
    window.flip()


def run_frames(window, view, feed: FeedProcess | None, count: int) -> None:
    """`count` frames, the feed advancing one step (one second of engine time) before each."""
    for _ in range(count):
        if feed is not None:
            feed.step()
        frame(window, view)


def emit(window, event_type: str, *args: object) -> bool:
    """Deliver an input event through the window's handler stack, synchronously (docs/bridge.md#testing-the-bridge)."""
    from pyglet.event import EventDispatcher

    return bool(EventDispatcher.dispatch_event(window, event_type, *args))


def press(window, symbol: int) -> None:
    emit(window, "on_key_press", symbol, 0)
    emit(window, "on_key_release", symbol, 0)


def click(window, view, button_key: str) -> None:
    import arcade

    rect = view.painter.button_rect(button_key)
    assert rect is not None, f"no button {button_key!r} on screen; buttons: {[b.key for b in view.painter.buttons]}"
    x, y = int(rect.center_x), int(rect.center_y)
    emit(window, "on_mouse_motion", x, y, 0, 0)
    emit(window, "on_mouse_press", x, y, arcade.MOUSE_BUTTON_LEFT, 0)
    emit(window, "on_mouse_release", x, y, arcade.MOUSE_BUTTON_LEFT, 0)
