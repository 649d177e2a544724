"""`sextant run`: start the engine process and show it.

The engine runs as a child process (`sextant engine`); this process watches the shared memory, as the bridge will.
The bridge (issue #5) is not built yet, so every run is headless: a status line per second from the ContextWindow
and a line per notable event from the EventRing. Ctrl-C (or the engine ending) stops both cleanly.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from sextant.config import SextantConfig
from sextant.state import messages
from sextant.state.context import ContextReader, crew_lines
from sextant.state.ring import EventRingReader
from sextant.state.shm import StateFileError

_NOTABLE = (messages.IntentGenerated, messages.IntentApproved, messages.IntentRejected, messages.IntentExpired,
            messages.OrderSubmitted, messages.OrderFilled, messages.OrderRejected, messages.OrderCanceled,
            messages.EStopChanged, messages.AutonomyChanged, messages.CommandResult, messages.RiskAlert,
            messages.Veto)


def describe_event(event: messages.Event) -> str:
    """One human line per event."""
    if isinstance(event, messages.IntentGenerated):
        wait = "waits for approval" if event.requires_approval else "auto"
        return f"intent {event.intent_id} by {event.agent}: {event.title} — {event.plan} ({wait})"
    if isinstance(event, messages.OrderSubmitted):
        price = f" @ {event.price:.1f}" if event.price is not None else ""
        dry = " [dry run]" if event.dry_run else ""
        return f"order {event.side} {event.quantity:g} {event.order_type} {event.time_in_force}{price}{dry}"
    if isinstance(event, messages.OrderFilled):
        return (f"fill {event.side} {event.fill_quantity:g} @ {event.fill_price:.1f} {event.liquidity} "
                f"slippage {event.slippage_bps:+.1f} bps, position {event.position_after:+g}")
    fields = " ".join(f"{k}={v}" for k, v in messages.msgspec.structs.asdict(event).items() if v not in (None, ""))
    return f"{type(event).__name__} {fields}"


def _status(reader: ContextReader) -> str:
    snapshot = reader.snapshot()
    record = snapshot.record
    state = "STALE" if reader.is_stale(1.0) else "LIVE"
    position = float(record["position_size"])
    crew = "; ".join(f"{agent.lower()}: {task}" for agent, _, task in crew_lines(snapshot))
    return (f"[{state}] {snapshot.instrument} mid {float(record['mid']):,.1f} spread {float(record['spread_bps']):.2f}bps"
            f" sea {float(record['sea_state']):.2f} | pos {position:+g} uPnL {float(record['unrealized_pnl']):+.2f}"
            f" rPnL {float(record['realized_pnl']):+.2f} equity {float(record['equity']):,.2f} | {crew}")


def run(config: SextantConfig, engine_args: list[str], config_file: str | None) -> int:
    print("sextant run: no bridge yet (issue #5), so this run is headless: engine + a status line per second.",
          flush=True)
    command = [sys.executable, "-m", "sextant.cli", *(["--config", config_file] if config_file else []), "engine",
               *engine_args]
    engine = subprocess.Popen(command)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        reader, events = _attach(config, engine)
        last_status = 0.0
        while engine.poll() is None and not stopping:
            if events is not None:
                for received in events.drain():
                    if isinstance(received.message, _NOTABLE):
                        print(f"  {describe_event(received.message)}", flush=True)
                if events.lost:
                    print(f"  ({events.lost} events lost: this monitor fell behind)", flush=True)
            if reader is not None and time.monotonic() - last_status >= 1.0:
                last_status = time.monotonic()
                print(_status(reader), flush=True)
            time.sleep(0.05)
    finally:
        signal.signal(signal.SIGINT, previous)
        if engine.poll() is None:
            engine.send_signal(signal.SIGINT)
            try:
                engine.wait(timeout=15)
            except subprocess.TimeoutExpired:
                engine.kill()
    return 0 if engine.returncode in (0, -signal.SIGINT) else 1


def _attach(config: SextantConfig, engine: subprocess.Popen) -> tuple[ContextReader | None, EventRingReader | None]:
    """Wait for the engine's files (the engine creates them at start), then open them read-only."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and engine.poll() is None:
        try:
            reader = ContextReader(config.context_path)
            events = EventRingReader(config.events_path, start="oldest")
            if reader.writer_pid == engine.pid and events.writer_pid == engine.pid:  # not stale earlier-run files
                return reader, events
            reader.close()
            events.close()
        except StateFileError:
            pass
        time.sleep(0.1)
    return None, None
