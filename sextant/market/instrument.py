"""BTC-USDT-SWAP.OKX exactly as OKX defines it (and as Nautilus' OKX adapter builds it from /public/instruments)."""

from __future__ import annotations

from decimal import Decimal

from nautilus_trader.model.currencies import BTC, USDT
from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
from nautilus_trader.model.instruments import CryptoPerpetual
from nautilus_trader.model.objects import Price, Quantity


def okx_linear_swap(instrument_id: str, ts_ns: int = 0) -> CryptoPerpetual:
    """An OKX USDT-margined BTC swap: sizes in contracts, 1 contract = 0.01 BTC (ctVal), tick 0.1, lot 0.01.

    Margin: Nautilus' default margin model computes notional / leverage * margin_init, so margin_init = 1 makes
    the account's leverage alone set the margin (OKX semantics); maintenance is half of it.
    """
    parsed = InstrumentId.from_str(instrument_id)
    if not parsed.symbol.value.startswith("BTC-USDT"):
        raise ValueError(f"the sim venue models BTC-USDT swaps only, not {instrument_id}")
    return CryptoPerpetual(
        instrument_id=parsed,
        raw_symbol=Symbol(parsed.symbol.value),
        base_currency=BTC,
        quote_currency=USDT,
        settlement_currency=USDT,
        is_inverse=False,
        price_precision=1,
        size_precision=2,
        price_increment=Price.from_str("0.1"),
        size_increment=Quantity.from_str("0.01"),
        multiplier=Quantity.from_str("0.01"),
        lot_size=Quantity.from_str("0.01"),
        max_quantity=Quantity.from_str("12000"),
        min_quantity=Quantity.from_str("0.01"),
        max_notional=None,
        min_notional=None,
        max_price=None,
        min_price=None,
        margin_init=Decimal("1"),
        margin_maint=Decimal("0.5"),
        maker_fee=Decimal("0.0002"),  # OKX VIP0 swap maker
        taker_fee=Decimal("0.0005"),  # OKX VIP0 swap taker
        ts_event=ts_ns,
        ts_init=ts_ns,
    )


OKX_VENUE = Venue("OKX")
