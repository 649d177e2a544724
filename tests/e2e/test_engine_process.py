"""End to end across processes: `sextant engine` as its own process, a separate reader process on the shared
memory, a WebSocket client, and this test playing the bridge through the CommandRing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.sync.client import connect

from sextant.state import messages
from sextant.state.ring import CommandRingWriter
from tests.conftest import free_port

READER = """
import json, sys, time
from sextant.state.context import ContextReader
reader = ContextReader(sys.argv[1])
first = reader.snapshot()
time.sleep(3.0)
last = reader.snapshot()
print(json.dumps({"first_sequence": first.sequence, "last_sequence": last.sequence,
                  "first_quotes": int(first["quote_count"]), "last_quotes": int(last["quote_count"]),
                  "mid": float(last["mid"]), "stale": reader.is_stale(1.0), "checksum_ok": last.checksum_ok,
                  "writer_pid": reader.writer_pid}))
"""



@pytest.mark.slow
def test_engine_process_reader_process_websocket_and_approval(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEXTANT_", "OKX_"))}
    port = free_port()
    env.update(SEXTANT_CONTEXT_PATH=str(tmp_path / "context.mmap"), SEXTANT_EVENTS_PATH=str(tmp_path / "events.mmap"),
               SEXTANT_COMMANDS_PATH=str(tmp_path / "commands.mmap"), SEXTANT_WS_PORT=str(port),
               SEXTANT_COOLDOWN_SECS="0", SEXTANT_LLM_CONFIG=str(Path(__file__).parents[2] / "llm.toml"))
    log = tmp_path / "engine.log"
    with open(log, "w") as output:  # a file, not a pipe: an unread pipe would block the engine's logging
        engine = subprocess.Popen([sys.executable, "-m", "sextant.cli", "engine", "--speed", "10", "--duration",
                                   "60", "--autonomy", "MANUAL"], cwd=tmp_path, env=env, stdout=output,
                                  stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while f"ws://127.0.0.1:{port}/ws" not in log.read_text() and time.monotonic() < deadline:
            assert engine.poll() is None, log.read_text()
            time.sleep(0.1)
        assert "sextant engine: venue sim" in log.read_text()

        reader = subprocess.run([sys.executable, "-c", READER, str(tmp_path / "context.mmap")], env=env,
                                capture_output=True, text=True, timeout=60, check=True)
        seen = json.loads(reader.stdout)
        assert seen["writer_pid"] == engine.pid
        assert seen["last_sequence"] > seen["first_sequence"] and seen["last_quotes"] >= seen["first_quotes"] + 200
        assert seen["mid"] > 0 and not seen["stale"] and seen["checksum_ok"]

        commands = CommandRingWriter(tmp_path / "commands.mmap")  # the test is the bridge now
        frames: list[dict] = []
        approved: str | None = None
        deadline = time.monotonic() + 30
        with connect(f"ws://127.0.0.1:{port}/ws") as websocket:
            while time.monotonic() < deadline:
                try:
                    frame = json.loads(websocket.recv(timeout=1.0))
                except TimeoutError:
                    continue
                frames.append(frame)
                data = frame["data"]
                if frame["type"] == "IntentGenerated" and approved is None and data.get("requires_approval"):
                    approved = data["intent_id"]
                    # The captain takes the crew's idea but wants it now: modify to MARKET, then approve.
                    commands.publish(messages.Modify(command_id="m-1", intent_id=approved, style="MARKET"))
                    commands.publish(messages.Approve(command_id="a-1", intent_id=approved))
                answered = {f["data"]["command_id"] for f in frames if f["type"] == "CommandResult"}
                filled = any(f["type"] == "OrderFilled" and f["data"].get("intent_id") == approved for f in frames)
                if filled and {"m-1", "a-1"} <= answered:
                    break
        types = [(f["type"], f["data"].get("intent_id")) for f in frames]
        assert approved is not None, "the crew proposed nothing in 30 s"
        assert ("OrderSubmitted", approved) in types and ("OrderFilled", approved) in types
        results = {f["data"]["command_id"]: f["data"] for f in frames if f["type"] == "CommandResult"}
        assert results["m-1"]["applied"] and results["a-1"]["applied"]
        submitted = next(f["data"] for f in frames if f["type"] == "OrderSubmitted" and f["data"]["intent_id"] == approved)
        assert submitted["order_type"] == "MARKET"
    finally:
        engine.send_signal(signal.SIGINT)
        engine.wait(timeout=30)
    assert engine.returncode == 0, log.read_text()
    assert "stopped after" in log.read_text()
