"""Research on a market a user imported: Nautilus fills at the instrument's prices and fees, bars executed as bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sextant.market.importer import InstrumentTerms, import_data
from sextant.research.backtest import WindowBacktester
from sextant.research.data import catalog_quotes, walk_forward
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
