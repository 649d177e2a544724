"""Instruments: what an order's size and price mean, and what a fill costs.

`InstrumentSpec` describes any instrument Sextant trades in the terms a user knows (kind, tick, lot, contract
multiplier, fees, currencies) and `build_instrument` makes the NautilusTrader instrument of it: a CurrencyPair for
FX and crypto spot, an Equity, or a CryptoPerpetual. The catalog an import writes (market/importer.py) holds the
Nautilus instrument itself, so a catalog's user never restates it. `okx_linear_swap` builds OKX's USDT-margined
swaps (`OKX_SWAPS`: BTC, the default market, ETH and SOL) exactly as OKX defines them (and as Nautilus' OKX adapter
builds them from /public/instruments).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

import msgspec
from nautilus_trader.model.enums import CurrencyType
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import CryptoPerpetual, CurrencyPair, Equity, Instrument
from nautilus_trader.model.objects import Currency, Price, Quantity

InstrumentKind = Literal["fx", "equity", "spot", "perp"]
INSTRUMENT_KINDS: tuple[InstrumentKind, ...] = ("fx", "equity", "spot", "perp")
_CURRENCY_CODE = re.compile(r"^[A-Z0-9]{2,10}$")


class InstrumentError(ValueError):
    """An instrument that cannot be built as described (the message says which term and why)."""


class InstrumentSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    instrument_id: str  # SYMBOL.VENUE, e.g. EURUSD.SIM, GOOG.NASDAQ, BTC-USDT-SWAP.OKX
    kind: InstrumentKind
    tick: float  # price increment
    lot: float = 1.0  # size increment: the smallest step of an order's quantity
    multiplier: float = 1.0  # units of the base asset per unit of quantity (OKX ctVal)
    maker_fee: float = 0.0  # fraction of notional, e.g. 0.0002 = 2 bps
    taker_fee: float = 0.0
    base: str = ""  # currency codes; empty: read from the symbol (EURUSD, EUR/USD, BTC-USDT-SWAP)
    quote: str = ""  # for an equity, its currency (default USD)
    max_quantity: float = 0.0  # the venue's largest order (0: none)

    def __post_init__(self) -> None:
        try:
            InstrumentId.from_str(self.instrument_id)
        except ValueError:
            raise InstrumentError(f"instrument id {self.instrument_id!r} is not SYMBOL.VENUE (e.g. EURUSD.SIM)") \
                from None
        for name in ("tick", "lot", "multiplier"):
            value = getattr(self, name)
            if not value > 0:
                raise InstrumentError(f"{name} must be positive, not {value}")
        for name in ("maker_fee", "taker_fee"):
            if not -0.01 <= getattr(self, name) <= 0.01:  # a rebate is a negative fee; 1 % is already absurd
                raise InstrumentError(f"{name} {getattr(self, name)} is a fraction of notional (0.0005 = 5 bps)")
        if self.kind == "equity" and self.lot != int(self.lot):
            raise InstrumentError(f"an equity trades whole shares: lot {self.lot} is not a whole number")


def decimals(step: float) -> int:
    """The decimal places of a price or size increment: 0.00001 → 5, 0.25 → 2, 100 → 0."""
    exponent = Decimal(repr(step)).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def currencies(spec: InstrumentSpec) -> tuple[str, str]:
    """The base and quote currency codes: given, or read from the symbol (EURUSD, EUR/USD, BTC-USDT-SWAP)."""
    symbol = InstrumentId.from_str(spec.instrument_id).symbol.value.upper()
    if spec.kind == "equity":
        return symbol, spec.quote or "USD"
    base, quote = spec.base.upper(), spec.quote.upper()
    if not (base and quote):
        parts = [part for part in re.split(r"[-/_:.]", symbol) if part]
        if len(parts) >= 2:
            base, quote = base or parts[0], quote or parts[1]
        elif len(symbol) == 6 and symbol.isalpha():  # EURUSD: the ISO convention of six letters
            base, quote = base or symbol[:3], quote or symbol[3:]
        else:
            raise InstrumentError(f"cannot tell the currencies of {symbol!r}: give --base and --quote")
    return base, quote


def currency(code: str, kind: InstrumentKind) -> Currency:
    """A currency Nautilus knows (ISO 4217 and the common crypto codes), or a new one of 8 decimals."""
    known = Currency.from_internal_map(code)
    if known is not None:
        return known
    if not _CURRENCY_CODE.match(code):
        raise InstrumentError(f"currency code {code!r}: use 2 to 10 letters or digits")
    made = Currency(code, 8 if kind in ("spot", "perp") else 2, 0, code, CurrencyType.CRYPTO
                    if kind in ("spot", "perp") else CurrencyType.FIAT)
    Currency.register(made, overwrite=False)
    return made


def describe(instrument: Instrument) -> str:
    """An instrument's terms in a line: "CurrencyPair: tick 0.00001, lot 1, multiplier 1.0, fees maker 0 taker
    2e-05, in USD"."""
    return (f"{type(instrument).__name__}: tick {instrument.price_increment}, lot {instrument.size_increment}, "
            f"multiplier {instrument.multiplier}, fees maker {float(instrument.maker_fee):g} taker "
            f"{float(instrument.taker_fee):g}, in {instrument.quote_currency}")


def build_instrument(spec: InstrumentSpec, ts_ns: int = 0) -> Instrument:
    """The Nautilus instrument `spec` describes. Margin: notional / leverage × margin_init, so margin_init = 1 makes
    the account's leverage alone set the margin (OKX semantics); maintenance is half of it."""
    instrument_id = InstrumentId.from_str(spec.instrument_id)
    price_precision, size_precision = decimals(spec.tick), decimals(spec.lot)
    terms = {
        "price_increment": Price(spec.tick, price_precision),
        "margin_init": Decimal(1), "margin_maint": Decimal("0.5"),
        "maker_fee": Decimal(repr(spec.maker_fee)), "taker_fee": Decimal(repr(spec.taker_fee)),
        "ts_event": ts_ns, "ts_init": ts_ns,
    }
    base_code, quote_code = currencies(spec)
    quote = currency(quote_code, spec.kind)
    if spec.kind == "equity":
        return Equity(instrument_id=instrument_id, raw_symbol=instrument_id.symbol, currency=quote,
                      price_precision=price_precision, lot_size=Quantity(spec.lot, 0), **terms)
    base = currency(base_code, spec.kind)
    sizes = {"size_precision": size_precision, "size_increment": Quantity(spec.lot, size_precision),
             "lot_size": Quantity(spec.lot, size_precision), "min_quantity": Quantity(spec.lot, size_precision)}
    if spec.kind == "perp":
        largest = Quantity(spec.max_quantity, size_precision) if spec.max_quantity else None
        return CryptoPerpetual(instrument_id=instrument_id, raw_symbol=instrument_id.symbol, base_currency=base,
                               quote_currency=quote, settlement_currency=quote, is_inverse=False,
                               price_precision=price_precision, multiplier=Quantity.from_str(repr(spec.multiplier)),
                               max_quantity=largest, max_notional=None, min_notional=None, max_price=None,
                               min_price=None, **sizes, **terms)
    return CurrencyPair(instrument_id=instrument_id, raw_symbol=instrument_id.symbol, base_currency=base,
                        quote_currency=quote, price_precision=price_precision,
                        multiplier=Quantity.from_str(repr(spec.multiplier)), **sizes, **terms)


OKX_BTC_USDT_SWAP = InstrumentSpec(
    instrument_id="BTC-USDT-SWAP.OKX", kind="perp", tick=0.1, lot=0.01, multiplier=0.01,  # ctVal 0.01 BTC
    maker_fee=0.0002, taker_fee=0.0005, max_quantity=12_000)  # OKX VIP0 swap maker and taker; maxMktSz
# As OKX's /public/instruments lists it (Nautilus' OKX adapter test data, http_get_instruments_swap.json).
OKX_ETH_USDT_SWAP = InstrumentSpec(
    instrument_id="ETH-USDT-SWAP.OKX", kind="perp", tick=0.01, lot=0.01, multiplier=0.1,  # ctVal 0.1 ETH
    maker_fee=0.0002, taker_fee=0.0005, max_quantity=20_000)  # VIP0 swap fees, as for BTC; maxMktSz
# tickSz 0.01 and ctVal 1 SOL as OKX lists them; lotSz 0.01 since OKX cut it from 0.1 on 6 June 2024. OKX's maxMktSz
# for it is not confirmed here: 10,000 contracts, the smallest cap OKX lists for its majors' USDT swaps (LTC, ADA),
# so that the sim never accepts a market order OKX could refuse.
OKX_SOL_USDT_SWAP = InstrumentSpec(
    instrument_id="SOL-USDT-SWAP.OKX", kind="perp", tick=0.01, lot=0.01, multiplier=1.0,  # ctVal 1 SOL
    maker_fee=0.0002, taker_fee=0.0005, max_quantity=10_000)
OKX_SWAPS: dict[str, InstrumentSpec] = {
    InstrumentId.from_str(spec.instrument_id).symbol.value: spec
    for spec in (OKX_BTC_USDT_SWAP, OKX_ETH_USDT_SWAP, OKX_SOL_USDT_SWAP)
}


def okx_linear_swap(instrument_id: str, ts_ns: int = 0) -> Instrument:
    """An OKX USDT-margined swap of `OKX_SWAPS`, on whatever venue `instrument_id` names: sizes in contracts of
    ctVal of the base (BTC: 1 contract = 0.01 BTC, tick 0.1, lot 0.01). The symbol picks the swap by its family,
    BTC-USDT, ETH-USDT or SOL-USDT."""
    symbol = InstrumentId.from_str(instrument_id).symbol.value
    for name, spec in OKX_SWAPS.items():
        if symbol.startswith(name.removesuffix("-SWAP")):
            return build_instrument(msgspec.structs.replace(spec, instrument_id=instrument_id), ts_ns)
    raise ValueError(f"the sim venue models the OKX USDT swaps {', '.join(OKX_SWAPS)} only, not {instrument_id}")
