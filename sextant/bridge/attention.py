"""A card's arrival, said beyond the window: a short chime, and the window's urgency hint (the task bar entry
flashes until the captain looks). The flash on the card itself is drawn by the cards panel.

Both are best effort by nature: a machine without an audio device plays nothing, a window manager may ignore the
hint. Neither is ever an error; off screen (headless) there is no one to hear or see them, so nothing is tried.
"""

from __future__ import annotations

import io
import sys
import wave
from typing import Any

import numpy as np

CHIME_RATE = 22_050
CHIME_NOTES_HZ = (880.0, 1318.5)  # A5 then E6: rising, short, unlike an alarm
CHIME_NOTE_S = 0.12
CHIME_VOLUME = 0.35


def chime_wav() -> bytes:
    """The chime as a 16-bit mono WAV: each note a sine with a quick attack and an exponential decay."""
    samples = int(CHIME_RATE * CHIME_NOTE_S)
    t = np.arange(samples) / CHIME_RATE
    envelope = np.minimum(1.0, t / 0.005) * np.exp(-t * 18.0)
    wave_data = np.concatenate([np.sin(2 * np.pi * hz * t) * envelope for hz in CHIME_NOTES_HZ])
    pcm = (wave_data * CHIME_VOLUME * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(CHIME_RATE)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


class Attention:
    def __init__(self, window: Any, *, sound: bool, headless: bool) -> None:
        self._window = window
        self._enabled = not headless
        self._sound_wanted = sound and not headless
        self._sound: Any = None  # loaded at the first card: the audio driver starts only when there is one
        self._urgent = False
        self.announced = 0

    def announce(self, arrivals: int, *, audible: bool = True) -> None:
        """New cards, `arrivals` in all so far: chime, and ask for the captain's attention."""
        self.announced = arrivals
        if not self._enabled or not audible:
            return
        if self._sound_wanted:
            self._play_chime()
        self._set_urgent(True)

    def settle(self) -> None:
        """No card waits any more: the hint goes."""
        if self._urgent:
            self._set_urgent(False)

    def _play_chime(self) -> None:
        try:
            if self._sound is None:
                import pyglet

                self._sound = pyglet.media.load("chime.wav", file=io.BytesIO(chime_wav()), streaming=False)
            self._sound.play()
        except Exception as error:  # noqa: BLE001 - no audio device, no driver: the bridge goes on silently
            print(f"sextant bridge: no sound ({type(error).__name__}: {error}); cards still flash", flush=True)
            self._sound_wanted = False

    def _set_urgent(self, urgent: bool) -> None:
        self._urgent = urgent
        try:
            if sys.platform.startswith("linux") and getattr(self._window, "_x_display", None):
                _set_x11_urgency(self._window, urgent)
            elif sys.platform == "win32" and urgent:
                self._window.activate()  # on Windows this flashes the task bar entry rather than take focus
        except Exception:  # noqa: BLE001 - a hint the window system refused is not the bridge's failure
            pass


def _set_x11_urgency(window: Any, urgent: bool) -> None:
    """ICCCM's XUrgencyHint in WM_HINTS: window managers flash or mark the window until it is focused."""
    from pyglet.libs.x11 import xlib

    display, handle = window._x_display, window._window
    hints = xlib.XGetWMHints(display, handle)
    if not hints:  # none set yet
        hints = xlib.XAllocWMHints()
    if urgent:
        hints.contents.flags |= xlib.XUrgencyHint
    else:
        hints.contents.flags &= ~xlib.XUrgencyHint
    xlib.XSetWMHints(display, handle, hints)
    xlib.XFree(hints)
    xlib.XFlush(display)
