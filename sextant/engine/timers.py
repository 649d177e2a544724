"""Timer callbacks on the engine's thread.

Nautilus' LiveClock (still in 1.231) fires timers on its own (Rust) threads and calls the Python callback there, not
on the event loop that runs every data and order handler. A Sextant timer touches what the quote path touches (the
EventRing's single writer, the ContextWindow record, pending intents, the strategy's submits), and the quote kernels
release the GIL: run concurrently, the two would interleave. `on_engine_thread` hands each call over to the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


def on_engine_thread(callback: Callable[[Any], None]) -> Callable[[Any], None]:
    """A timer callback that runs `callback` on the running event loop's thread (call from that thread, e.g. in
    on_start). Without a running loop (a BacktestEngine, whose test clock calls back on the engine's own thread in
    simulated-time order) `callback` itself is returned, so a sim stays deterministic."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return callback

    def hand_over(event: Any) -> None:
        try:
            loop.call_soon_threadsafe(callback, event)
        except RuntimeError:  # the loop has closed: the engine is gone, and so is the work
            pass

    return hand_over
