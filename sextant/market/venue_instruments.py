"""Instruments as a venue defines them, from its instrument provider: OKX's `/api/v5/public/instruments` through
Nautilus' OKX adapter (a public endpoint, no keys). What `sextant data import --from-venue okx` uses, so a market's
tick, lot, contract value and fees are the venue's own."""

from __future__ import annotations

import asyncio

from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Instrument

from sextant.market.instrument import InstrumentError

VENUES = ("okx",)


def okx_instrument(instrument_id: str, base_url_http: str | None = None, timeout_s: int = 20) -> Instrument:
    """`instrument_id` (e.g. BTC-USDT-SWAP.OKX, ETH-USDT.OKX) as OKX lists it: a SWAP, FUTURES or SPOT instrument
    by its name. `base_url_http`: another REST base than OKX's own (a proxy, the test stand-in)."""
    from nautilus_trader.adapters.okx.providers import OKXInstrumentProvider
    from nautilus_trader.core.nautilus_pyo3 import OKXHttpClient, OKXInstrumentType

    parsed = InstrumentId.from_str(instrument_id)
    if parsed.venue.value != "OKX":
        raise InstrumentError(f"{instrument_id}: OKX lists instruments on venue OKX (e.g. ETH-USDT-SWAP.OKX)")
    symbol = parsed.symbol.value
    kind = (OKXInstrumentType.SWAP if symbol.endswith("-SWAP") else
            OKXInstrumentType.FUTURES if symbol.count("-") == 2 else OKXInstrumentType.SPOT)
    # Empty credentials: the instruments are public, and without them the client reads OKX_API_KEY from the
    # environment (a key has no business in an import).
    client = OKXHttpClient(api_key="", api_secret="", api_passphrase="", base_url=base_url_http,
                           timeout_secs=timeout_s, max_retries=1)
    provider = OKXInstrumentProvider(client, instrument_types=(kind,))
    try:
        asyncio.run(asyncio.wait_for(provider.load_all_async(), timeout_s))
    except Exception as error:  # noqa: BLE001 (the venue unreachable or refusing: said, with its reason)
        raise InstrumentError(f"OKX's instruments could not be read ({base_url_http or 'okx.com'}): {error}") \
            from None
    found = provider.find(parsed)
    if found is None:
        raise InstrumentError(f"OKX lists no {kind.name} instrument {symbol}")
    return found
