"""Nautilus' simulated exchange as our account, for backtests: one BacktestEngine with the instrument's venue
(netting, margin, in the instrument's settlement currency: USDT on OKX), the instrument and its data (quotes, or bars
with Nautilus' bar execution). Shared by `sextant sim`, the research backtests and the sim benchmarks, so they all
trade the same venue."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from decimal import Decimal

import numpy as np
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, RiskEngineConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import AccountType, OmsType
from nautilus_trader.model.identifiers import TraderId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Money

from sextant.market.trade_record import install_linear_trade_record

# BacktestEngine.run stamps its start and end with pd.Timestamp.utcnow, which pandas 3 deprecates: one warning line
# per run, from Nautilus' code, in every sim, research and bench output. Only that message is silenced.
warnings.filterwarnings("ignore", message=r"Timestamp\.utcnow is deprecated")


def quote_ticks(instrument: Instrument, bid: np.ndarray, ask: np.ndarray, bid_size: np.ndarray,
                ask_size: np.ndarray, ts: np.ndarray) -> list[QuoteTick]:
    """Quote ticks of `instrument` from columns, stamped `ts` (event and init)."""
    # Nautilus takes writable float64 price/size arrays and uint64 times (Arrow's are read-only: copy).
    prices = [np.array(column, np.float64) for column in (bid, ask, bid_size, ask_size)]
    times = np.array(ts, np.uint64)
    return QuoteTick.from_raw_arrays_to_list(instrument.id, instrument.price_precision, instrument.size_precision,
                                             *prices, times, times.copy())


def backtest_engine(instrument: Instrument | Sequence[Instrument], data: list[Data], *, trader_id: str,
                    starting_balance: float, leverage: float,
                    risk_engine: RiskEngineConfig | None = None) -> BacktestEngine:
    """A BacktestEngine, logging off, with `instrument`'s venue, `instrument` and `data` (quotes or bars) added: add
    actors and run. The account holds `starting_balance` of the settlement currency. Bars are executed as Nautilus
    does, open, high and low in the order nearer the open first, then close (market/catalog.py synthesises the
    crew's quotes from bars in the same order). Its portfolio records closed trades in O(1) (trade_record.py).
    Several instruments (a portfolio) share the first's venue and account."""
    instruments = [instrument] if isinstance(instrument, Instrument) else list(instrument)
    instrument = instruments[0]
    currency = instrument.get_settlement_currency()
    engine = BacktestEngine(BacktestEngineConfig(
        trader_id=TraderId(trader_id), logging=LoggingConfig(log_level="ERROR", bypass_logging=True),
        run_analysis=False, risk_engine=risk_engine or RiskEngineConfig()))
    engine.add_venue(venue=instrument.id.venue, oms_type=OmsType.NETTING, account_type=AccountType.MARGIN,
                     base_currency=currency, starting_balances=[Money(starting_balance, currency)],
                     default_leverage=Decimal(str(leverage)), bar_adaptive_high_low_ordering=True)
    for each in instruments:
        engine.add_instrument(each)
    engine.add_data(data)
    install_linear_trade_record(engine.portfolio.analyzer)  # a long sim closes thousands of positions
    return engine
