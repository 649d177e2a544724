"""`sextant sim` on markets a user imported: real FX and equity bars, traded at the instrument's own tick and fees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sextant.engine.config import EngineConfig
from sextant.engine.sim import catalog_data, run_sim
from sextant.market.importer import InstrumentTerms, import_data
from tests.fixtures.public_data import public_csv


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("catalog")
    import_data(public_csv("EURUSD.csv"), path, InstrumentTerms(taker_fee=0.00002, maker_fee=0.00001))
    import_data(public_csv("GOOG.csv"), path, InstrumentTerms(instrument_id="GOOG.NASDAQ", kind="equity",
                                                              taker_fee=0.0005))
    return path


def fills(out: Path) -> list[dict]:
    frames = (json.loads(line) for line in (out / "events.jsonl").read_text().splitlines())
    return [frame["data"] for frame in frames if frame["type"] == "OrderFilled"]


@pytest.mark.parametrize(("instrument_id", "tick", "fees"), [
    ("EURUSD.SIM", 0.00001, {"TAKER": 0.00002, "MAKER": 0.00001}),
    ("GOOG.NASDAQ", 0.01, {"TAKER": 0.0005, "MAKER": 0.0}),
])
def test_fills_are_at_the_instruments_tick_and_pay_its_fees(catalog: Path, tmp_path: Path, instrument_id: str,
                                                            tick: float, fees: dict[str, float]) -> None:
    instrument, data = catalog_data(catalog, instrument_id)
    summary = run_sim(EngineConfig(), data, tmp_path, record=False, instrument=instrument)
    assert summary.data_kind == "bars" and summary.currency == "USD" and summary.instrument == instrument_id
    filled = fills(tmp_path)
    assert len(filled) > 20 and {f["instrument"] for f in filled} == {instrument_id}
    for fill in filled:
        assert abs(fill["fill_price"] / tick - round(fill["fill_price"] / tick)) < 1e-6
        expected = fill["fill_quantity"] * fill["fill_price"] * fees[fill["liquidity"]]
        assert fill["commission"] == pytest.approx(expected, abs=0.006)  # USD is charged in cents
    assert any(f["commission"] > 0 for f in filled)
    # sized in the instrument's own units: 1 % of the 100,000 balance at the first price, in whole lots
    first_close = data[0].close.as_double()
    assert summary.base_size == round(1_000 / first_close)


@pytest.mark.slow
def test_the_same_seed_gives_the_same_event_log_on_imported_bars(catalog: Path, tmp_path: Path) -> None:
    instrument, data = catalog_data(catalog, "EURUSD.SIM")
    runs = [run_sim(EngineConfig(seed=9), data, tmp_path / str(n), record=False, instrument=instrument) for n in range(2)]
    assert runs[0].event_log_sha256 == runs[1].event_log_sha256 and runs[0].fills > 0


def test_a_market_of_trades_is_traded_on_nautilus_trade_execution(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(3)
    price = np.round(250 + np.cumsum(rng.normal(0, 0.2, 4_000)), 2)
    lines = [f"{1_700_000_000 + n},{p:.2f},{rng.uniform(1, 50):.0f},{'buy' if n % 2 else 'sell'}"
             for n, p in enumerate(price)]
    (tmp_path / "trades.csv").write_text("ts,price,qty,side\n" + "\n".join(lines) + "\n")
    import_data(tmp_path / "trades.csv", tmp_path / "catalog", InstrumentTerms(
        instrument_id="SOL-USD.SIM", kind="spot", taker_fee=0.001))
    instrument, data = catalog_data(tmp_path / "catalog")
    summary = run_sim(EngineConfig(), data, tmp_path / "out", record=False, instrument=instrument)
    assert summary.data_kind == "trades" and summary.fills > 0
    assert all(f["commission"] > 0 for f in fills(tmp_path / "out") if f["liquidity"] == "TAKER")
