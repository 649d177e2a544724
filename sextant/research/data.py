"""Quote data for research, and its walk-forward split.

Sources: a recorded scene (its quotes table), the seeded market model (market/model.py), and two test
markets with a known answer: a seeded random walk (pure noise: nothing can be learned) and a random walk with a
planted momentum edge (moves persist, so trend following on the right horizon earns). Data of several instruments
(the seeded portfolio model, market/portfolio.py, or every instrument of a catalog) is a `Quotes` per instrument,
each `Sized` with the base size research trades on it, and split walk-forward into `Leg`s by its own rows.

The split is walk-forward: the first (1 − holdout) of the quotes are cut into `selection` consecutive windows that
selection ranks hypotheses on; the last part is the sealed holdout, read only to confirm a candidate that selection
already chose (research/ratchet.py).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from nautilus_trader.model.instruments import Instrument

if TYPE_CHECKING:
    from sextant.market.model import QuoteBatch

from sextant.market.book import centred_book
from sextant.market.instrument import okx_linear_swap
from sextant.market.sizing import base_size_worth

TICK = 0.1
ENGINE_INSTRUMENT = "BTC-USDT-SWAP.OKX"
STEP_NS = 1_000_000_000
START_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z, as `sextant sim`


@dataclass(frozen=True, slots=True)
class Quotes:
    """Top-of-book quotes as arrays of one length: ts_ns (uint64), bid, ask, bid_size, ask_size (float64), of
    `instrument` (None: the engine's BTC-USDT-SWAP.OKX). A market of bars has a row per bar, at its close (the book
    market/book.py centres on the close), with the bars themselves in `bars` (open, high, low, close, volume) for
    Nautilus' bar execution; a market of trades a row per trade, the trades in `trades` (price, size)."""

    ts_ns: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray
    instrument: Instrument | None = None
    bars: tuple[np.ndarray, ...] | None = None
    bar_type: str | None = None
    trades: tuple[np.ndarray, ...] | None = None

    def __len__(self) -> int:
        return len(self.ts_ns)

    def slice(self, start: int, stop: int) -> Quotes:
        def cut(columns: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
            return tuple(np.ascontiguousarray(column[start:stop]) for column in columns)

        ts_ns, bid, ask, bid_size, ask_size = cut(self.columns())
        return Quotes(ts_ns, bid, ask, bid_size, ask_size, instrument=self.instrument,
                      bars=cut(self.bars) if self.bars is not None else None, bar_type=self.bar_type,
                      trades=cut(self.trades) if self.trades is not None else None)

    def columns(self) -> tuple[np.ndarray, ...]:
        return self.ts_ns, self.bid, self.ask, self.bid_size, self.ask_size

    def market_instrument(self) -> Instrument:
        return self.instrument or okx_linear_swap(ENGINE_INSTRUMENT)

    @property
    def multiplier(self) -> float:
        return self.market_instrument().multiplier.as_double()

    @property
    def taker_fee(self) -> float:
        return float(self.market_instrument().taker_fee)

    def check_on_tick(self) -> None:
        """Refuse prices the instrument cannot quote: a series priced near 1.1 read as BTC-USDT-SWAP (tick 0.1)
        would fill every order at exactly 1.1 while equity is marked at the real mids."""
        from sextant.market.catalog import check_on_tick

        check_on_tick(self.market_instrument(), self.bid, self.ask)

    def fingerprint(self) -> str:
        """What the ledger checks on resume: the same data of the same instrument, or a refusal."""
        digest = hashlib.sha256()
        for column in (*self.columns(), *(self.bars or ()), *(self.trades or ())):
            digest.update(np.ascontiguousarray(column).tobytes())
        if self.instrument is not None:
            i = self.instrument
            digest.update(f"{i.id} {i.price_increment} {i.size_increment} {i.multiplier} {i.maker_fee} "
                          f"{i.taker_fee} {self.bar_type}".encode())
        return digest.hexdigest()[:16]

    def notional_base_size(self, notional: float) -> float:
        """The lots worth `notional` at the first mid: how research sizes an instrument whose contracts mean nothing
        to the crew's base size (an imported one, or each of a portfolio's), as the engine does."""
        instrument = self.market_instrument()
        return base_size_worth(notional, float(self.bid[0] + self.ask[0]) / 2, instrument.size_increment.as_double(),
                               instrument.multiplier.as_double())


@dataclass(frozen=True, slots=True)
class Sized:
    """One instrument of data of several: its quotes, and the base size (its own contracts) a hypothesis's target
    of one base size means on it, so that a hypothesis risks about the same money on every instrument."""

    quotes: Quotes
    base_size: float

    @property
    def instrument_id(self) -> str:
        return str(self.quotes.market_instrument().id)


def sized_by_notional(markets: Sequence[Quotes], notional: float) -> tuple[Sized, ...]:
    return tuple(Sized(quotes, quotes.notional_base_size(notional)) for quotes in markets)


@dataclass(frozen=True, slots=True)
class Split:
    selection: tuple[Quotes, ...]
    holdout: Quotes


@dataclass(frozen=True, slots=True)
class Leg:
    """One instrument's walk-forward split (by its own rows) and its base size: what a hypothesis is evaluated on,
    once per instrument of the data."""

    instrument_id: str
    split: Split
    base_size: float


def split_legs(data: Quotes | Sequence[Sized], base_size: float, selection_windows: int,
               holdout_fraction: float) -> tuple[Leg, ...]:
    """The legs of one instrument's quotes (traded at `base_size`) or of several sized instruments, each split at
    the same fractions of its own rows."""
    sized = (Sized(data, base_size),) if isinstance(data, Quotes) else tuple(data)
    if not sized:
        raise ValueError("research needs the quotes of at least one instrument")
    return tuple(Leg(each.instrument_id, walk_forward(each.quotes, selection_windows, holdout_fraction),
                     each.base_size) for each in sized)


def walk_forward(quotes: Quotes, selection_windows: int, holdout_fraction: float) -> Split:
    if selection_windows < 1:
        raise ValueError("at least one selection window is needed")
    if not 0.05 <= holdout_fraction <= 0.5:
        raise ValueError(f"holdout_fraction {holdout_fraction} must be between 0.05 and 0.5")
    cut = int(len(quotes) * (1 - holdout_fraction))
    edges = np.linspace(0, cut, selection_windows + 1).astype(int)
    selection = tuple(quotes.slice(int(a), int(b)) for a, b in itertools.pairwise(edges))
    return Split(selection=selection, holdout=quotes.slice(cut, len(quotes)))


def _book(mid: np.ndarray, spread_ticks: float, depth: float, step_ns: int) -> Quotes:
    half = spread_ticks * TICK / 2
    bid = np.round((mid - half) / TICK) * TICK
    ask = np.maximum(np.round((mid + half) / TICK) * TICK, bid + TICK)
    ts = (START_NS + np.arange(len(mid), dtype=np.int64) * step_ns).astype(np.uint64)
    size = np.full(len(mid), depth)
    return Quotes(ts, np.round(bid, 1), np.round(ask, 1), size, size.copy())


def random_walk(count: int, seed: int, *, volatility: float = 0.6, start: float = 60_000.0,
                step_ns: int = STEP_NS) -> Quotes:
    """Pure noise: i.i.d. normal log returns at `volatility` annualised, one quote per step, a one-tick spread."""
    rng = np.random.default_rng(seed)
    sigma = volatility * np.sqrt(step_ns / 1e9 / (365.0 * 24 * 3600))
    mid = start * np.exp(np.cumsum(rng.normal(0.0, sigma, count)))
    return _book(mid, 1.0, 50.0, step_ns)


def planted_momentum(count: int, seed: int, *, volatility: float = 0.6, drift_bps_per_s: float = 0.2,
                     mean_run_s: float = 900.0, start: float = 60_000.0, step_ns: int = STEP_NS) -> Quotes:
    """Noise plus a persistent drift whose sign flips at random (mean run `mean_run_s`): a trend that a momentum
    rule on a horizon shorter than the runs can follow, and that survives the spread and the taker fee."""
    rng = np.random.default_rng(seed)
    dt = step_ns / 1e9
    sigma = volatility * np.sqrt(dt / (365.0 * 24 * 3600))
    flips = rng.random(count) < dt / mean_run_s
    sign = np.where(np.cumsum(flips) % 2 == 0, 1.0, -1.0) * (1 if rng.random() < 0.5 else -1)
    returns = rng.normal(0.0, sigma, count) + sign * drift_bps_per_s * 1e-4 * dt
    mid = start * np.exp(np.cumsum(returns))
    return _book(mid, 1.0, 50.0, step_ns)


def model_quotes(count: int, seed: int) -> Quotes:
    """The seeded market model the engine's sim venue streams (10 quotes a second, calm to storm)."""
    from sextant.market.model import MarketModel, MarketModelConfig

    return _model_batch(MarketModel(MarketModelConfig(seed=seed)).next_batch(count))


def portfolio_quotes(count: int, seed: int, instrument_ids: Sequence[str]) -> tuple[Quotes, ...]:
    """`count` steps of the seeded portfolio model (market/portfolio.py) the sim venue streams with --portfolio:
    per instrument, its quotes on the shared clock, of its own OKX swap (tick, lot, contract value, fees)."""
    from sextant.market.portfolio import PortfolioModel, okx_portfolio

    batch = PortfolioModel(okx_portfolio(instrument_ids, seed=seed)).next_batch(count)
    return tuple(_model_batch(quotes, okx_linear_swap(instrument_id))
                 for instrument_id, quotes in zip(batch.instrument_ids, batch.quotes, strict=True))


def _model_batch(batch: QuoteBatch, instrument: Instrument | None = None) -> Quotes:
    ts = (START_NS + np.round(batch.t_s * 1e9)).astype(np.uint64)
    return Quotes(ts, np.asarray(batch.bid, np.float64), np.asarray(batch.ask, np.float64),
                  np.asarray(batch.bid_size, np.float64), np.asarray(batch.ask_size, np.float64),
                  instrument=instrument)


def scene_quotes(scene: Path, count: int | None = None) -> Quotes:
    """A recorded scene's quotes (replay/format.py), the first `count` of them if given."""
    from sextant.replay.format import read_metadata, read_quotes

    read_metadata(scene)
    table = read_quotes(scene)
    columns = [table.column(name).to_numpy() for name in ("ts_event", "bid", "ask", "bid_size", "ask_size")]
    stop = len(columns[0]) if count is None else min(count, len(columns[0]))
    bid, ask, bid_size, ask_size = (np.asarray(column[:stop], np.float64) for column in columns[1:])
    return Quotes(np.asarray(columns[0][:stop], np.uint64), bid, ask, bid_size, ask_size)


def catalog_instruments(path: Path) -> list[str]:
    """The ids of the instruments a catalog holds, in its order."""
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    return [str(instrument.id) for instrument in ParquetDataCatalog(str(path)).instruments()]


def catalog_quotes(path: Path, instrument_id: str | None = None, count: int | None = None) -> Quotes:
    """An imported market (market/catalog.py), the first `count` rows if given: its quotes, its bars (a row per
    bar at its close, the bars kept for Nautilus' bar execution) or its trades (a row per trade, kept likewise)."""
    from sextant.market.catalog import open_market, row_columns

    market = open_market(path, instrument_id)
    rows = market.data()[:count] if count else market.data()
    c = row_columns(market.kind, rows)
    if market.kind == "quotes":
        return Quotes(c["ts"], c["bid"], c["ask"], c["bid_size"], c["ask_size"], instrument=market.instrument)
    tick = market.instrument.price_increment.as_double()
    if market.kind == "trades":
        book = centred_book(c["ts"], c["price"], tick)
        return Quotes(book.ts_ns, book.bid, book.ask, book.bid_size, book.ask_size, instrument=market.instrument,
                      trades=(c["price"], c["volume"]))
    book = centred_book(c["ts"], c["close"], tick)
    return Quotes(book.ts_ns, book.bid, book.ask, book.bid_size, book.ask_size, instrument=market.instrument,
                  bars=tuple(c[name] for name in ("open", "high", "low", "close", "volume")),
                  bar_type=market.identifier)
