"""The sim, scene and catalog venues' market data: a Nautilus live data client that streams the seeded MarketModel,
or a recorded market (a scene's quotes, or an imported catalog's quotes, bars or trades as market/book.py makes a
book of them), in real time.

Quotes are paced against the wall clock (times `speed`): every wake-up emits exactly the quotes whose time has come
(the model's step, or the recorded market's own timestamps), so a slow event loop catches up instead of drifting,
and high speeds batch several quotes per wake-up. `ts_event = ts_init = clock.timestamp_ns()`, which is what
advances the Sandbox exchange's clock. A recorded market that runs out ends the stream; the engine runs on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from nautilus_trader.common.providers import InstrumentProvider
from nautilus_trader.config import LiveDataClientConfig
from nautilus_trader.live.data_client import LiveMarketDataClient
from nautilus_trader.live.factories import LiveDataClientFactory
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.identifiers import ClientId, InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price, Quantity
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from sextant.market.book import Book
from sextant.market.catalog import check_on_tick, open_market
from sextant.market.instrument import okx_linear_swap
from sextant.market.model import MarketModel, MarketModelConfig, QuoteBatch
from sextant.market.portfolio import PortfolioModel, okx_portfolio
from sextant.replay.format import SceneError, read_metadata, read_quotes

SIM_CLIENT = "SIM"
_BATCH = 512
_MAX_BURST = 2048  # quotes per wake-up when catching up, so a stalled loop never floods the engines at once


class SimDataClientConfig(LiveDataClientConfig, frozen=True):
    instrument_id: str = "BTC-USDT-SWAP.OKX"
    seed: int = 42
    speed: float = 1.0
    start_price: float = 60_000.0
    step_s: float = 0.1
    market: str = ""  # a scene folder or a catalog to play instead of the model
    market_kind: Literal["scene", "catalog"] = "scene"
    portfolio: tuple[str, ...] = ()  # several of the portfolio model's swaps, streamed together (market/portfolio.py)


@dataclass(frozen=True, slots=True)
class RecordedMarket:
    """A recorded market as the venue plays it: its instrument and its book, row by row."""

    instrument: Instrument
    book: Book

    @staticmethod
    def load(kind: Literal["scene", "catalog"], path: str, instrument_id: str) -> RecordedMarket:
        """A scene's quotes (of the OKX swap it recorded), or a catalog market's book (`instrument_id`'s, or the
        catalog's only instrument's when it has no such instrument)."""
        if kind == "scene":
            read_metadata(Path(path))
            table = read_quotes(Path(path))
            ts, bid, ask, bid_size, ask_size = (table.column(name).to_numpy() for name in (
                "ts_event", "bid", "ask", "bid_size", "ask_size"))
            if len(ts) == 0:
                raise SceneError(f"scene {path} has no quotes")
            instrument = okx_linear_swap(instrument_id)
            check_on_tick(instrument, bid, ask)
            return RecordedMarket(instrument, Book(ts, bid, ask, bid_size, ask_size))
        market = open_market(Path(path), catalog_instrument(Path(path), instrument_id))
        return RecordedMarket(market.instrument, market.book())


def catalog_instrument(path: Path, instrument_id: str) -> str | None:
    """The catalog's instrument the engine trades: `instrument_id` if the catalog has it, else (None) its only one."""
    ids = [str(instrument.id) for instrument in ParquetDataCatalog(str(path)).instruments()]
    return instrument_id if instrument_id in ids else None


class SimMarketDataClient(LiveMarketDataClient):
    def __init__(self, loop: asyncio.AbstractEventLoop, msgbus: Any, cache: Any, clock: Any,
                 config: SimDataClientConfig, name: str | None) -> None:
        self.recorded = (RecordedMarket.load(config.market_kind, config.market, config.instrument_id)
                         if config.market else None)
        self.instrument = self.recorded.instrument if self.recorded else okx_linear_swap(config.instrument_id)
        # the portfolio's instruments, in its order (the first is `instrument`), or `instrument` alone
        self.instruments = [okx_linear_swap(instrument_id) for instrument_id in config.portfolio] or [self.instrument]
        self.instrument = self.instruments[0]
        provider = InstrumentProvider()
        for instrument in self.instruments:
            provider.add(instrument)
        super().__init__(loop=loop, client_id=ClientId(name or SIM_CLIENT), venue=self.instrument.id.venue,
                         msgbus=msgbus,
                         cache=cache, clock=clock, instrument_provider=provider, config=config)
        self._settings = config  # Component keeps its config private
        self._model = MarketModel(MarketModelConfig(seed=config.seed, start_price=config.start_price,
                                                    step_s=config.step_s))
        self._portfolio = PortfolioModel(okx_portfolio(config.portfolio, seed=config.seed, step_s=config.step_s)) \
            if config.portfolio else None
        self._feeds: dict[InstrumentId, asyncio.Task] = {}
        self._streamed: set[InstrumentId] = set()  # a portfolio's instruments subscribed to, on its one feed
        self.quotes_sent = 0

    @property
    def model(self) -> MarketModel:
        return self._model

    async def _connect(self) -> None:
        for instrument in self.instruments:
            self._handle_data(instrument)  # → DataEngine → Cache, and the Sandbox exchange

    async def _disconnect(self) -> None:
        for task in self._feeds.values():
            task.cancel()
        self._feeds.clear()

    async def _subscribe_instrument(self, command: Any) -> None:
        for instrument in self.instruments:
            if instrument.id == command.instrument_id:
                self._handle_data(instrument)

    async def _subscribe_instruments(self, command: Any) -> None:
        for instrument in self.instruments:
            self._handle_data(instrument)

    async def _subscribe_quote_ticks(self, command: Any) -> None:
        streams = [instrument.id for instrument in self.instruments]
        if command.instrument_id not in streams:
            self._log.error(f"this venue only streams {', '.join(map(str, streams))}, not {command.instrument_id}")
            return
        stream: Callable[[InstrumentId], Coroutine[Any, Any, None]]
        if self._portfolio is not None:  # one feed steps the whole portfolio; it sends what is subscribed
            self._streamed.add(command.instrument_id)
            key = self.instrument.id
            stream = self._stream_portfolio
        else:
            key = command.instrument_id
            stream = self._stream_recorded if self.recorded is not None else self._stream
        if key not in self._feeds:
            task = self.create_task(stream(key))
            if task is not None:  # None only when the loop is not running, which Nautilus logs
                self._feeds[key] = task

    async def _subscribe_order_book_deltas(self, command: Any) -> None:
        # Nautilus' OrderEmulator asks for book deltas; the sim venue is a top-of-book market, whose quotes it
        # already streams, so there is no deeper book to send.
        self._log.debug(f"{command.instrument_id}: top of book only, no order book deltas")

    async def _unsubscribe_order_book_deltas(self, command: Any) -> None:
        pass

    async def _unsubscribe_quote_ticks(self, command: Any) -> None:
        if self._portfolio is not None:
            self._streamed.discard(command.instrument_id)
            if self._streamed:
                return
        task = self._feeds.pop(self.instrument.id if self._portfolio is not None else command.instrument_id, None)
        if task is not None:
            task.cancel()

    def _send(self, instrument: Instrument, batch: QuoteBatch, row: int) -> None:
        """Row `row` of `batch` as `instrument`'s quote, stamped now: the quote exists from here, as a venue message
        once parsed."""
        price_precision, size_precision = instrument.price_precision, instrument.size_precision
        now = self._clock.timestamp_ns()
        self._handle_data(QuoteTick(
            instrument_id=instrument.id, bid_price=Price(float(batch.bid[row]), price_precision),
            ask_price=Price(float(batch.ask[row]), price_precision),
            bid_size=Quantity(float(batch.bid_size[row]), size_precision),
            ask_size=Quantity(float(batch.ask_size[row]), size_precision), ts_event=now, ts_init=now))
        self.quotes_sent += 1

    async def _paced(self, step: Callable[[], None]) -> None:
        """Call `step` once per model step of wall time (times `speed`), catching up in bursts of at most
        _MAX_BURST steps, forever."""
        settings = self._settings
        step_wall_s = settings.step_s / settings.speed
        started = time.monotonic()
        emitted = 0
        while True:
            due = min(int((time.monotonic() - started) / step_wall_s) + 1, emitted + _MAX_BURST)
            while emitted < due:
                step()
                emitted += 1
            # Sleep until the next step is due; never spin on a zero sleep (one yield lets the engines drain).
            await asyncio.sleep(max(0.0, started + emitted * step_wall_s - time.monotonic()))

    async def _stream(self, instrument_id: InstrumentId) -> None:
        batch, row = self._model.next_batch(_BATCH), 0

        def step() -> None:
            nonlocal batch, row
            if row == len(batch):
                batch, row = self._model.next_batch(_BATCH), 0
            self._send(self.instrument, batch, row)
            row += 1

        await self._paced(step)

    async def _stream_portfolio(self, _: InstrumentId) -> None:
        """The portfolio model's every instrument a step, in its order, those subscribed to sent."""
        assert self._portfolio is not None
        model = self._portfolio
        batch, row = model.next_batch(_BATCH), 0
        streamed = self._streamed

        def step() -> None:
            nonlocal batch, row
            if row == len(batch):
                batch, row = model.next_batch(_BATCH), 0
            for instrument, quotes in zip(self.instruments, batch.quotes, strict=True):
                if instrument.id in streamed:
                    self._send(instrument, quotes, row)
            row += 1

        await self._paced(step)


    async def _stream_recorded(self, instrument_id: InstrumentId) -> None:
        assert self.recorded is not None
        book = self.recorded.book
        price_precision, size_precision = self.instrument.price_precision, self.instrument.size_precision
        # the recorded times, as seconds from the first, at `speed`
        due_s = (np.asarray(book.ts_ns, np.int64) - int(book.ts_ns[0])) / 1e9 / self._settings.speed
        started = time.monotonic()
        emitted = 0
        while emitted < len(due_s):
            due = min(int(np.searchsorted(due_s, time.monotonic() - started, side="right")), emitted + _MAX_BURST)
            while emitted < due:
                now = self._clock.timestamp_ns()
                self._handle_data(QuoteTick(
                    instrument_id=instrument_id, bid_price=Price(float(book.bid[emitted]), price_precision),
                    ask_price=Price(float(book.ask[emitted]), price_precision),
                    bid_size=Quantity(float(book.bid_size[emitted]), size_precision),
                    ask_size=Quantity(float(book.ask_size[emitted]), size_precision), ts_event=now, ts_init=now))
                emitted += 1
                self.quotes_sent += 1
            if emitted < len(due_s):
                await asyncio.sleep(max(0.0, started + float(due_s[emitted]) - time.monotonic()))
        self._log.warning(f"the recorded market {self._settings.market} has played to its end "
                          f"({emitted:,} quotes)")


class SimDataClientFactory(LiveDataClientFactory):
    @staticmethod
    def create(loop: asyncio.AbstractEventLoop, name: str, config: SimDataClientConfig,  # type: ignore[override]
               msgbus: Any, cache: Any, clock: Any) -> SimMarketDataClient:  # Nautilus passes this factory's config
        return SimMarketDataClient(loop, msgbus, cache, clock, config, name)
