"""Recording and replay: a 30 s sim run records a scene; the replay writes it back into the shared memory, and
what a reader sees there is the recorded ContextWindow stream, field by field, and the recorded events."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

from sextant.replay.format import SceneError, read_context, read_metadata, read_table, table_path
from sextant.replay.player import ScenePlayer
from sextant.state import messages
from sextant.state.context import ContextReader
from sextant.state.ring import EventRingReader
from tests.conftest import REPO_ROOT, free_port

# Fields a replay legitimately rewrites: the commit's own bookkeeping, and the flag that says "replay".
REWRITTEN = {"checksum", "write_seq", "wall_ns", "replay"}


@pytest.fixture(scope="module")
def recorded_scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("record")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEXTANT_", "OKX_"))}
    env.update(SEXTANT_WS_PORT=str(free_port()), SEXTANT_COOLDOWN_SECS="0", SEXTANT_RECORD_DIR="recordings",
               SEXTANT_TRUST_DIR="",  # AUTO without the reputation ceiling (unrated agents start in Manual)
               SEXTANT_LLM_CONFIG=str(REPO_ROOT / "llm.toml"))
    result = subprocess.run([sys.executable, "-m", "sextant.cli", "engine", "--duration", "30", "--speed", "10",
                             "--autonomy", "AUTO"], cwd=directory, env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    scenes = list((directory / "recordings").iterdir())
    assert len(scenes) == 1
    return scenes[0]


@pytest.mark.slow
def test_a_sim_run_records_a_complete_scene(recorded_scene: Path) -> None:
    metadata = read_metadata(recorded_scene)
    assert metadata["seed"] == 42 and metadata["venue"] == "sim" and metadata["instrument"] == "BTC-USDT-SWAP.OKX"
    assert metadata["nautilus_trader_version"] == version("nautilus_trader")
    assert "okx_api_key" not in str(metadata) and "secret" not in str(metadata).lower()
    quotes = read_table(recorded_scene, "quotes")
    assert quotes.num_rows >= 2500, "10 quotes a second × 10× speed × 30 s, less the start-up"
    assert metadata["rows"]["quotes"] == quotes.num_rows
    context = read_context(recorded_scene)
    assert len(context.records) >= 400, "snapshots at up to 20 Hz"
    assert np.all(np.diff(context.wall_ns.astype(np.int64)) > 0)
    kinds = {messages.TYPES_BY_KIND[k].__name__ for k in read_table(recorded_scene, "events").column("kind").to_pylist()}
    assert {"Heartbeat", "IntentGenerated", "OrderSubmitted", "OrderFilled"} <= kinds


@pytest.mark.slow
def test_replay_writes_back_the_recorded_context_stream_field_by_field(recorded_scene: Path, tmp_path: Path) -> None:
    recorded = read_context(recorded_scene)
    player = ScenePlayer(recorded_scene, tmp_path / "c.mmap", tmp_path / "e.mmap")
    reader = ContextReader(tmp_path / "c.mmap")
    events = EventRingReader(tmp_path / "e.mmap", start="oldest")
    usable = recorded.instrument(0)[recorded.ts_ns > 0]  # the fields compared are the account's and slot 0's
    compared = 0
    received: list[bytes] = []
    for index in range(len(usable)):
        if index:
            player.step(1)
        snapshot = reader.snapshot()
        assert int(snapshot["replay"]) == 1
        for name in usable.dtype.names:
            if name not in REWRITTEN:
                assert np.array_equal(snapshot[name], usable[index][name]), f"snapshot {index}: field {name}"
        assert snapshot.checksum_ok
        compared += 1
        received += [messages.encode(m.message) for m in events.drain() if
                     m.message is not None and not isinstance(m.message, messages.ReplayStatus | messages.CommandResult)]
    assert compared == len(usable) >= 400
    table = read_table(recorded_scene, "events")
    last_ts = int(recorded.ts_ns[recorded.ts_ns > 0][-1])
    expected = [payload for payload, ts in zip(table.column("payload").to_pylist(), table.column("ts_ns").to_pylist(),
                                               strict=True) if ts <= last_ts]
    assert received == expected, "every recorded event, in order, up to the last snapshot"
    player.close()


@pytest.mark.slow
def test_replay_renders_headless_frames(recorded_scene: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEXTANT_")}
    env.update(SEXTANT_CONTEXT_PATH=str(tmp_path / "c.mmap"), SEXTANT_EVENTS_PATH=str(tmp_path / "e.mmap"),
               SEXTANT_COMMANDS_PATH=str(tmp_path / "k.mmap"))
    result = subprocess.run([sys.executable, "-m", "sextant.cli", "replay", str(recorded_scene), "--headless",
                             "--frames", "90", "--every", "30", "--speed", "4", "--size", "1280x720", "--out",
                             str(tmp_path / "frames")], env=env, capture_output=True, text=True, timeout=120,
                            cwd=REPO_ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [
        "frame_00001.png", "frame_00031.png", "frame_00061.png", "frame_00090.png"]


def test_a_torn_last_batch_loses_only_that_batch(tmp_path: Path) -> None:
    import pyarrow as pa

    from sextant.replay.format import EVENTS_SCHEMA

    path = table_path(tmp_path, "events")
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, EVENTS_SCHEMA) as writer:
        for start in (0, 10):
            writer.write_batch(pa.record_batch([pa.array(range(start, start + 10), pa.uint64()),
                                                pa.array([5] * 10, pa.uint64()), pa.array([18] * 10, pa.uint16()),
                                                pa.array([b"x"] * 10, pa.binary())], schema=EVENTS_SCHEMA))
    whole = path.read_bytes()
    path.write_bytes(whole[:-40])  # the process died while writing the second batch
    assert read_table(tmp_path, "events").column("seq").to_pylist() == list(range(10))


def test_a_folder_that_is_not_a_scene_gets_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SceneError, match="metadata.json: missing"):
        read_metadata(tmp_path)
    (tmp_path / "metadata.json").write_text("{not json")
    with pytest.raises(SceneError, match="not valid JSON"):
        read_metadata(tmp_path)
    (tmp_path / "metadata.json").write_text('{"format": "something-else"}')
    with pytest.raises(SceneError, match="expected 'sextant-scene'"):
        read_metadata(tmp_path)


@pytest.mark.slow
def test_a_killed_engine_loses_at_most_the_last_second_of_its_scene(tmp_path: Path) -> None:
    import signal
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEXTANT_", "OKX_"))}
    env.update(SEXTANT_WS_PORT=str(free_port()), SEXTANT_RECORD_DIR="recordings",
               SEXTANT_LLM_CONFIG=str(REPO_ROOT / "llm.toml"))
    log = tmp_path / "engine.log"
    with open(log, "w") as output:
        engine = subprocess.Popen([sys.executable, "-m", "sextant.cli", "engine", "--speed", "10", "--duration", "60"],
                                  cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while "recording" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(6.0)
    killed_ns = time.time_ns()
    engine.send_signal(signal.SIGKILL)  # no chance to flush or close anything
    engine.wait(timeout=10)
    scene = next((tmp_path / "recordings").iterdir())
    quotes = read_table(scene, "quotes")
    assert quotes.num_rows > 100
    last_ns = int(quotes.column("ts_event").to_numpy()[-1])
    assert killed_ns - last_ns <= 2_000_000_000, "at most the last second (one flush period) plus scheduling slack"
    assert len(read_context(scene).records) > 50


def test_a_scene_of_hourly_bars_replays_a_bar_a_second_and_a_quote_scene_in_real_time(
        tmp_path: Path) -> None:
    from sextant.engine.config import EngineConfig
    from sextant.engine.sim import catalog_data, run_sim
    from sextant.market.importer import InstrumentTerms, import_data
    from tests.fixtures.public_data import public_csv

    import_data(public_csv("EURUSD.csv"), tmp_path / "catalog", InstrumentTerms())
    instrument, data = catalog_data(tmp_path / "catalog")
    run_sim(EngineConfig(), data[:300], tmp_path / "sim", instrument=instrument)
    bars = ScenePlayer(tmp_path / "sim" / "scene", tmp_path / "c.mmap", tmp_path / "e.mmap")
    assert bars.time_scale == 3600  # one snapshot an hour: a bar a second at 1×
    bars.advance(1.0)
    assert bars.position_ns == 3_600_000_000_000
    quotes = ScenePlayer(REPO_ROOT / "scenes" / "chop", tmp_path / "c2.mmap", tmp_path / "e2.mmap")
    assert quotes.time_scale == 1.0
