"""Instruments from the venue's provider: OKX's public instruments through Nautilus' OKX adapter, against the OKX v5
stand-in (tests/fixtures/okx_standin.py, which lists BTC-USDT-SWAP as OKX does)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from nautilus_trader.model.instruments import CryptoPerpetual

from sextant.market.columns import DataError
from sextant.market.importer import InstrumentTerms, import_data
from sextant.market.instrument import InstrumentError
from sextant.market.venue_instruments import okx_instrument
from tests.conftest import free_port


@pytest.fixture(scope="module")
def okx_rest() -> Iterator[str]:
    http_port, ws_port = free_port(), free_port()
    server = subprocess.Popen([sys.executable, "-m", "tests.fixtures.okx_standin", str(http_port), str(ws_port), "1",
                               "0"], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    yield f"http://127.0.0.1:{http_port}"
    server.terminate()
    server.wait(timeout=10)


def test_the_swap_is_read_as_okx_lists_it(okx_rest: str) -> None:
    swap = okx_instrument("BTC-USDT-SWAP.OKX", okx_rest)
    assert isinstance(swap, CryptoPerpetual)
    assert (str(swap.price_increment), str(swap.size_increment), str(swap.multiplier)) == ("0.1", "0.01", "0.01")


def test_an_instrument_okx_does_not_list_and_a_dead_endpoint_are_said(okx_rest: str) -> None:
    with pytest.raises(InstrumentError, match="OKX lists no Swap instrument DOGE-USDT-SWAP"):
        okx_instrument("DOGE-USDT-SWAP.OKX", okx_rest)
    with pytest.raises(InstrumentError, match="OKX's instruments could not be read"):
        okx_instrument("BTC-USDT-SWAP.OKX", f"http://127.0.0.1:{free_port()}", timeout_s=5)


def test_an_import_takes_the_venues_terms_and_holds_the_rows_to_its_tick(okx_rest: str, tmp_path: Path) -> None:
    quotes = tmp_path / "btc.csv"
    quotes.write_text("time,bid,ask\n2024-01-01T00:00:00Z,42000,42001\n2024-01-01T00:00:01Z,42000.1,42000.2\n")
    terms = InstrumentTerms(instrument_id="BTC-USDT-SWAP.OKX", from_venue="okx", venue_url=okx_rest,
                            taker_fee=0.0005, maker_fee=0.0002)
    report = import_data(quotes, tmp_path / "catalog", terms)
    instrument = report.instrument
    assert (str(instrument.price_increment), str(instrument.multiplier)) == ("0.1", "0.01")
    assert not report.tick_from_file and float(instrument.taker_fee) == 0.0005
    off_tick = tmp_path / "off.csv"
    off_tick.write_text("time,bid,ask\n2024-01-01T00:00:00Z,42000.05,42001\n")
    with pytest.raises(DataError, match=r"off.csv line 2: price 42000.05 is not a multiple of the tick 0.1"):
        import_data(off_tick, tmp_path / "other", terms)
