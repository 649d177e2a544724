"""Any instrument Nautilus models, from the terms a user knows."""

from __future__ import annotations

import pytest
from nautilus_trader.model.instruments import CryptoPerpetual, CurrencyPair, Equity

from sextant.market.instrument import (
    InstrumentError,
    InstrumentSpec,
    build_instrument,
    decimals,
    okx_linear_swap,
)
from sextant.market.sizing import base_size_worth


def test_each_kind_is_the_nautilus_instrument_of_it() -> None:
    fx = build_instrument(InstrumentSpec(instrument_id="EURUSD.SIM", kind="fx", tick=0.00001, taker_fee=0.00002))
    assert isinstance(fx, CurrencyPair) and (str(fx.base_currency), str(fx.quote_currency)) == ("EUR", "USD")
    assert fx.price_precision == 5 and float(fx.taker_fee) == 0.00002
    equity = build_instrument(InstrumentSpec(instrument_id="GOOG.NASDAQ", kind="equity", tick=0.01))
    assert isinstance(equity, Equity) and str(equity.quote_currency) == "USD"
    spot = build_instrument(InstrumentSpec(instrument_id="ETH/USDC.BINANCE", kind="spot", tick=0.01, lot=0.0001))
    assert isinstance(spot, CurrencyPair) and str(spot.base_currency) == "ETH" and spot.size_precision == 4
    perp = build_instrument(InstrumentSpec(instrument_id="SOL-USDT-SWAP.OKX", kind="perp", tick=0.01, lot=0.01,
                                           multiplier=1.0))
    assert isinstance(perp, CryptoPerpetual) and str(perp.get_settlement_currency()) == "USDT"


def test_the_okx_swap_is_exactly_as_okx_defines_it() -> None:
    swap = okx_linear_swap("BTC-USDT-SWAP.OKX")
    assert (str(swap.price_increment), str(swap.size_increment), str(swap.multiplier)) == ("0.1", "0.01", "0.01")
    assert (float(swap.maker_fee), float(swap.taker_fee), str(swap.max_quantity)) == (0.0002, 0.0005, "12000.00")


def test_terms_that_cannot_be_are_refused_by_name() -> None:
    with pytest.raises(InstrumentError, match="tick must be positive"):
        InstrumentSpec(instrument_id="EURUSD.SIM", kind="fx", tick=0)
    with pytest.raises(InstrumentError, match=r"SYMBOL\.VENUE"):
        InstrumentSpec(instrument_id="EURUSD", kind="fx", tick=0.1)
    with pytest.raises(InstrumentError, match="whole shares"):
        InstrumentSpec(instrument_id="GOOG.NASDAQ", kind="equity", tick=0.01, lot=0.5)
    with pytest.raises(InstrumentError, match="give --base and --quote"):
        build_instrument(InstrumentSpec(instrument_id="GOLDSPOT.SIM", kind="spot", tick=0.01))


def test_sizes_and_increments() -> None:
    assert (decimals(0.00001), decimals(0.25), decimals(100.0)) == (5, 2, 0)
    assert base_size_worth(600.0, 60_000.0, 0.01, 0.01) == 1.0  # one BTC-USDT-SWAP contract at 60,000
    assert base_size_worth(1_000.0, 1.0716, 1.0, 1.0) == 933.0  # EUR at 1.0716
    assert base_size_worth(1.0, 60_000.0, 0.01, 0.01) == 0.01  # never below one lot
