"""A portfolio: three correlated OKX swaps in one `sextant sim`, a crew on each, one account and one risk field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sextant.engine.config import EngineConfig
from sextant.engine.sim import SimSummary, portfolio_quotes, run_sim
from sextant.replay.format import read_context
from sextant.replay.player import ScenePlayer
from sextant.state.context import ContextReader
from sextant.state.layout import HullDimension

STEPS = 6_000  # 10 simulated minutes of three instruments
INSTRUMENTS = ["BTC-USDT-SWAP.OKX", "ETH-USDT-SWAP.OKX", "SOL-USDT-SWAP.OKX"]


def sim(out: Path, *, record: bool = True, estop_at_s: float | None = None, seed: int = 42) -> SimSummary:
    config = EngineConfig(seed=seed)
    instruments, quotes = portfolio_quotes(config, STEPS)
    return run_sim(config, quotes, out, record=record, portfolio=instruments, estop_at_s=estop_at_s)


def account_history(scene: Path) -> tuple[np.ndarray, np.ndarray]:
    """(seconds from the start, whole records) of a recorded sim's ContextWindow."""
    rows = read_context(scene)
    return (rows.ts_ns - rows.ts_ns[0]) / 1e9, rows.records


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[SimSummary, Path]:
    out = tmp_path_factory.mktemp("portfolio")
    return sim(out), out


def test_every_instrument_trades_with_its_own_base_size(recorded: tuple[SimSummary, Path]) -> None:
    summary, _ = recorded
    assert [each["instrument"] for each in summary.instruments] == INSTRUMENTS
    for each in summary.instruments:
        assert each["trades"] > 0 and each["fills"] > 0, each
    # 1 % of the 100,000 USDT balance at each first price, in whole lots: 1.67 × 0.01 BTC, 3.33 × 0.1 ETH, 6.67 SOL
    assert [each["base_size"] for each in summary.instruments] == [1.67, 3.33, 6.67]


def test_the_hull_reads_the_portfolio_and_its_gauges_move(recorded: tuple[SimSummary, Path]) -> None:
    _, out = recorded
    _, records = account_history(out / "scene")
    net_delta, concentration = records["net_delta"], records["risk_x"][:, HullDimension.CONCENTRATION]
    assert len(np.unique(np.round(net_delta, 2))) > 50 and np.ptp(net_delta) > 1_000  # USDT
    assert len(np.unique(np.round(concentration, 6))) > 20 and concentration.max() > 0
    assert (records["risk_applicable"][:, HullDimension.CONCENTRATION] == 1).all()
    slots = records["instruments"][:, :3]
    # the account is its instruments' sum: net delta is the signed notional, leverage the gross over equity
    signed = (slots["position_size"] * slots["multiplier"] * slots["mid"]).sum(axis=1)
    np.testing.assert_allclose(net_delta, signed, rtol=1e-9, atol=1e-6)
    gross = slots["position_notional"].sum(axis=1)
    np.testing.assert_allclose(records["leverage"], gross / records["equity"], rtol=1e-9)
    np.testing.assert_allclose(concentration, slots["position_notional"].max(axis=1) / records["equity"], rtol=1e-9)
    # each instrument carries its own delta term once there are two or more
    assert (slots["delta_limit"] > 0).all() and slots["delta_potential"].max() > 0


def test_the_same_seed_gives_the_same_event_log(recorded: tuple[SimSummary, Path], tmp_path: Path) -> None:
    summary, _ = recorded
    again = sim(tmp_path, record=False)
    assert again.event_log_sha256 == summary.event_log_sha256 and again.events == summary.events
    assert sim(tmp_path / "other", record=False, seed=7).event_log_sha256 != summary.event_log_sha256


def test_an_e_stop_flattens_all_three_and_halts(recorded: tuple[SimSummary, Path], tmp_path: Path) -> None:
    _, out = recorded
    seconds, records = account_history(out / "scene")
    open_on_all = (records["instruments"]["position_size"][:, :3] != 0).all(axis=1)
    assert open_on_all.any(), "the crews never held all three at once"
    drill_at = float(seconds[np.argmax(open_on_all)]) + 0.5
    summary = sim(tmp_path, estop_at_s=drill_at)
    assert summary.estop == "ENGAGED"
    assert [each["final_position"] for each in summary.instruments] == [0.0, 0.0, 0.0]
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    engaging = next(e for e in events if e["type"] == "EStopChanged" and e["data"]["state"] == "ENGAGING")
    engaged = next(e for e in events if e["type"] == "EStopChanged" and e["data"]["state"] == "ENGAGED")
    assert engaged["data"]["trading_state"] == "HALTED"
    closed = {e["data"]["instrument"] for e in events
              if e["type"] == "OrderFilled" and engaging["seq"] < e["seq"] < engaged["seq"]}
    assert closed == set(INSTRUMENTS), "each instrument's position was closed by the E-stop"
    after = [e for e in events if e["seq"] > engaged["seq"] and e["type"] in ("IntentApproved", "OrderSubmitted")]
    assert after == [], "nothing trades once halted"


def test_a_replay_of_the_portfolio_shows_every_instrument(recorded: tuple[SimSummary, Path], tmp_path: Path) -> None:
    """The replay writes each recorded record back whole: every instrument's slot, not only the first's."""
    _, out = recorded
    player = ScenePlayer(out / "scene", tmp_path / "c.mmap", tmp_path / "e.mmap")
    player.step(500)
    snapshot = ContextReader(tmp_path / "c.mmap").snapshot()
    assert snapshot.instruments == INSTRUMENTS
    assert all(float(snapshot.at(slot)["mid"]) > 0 for slot in range(3))
    assert snapshot.checksum_ok and int(snapshot["replay"]) == 1
    player.close()
