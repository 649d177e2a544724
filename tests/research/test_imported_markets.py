"""Research on a market a user imported: Nautilus fills at the instrument's prices and fees, bars executed as bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sextant.market.importer import InstrumentTerms, import_data
from sextant.research.backtest import WindowBacktester
from sextant.research.config import ResearchConfig
from sextant.research.data import Quotes, catalog_quotes, walk_forward
from sextant.research.evaluate import InlineExecutor, Task
from sextant.research.hypothesis import baseline
from sextant.research.ledger import Ledger
from sextant.research.ratchet import Ratchet
from tests.fixtures.public_data import public_csv


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("catalog")
    import_data(public_csv("EURUSD.csv"), path, InstrumentTerms(taker_fee=0.00002))
    import_data(public_csv("GOOG.csv"), path, InstrumentTerms(instrument_id="GOOG.NASDAQ", kind="equity",
                                                              taker_fee=0.0005))
    return path


@pytest.mark.parametrize(("instrument_id", "tick", "fee", "size"), [
    ("EURUSD.SIM", 0.00001, 0.00002, 1_000.0), ("GOOG.NASDAQ", 0.01, 0.0005, 10.0)])
def test_a_target_path_fills_at_the_instruments_prices_and_fees(catalog: Path, instrument_id: str, tick: float,
                                                                fee: float, size: float) -> None:
    quotes = catalog_quotes(catalog, instrument_id)
    assert quotes.bars is not None and quotes.bar_type and str(quotes.market_instrument().id) == instrument_id
    window = walk_forward(quotes, 3, 0.25).selection[0]
    backtester = WindowBacktester(window)
    targets = np.where(np.arange(len(backtester.features.close)) // 20 % 2 == 0, 1.0, -1.0)
    fills = backtester.run(targets, size)
    backtester.dispose()
    assert len(fills.price) > 10
    assert np.all(np.abs(fills.price / tick - np.round(fills.price / tick)) < 1e-6)
    assert np.allclose(fills.commission, np.abs(fills.quantity) * fills.price * fee, atol=0.006)
    # every fill is at a price the window's bars traded at (bar execution: no synthesised spread is paid)
    opens, highs, lows, closes, _ = window.bars  # type: ignore[misc]
    assert np.all((fills.price >= lows.min()) & (fills.price <= highs.max()))


def test_a_catalog_market_and_the_same_data_of_another_instrument_are_different_ledgers(catalog: Path) -> None:
    eur = catalog_quotes(catalog, "EURUSD.SIM")
    assert eur.fingerprint() != catalog_quotes(catalog, "GOOG.NASDAQ").fingerprint()
    assert eur.fingerprint() == catalog_quotes(catalog, "EURUSD.SIM").fingerprint()


def test_a_market_of_trades_fills_on_its_trades(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    price = np.round(250 + np.cumsum(rng.normal(0, 0.2, 3_000)), 2)
    lines = [f"{1_700_000_000 + n},{p:.2f},{rng.uniform(1, 50):.0f}" for n, p in enumerate(price)]
    (tmp_path / "trades.csv").write_text("ts,price,qty\n" + "\n".join(lines) + "\n")
    import_data(tmp_path / "trades.csv", tmp_path / "catalog", InstrumentTerms(
        instrument_id="SOL-USD.SIM", kind="spot", taker_fee=0.001))
    quotes = catalog_quotes(tmp_path / "catalog")
    assert quotes.trades is not None and quotes.bars is None
    backtester = WindowBacktester(quotes)
    targets = np.where(np.arange(len(backtester.features.close)) // 30 % 2 == 0, 1.0, -1.0)
    fills = backtester.run(targets, 4.0)
    backtester.dispose()
    assert len(fills.price) > 10
    # at the traded prices, or a tick beyond where an order outgrew a trade's size (Nautilus' L1 from trades)
    nearest = np.min(np.abs(fills.price[:, None] - price[None, :]), axis=1)
    assert np.all(nearest <= 0.01 + 1e-9) and np.all(np.abs(fills.price * 100 - np.round(fills.price * 100)) < 1e-6)
    assert np.allclose(fills.commission, np.abs(fills.quantity) * fills.price * 0.001, atol=0.006)


def test_a_scene_of_prices_the_instrument_cannot_quote_is_refused_not_misfilled(tmp_path: Path) -> None:
    """Hourly FX mids converted by hand into a scene read as BTC-USDT-SWAP (tick 0.1): every order would fill at
    exactly 1.1 while equity is marked at the real mids. Research and the sim refuse it, saying what to do."""
    import shutil

    import pyarrow as pa

    from sextant.config import ConfigError
    from sextant.engine.config import EngineConfig
    from sextant.engine.sim import scene_quotes as sim_scene_quotes
    from sextant.replay.format import SceneError, read_table, table_path
    from sextant.research.command import load_quotes

    scene = tmp_path / "fx-scene"
    shutil.copytree(Path(__file__).resolve().parents[2] / "scenes" / "chop", scene)
    table = read_table(scene, "quotes")
    fx = table.set_column(table.schema.get_field_index("bid"), "bid", pa.array(np.full(len(table), 1.07219)))
    fx = fx.set_column(fx.schema.get_field_index("ask"), "ask", pa.array(np.full(len(table), 1.07221)))
    with pa.ipc.new_stream(str(table_path(scene, "quotes")), fx.schema) as out:
        out.write_table(fx)
    with pytest.raises(ConfigError, match=r"row 1: bid 1.07219 is not on BTC-USDT-SWAP.OKX's tick 0.1: import"):
        load_quotes(str(scene), None, 7)
    with pytest.raises(SceneError, match=r"is not on BTC-USDT-SWAP.OKX's tick 0.1"):
        sim_scene_quotes(EngineConfig(), scene)


# ------------------------------------------------------------------------------------- time in the data's units


def quotes_at_each_close(catalog: Path, instrument_id: str, terms: InstrumentTerms, folder: Path) -> Quotes:
    """The same market as quotes: a file of the book at each bar's close (what research ranks bars on), imported as
    a user would import quotes."""
    bars = catalog_quotes(catalog, instrument_id)
    decimals = bars.market_instrument().price_precision
    lines = [f"{ts},{bid:.{decimals}f},{ask:.{decimals}f}" for ts, bid, ask in zip(bars.ts_ns, bars.bid, bars.ask,
                                                                                  strict=True)]
    (folder / "quotes.csv").write_text("timestamp,bid,ask\n" + "\n".join(lines) + "\n")
    import_data(folder / "quotes.csv", folder / "catalog", terms)
    quotes = catalog_quotes(folder / "catalog", instrument_id)
    assert quotes.bars is None and len(quotes) == len(bars)
    return quotes


@pytest.mark.parametrize(("instrument_id", "terms"), [
    ("EURUSD.SIM", InstrumentTerms(instrument_id="EURUSD.SIM", kind="fx", taker_fee=0.00002)),
    ("GOOG.NASDAQ", InstrumentTerms(instrument_id="GOOG.NASDAQ", kind="equity", taker_fee=0.0005))])
def test_bars_and_quotes_of_the_same_market_give_the_same_ir(catalog: Path, instrument_id: str,
                                                             terms: InstrumentTerms, tmp_path: Path) -> None:
    """Hourly FX and daily equity bars, and the same market as quotes: hold's IR is the same, annualised by the
    data's own calendar (an IR of returns counted as one a minute would be √60 too large on hourly bars), and a
    family's IR differs only by what the synthesised book's spread costs: within 0.1, as stated in docs/research.md."""
    bars = catalog_quotes(catalog, instrument_id)
    quotes = quotes_at_each_close(catalog, instrument_id, terms, tmp_path)
    config = ResearchConfig(base_size=bars.notional_base_size(1_000.0))
    irs = {}
    for name, data in (("bars", bars), ("quotes", quotes)):
        ratchet = Ratchet(config, data, Ledger(tmp_path / f"{name}.sqlite"))
        executor = InlineExecutor(ratchet.legs, config)
        (windows,) = executor.map([Task("momentum", baseline("momentum").params, "selection")])
        executor.close()
        irs[name] = (ratchet.hold_ir, float(np.mean([w["ir"] for w in windows])), windows[0]["periods_per_year"])
    (hold_bars, momentum_bars, per_year), (hold_quotes, momentum_quotes, _) = irs["bars"], irs["quotes"]
    assert hold_bars == pytest.approx(hold_quotes, abs=1e-9)
    assert abs(momentum_bars - momentum_quotes) <= 0.1, irs
    # the calendar's own periods: about 24 × 5 × 52 hourly FX bars a year, 252 trading days
    expected = 6_240 if instrument_id == "EURUSD.SIM" else 252
    assert expected * 0.85 < per_year < expected * 1.15, per_year
