"""Timers run on the engine's thread: Nautilus' LiveClock (1.231) calls timer callbacks on its own threads, and the
StateEncoder's heartbeat and the SwarmStrategy's command poll must not run beside the quote path (they share the
EventRing's single writer, the record and the pending intents)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from sextant.state import messages
from sextant.state.bus import EventPublished, TimerTick
from tests.engine.conftest import engine_config, run_engine


@pytest.mark.slow
def test_the_heartbeat_and_the_command_poll_run_on_the_event_loop_thread(tmp_path: Path) -> None:
    loop_thread: list[int] = []
    poll_threads: set[int] = set()
    heartbeat_threads: set[int] = set()

    def schedule(parts: Any, loop: asyncio.AbstractEventLoop) -> None:
        loop_thread.append(threading.get_ident())
        parts.bus.subscribe(TimerTick, lambda tick: poll_threads.add(threading.get_ident()))

        def on_event(published: EventPublished) -> None:
            if isinstance(published.event, messages.Heartbeat):
                heartbeat_threads.add(threading.get_ident())

        parts.bus.subscribe(EventPublished, on_event)

    run_engine(engine_config(tmp_path, duration_s=2.5), schedule)
    assert poll_threads and heartbeat_threads  # both timers fired
    assert poll_threads == heartbeat_threads == set(loop_thread)
