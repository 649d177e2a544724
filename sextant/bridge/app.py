"""`sextant bridge`: the window and its fixed-tick loop.

With a display, arcade's own loop runs the fixed tick (`fixed_rate`) and draws at the same rate. Headless
(`ARCADE_HEADLESS=1`, EGL, no X server) arcade's loop is a busy loop that never dispatches the fixed update
(docs/bridge.md#rendering), so the bridge paces its own loop at the tick rate. Either way each frame is: one
fixed tick (read the shared memory), one draw, then what the driver does after a draw (script, screenshot, the
console line), then the flip.

This module, like the whole bridge, imports nothing from sextant.engine or nautilus_trader: the bridge is its own
process and knows the engine only through the shared memory.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

from sextant.bridge.config import BridgeConfig
from sextant.bridge.headless import use_headless_gl
from sextant.bridge.pacing import FixedRate

SCREENSHOT_FRAMES = 120  # by default, `--screenshot` waits this many frames after the engine is seen
ATTACH_GRACE_S = 10.0  # and takes the shot anyway (showing WAITING) if no engine appears this long


class FrameDriver:
    """What happens after each draw: the input script, the screenshot, the console lines, and when to stop."""

    def __init__(self, window: object, view: object, *, frames: int | None, screenshot: Path | None,
                 script: object | None, console: bool) -> None:
        self.window = window
        self.view = view
        self.frames = frames
        self.screenshot = screenshot
        self.script = script
        self.console = console
        self.error: str | None = None
        self._seen_at_frame: int | None = None
        self._started = time.monotonic()
        self._last_status = 0.0
        self._drawn = 0
        self.stopped = False

    def stop(self) -> None:
        """End the loop after this frame (a close from inside arcade's own loop would pull the window from under
        its flip, so with a display the loop is asked to exit instead)."""
        import arcade

        self.stopped = True
        if arcade.headless:
            self.window.close()  # type: ignore[attr-defined]
        else:
            arcade.exit()

    def after_draw(self) -> None:
        from sextant.bridge.console import NOTABLE, describe_event, status_line
        from sextant.bridge.script import ScriptError
        from sextant.bridge.view import BridgeView

        view = self.view
        assert isinstance(view, BridgeView)
        self._drawn += 1
        if self._drawn == 1:
            print("sextant bridge: first frame", flush=True)
        if self.console:
            for event in view.last_events:
                if isinstance(event, NOTABLE):
                    print(f"  {describe_event(event)}", flush=True)
            if time.monotonic() - self._last_status >= 1.0:
                self._last_status = time.monotonic()
                print(status_line(view.model, time.time_ns()), flush=True)
        if self.script is not None:
            try:
                self.script.tick(view)  # type: ignore[attr-defined]
            except ScriptError as error:
                self.error = str(error)
                print(f"script: {error}", flush=True)
                self.stop()
                return
        if self._seen_at_frame is None and view.model.status.value in ("LIVE", "REPLAY"):
            self._seen_at_frame = self._drawn
        if self.screenshot is not None:
            wanted = self.frames or SCREENSHOT_FRAMES
            seen = self._seen_at_frame is not None and self._drawn - self._seen_at_frame >= wanted
            if seen or time.monotonic() - self._started > ATTACH_GRACE_S + wanted / view.config.tick_hz:
                view.screenshot(self.screenshot)
                print(f"sextant bridge: screenshot {self.screenshot} ({view.model.status.value})", flush=True)
                self.stop()
                return
        elif self.frames is not None and self._drawn >= self.frames:
            self.stop()


def interrupt_once(signum: int, frame: object) -> None:
    """Ctrl-C stops the bridge; a second one (a double press, or `sextant run` passing the stop on to its child)
    must not cut the cleanup short and turn a requested stop into a failure."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def run_bridge(config: BridgeConfig, *, headless: bool, frames: int | None = None, screenshot: Path | None = None,
               script_text: str | None = None, console: bool | None = None) -> int:
    if headless:
        use_headless_gl()  # read by arcade at import: nothing may import it before this line
    import arcade
    import pyglet
    from pyglet.event import EventDispatcher

    from sextant.bridge.script import ScriptRunner, parse_script
    from sextant.bridge.view import BridgeView

    if arcade.headless != headless:
        raise RuntimeError("arcade was imported before the bridge chose headless or windowed mode")
    steps = parse_script(script_text) if script_text else []
    tick = 1.0 / config.tick_hz
    window = arcade.Window(config.width, config.height, "Sextant", fullscreen=config.fullscreen and not headless,
                           antialiasing=config.antialiasing, update_rate=tick, draw_rate=tick, fixed_rate=tick,
                           vsync=False, visible=not headless, resizable=not headless)
    view = BridgeView(config)
    driver = FrameDriver(window, view, frames=frames, screenshot=screenshot,
                         script=None, console=headless if console is None else console)
    if steps:
        driver.script = ScriptRunner(steps, window, driver.stop)
    view.after_draw = driver.after_draw
    window.show_view(view)
    previous = signal.signal(signal.SIGINT, interrupt_once) if _main_thread() else None
    try:
        if not headless:
            arcade.run()
        else:
            pyglet.clock.unschedule(window._dispatch_frame)  # we own the loop; pyglet's clock must not draw too
            pacer = FixedRate(tick)
            while not window.closed:
                window.dispatch_events()
                EventDispatcher.dispatch_event(window, "on_fixed_update", tick)
                if window.closed:
                    break
                view.on_draw()
                if window.closed:
                    break
                window.flip()
                pacer.wait()
    except KeyboardInterrupt:
        pass
    finally:
        view.link.close()
        if not window.closed:
            window.close()
        if previous is not None and signal.getsignal(signal.SIGINT) is interrupt_once:
            signal.signal(signal.SIGINT, previous)  # not interrupted; after a Ctrl-C it stays ignored to the end
    if driver.error:
        return 1
    return 0
