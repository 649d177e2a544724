"""Reading a NautilusTrader `ParquetDataCatalog`: its instruments, and one instrument's market as Nautilus data (for
a BacktestEngine) or as a top of book (for research and the catalog venue; market/book.py synthesises one from bars
or trades).

A catalog may hold several instruments and several kinds of data; one market is one instrument's quotes, else its
bars, else its trades.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from nautilus_trader.model.data import Bar, BarType, QuoteTick, TradeTick
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from sextant.market.book import Book, bar_book, centred_book
from sextant.market.columns import DataError, DataKind, off_tick
from sextant.market.instrument import describe

CATALOG_FOLDERS: dict[DataKind, str] = {"quotes": "quote_tick", "bars": "bar", "trades": "trade_tick"}
CLASSES: dict[DataKind, type] = {"quotes": QuoteTick, "bars": Bar, "trades": TradeTick}


def is_catalog(path: Path) -> bool:
    return path.is_dir() and (path / "data").is_dir()


@dataclass(frozen=True, slots=True)
class CatalogMarket:
    """One instrument's market in a catalog."""

    path: Path
    instrument: Instrument
    kind: DataKind
    identifier: str  # the instrument id, or for bars the bar type

    @property
    def bar_type(self) -> BarType | None:
        return BarType.from_str(self.identifier) if self.kind == "bars" else None

    def files(self) -> list[Path]:
        folder = self.path / "data" / CATALOG_FOLDERS[self.kind] / self.identifier
        return sorted(folder.glob("*.parquet"))  # named by their start time: sorted by time

    def data(self) -> list[Any]:
        """Every row as Nautilus data (QuoteTick, Bar or TradeTick), in time order."""
        return ParquetDataCatalog(str(self.path)).query(CLASSES[self.kind], identifiers=[self.identifier])

    def describe(self) -> str:
        files = self.files()
        return f"{self.identifier} {self.kind} ({len(files)} file(s)) in catalog {self.path}"

    def book(self, data: list[Any] | None = None) -> Book:
        """The top of book the crew sees: the quotes, or one synthesised from bars or trades (the module's rules)."""
        c = row_columns(self.kind, self.data() if data is None else data)
        tick = self.instrument.price_increment.as_double()
        if self.kind == "quotes":
            return Book(c["ts"], c["bid"], c["ask"], c["bid_size"], c["ask_size"])
        if self.kind == "trades":
            return centred_book(c["ts"], c["price"], tick)
        return bar_book(c["ts"], c["open"], c["high"], c["low"], c["close"], tick)


# Each kind's fields (as the importer names them) and the Nautilus attribute that holds each.
_ATTRIBUTES: dict[DataKind, dict[str, str]] = {
    "quotes": {"bid": "bid_price", "ask": "ask_price", "bid_size": "bid_size", "ask_size": "ask_size"},
    "trades": {"price": "price", "volume": "size"},
    "bars": {name: name for name in ("open", "high", "low", "close", "volume")},
}


def row_columns(kind: DataKind, rows: list[Any]) -> dict[str, np.ndarray]:
    """Nautilus data as columns: "ts" (uint64, ts_event) and each of the kind's fields (float64)."""
    columns = {field: np.fromiter((getattr(row, attribute).as_double() for row in rows), np.float64, len(rows))
               for field, attribute in _ATTRIBUTES[kind].items()}
    return {"ts": np.fromiter((row.ts_event for row in rows), np.uint64, len(rows))} | columns


def check_on_tick(instrument: Instrument, bid: np.ndarray, ask: np.ndarray) -> None:
    """Refuse a book `instrument` cannot quote (a scene of FX prices read as BTC-USDT-SWAP, tick 0.1): Nautilus
    would round every price to the tick, and fill at prices the data never had."""
    tick = instrument.price_increment.as_double()
    for name, prices in (("bid", bid), ("ask", ask)):
        off = off_tick(np.asarray(prices, np.float64), tick)
        if len(off):
            raise DataError(f"row {int(off[0]) + 1}: {name} {float(prices[off[0]])!r} is not on {instrument.id}'s "
                            f"tick {tick:g}: import the data with its own instrument (sextant data import, "
                            f"docs/markets.md)")


def open_market(path: Path, instrument_id: str | None = None) -> CatalogMarket:
    """One instrument's market in the catalog at `path`: `instrument_id`'s, or the catalog's only instrument's."""
    if not is_catalog(path):
        raise DataError(f"{path} is not a NautilusTrader catalog (no data/ folder): import data into it with "
                        f"`sextant data import FILE --catalog {path}`")
    instruments = ParquetDataCatalog(str(path)).instruments()
    if instrument_id is not None:
        chosen = [i for i in instruments if str(i.id) == instrument_id]
        if not chosen:
            raise DataError(f"catalog {path} has no instrument {instrument_id} (it has "
                            f"{', '.join(str(i.id) for i in instruments) or 'none'})")
    else:
        chosen = instruments
        if len(chosen) != 1:
            raise DataError(f"catalog {path} holds {len(chosen)} instruments "
                            f"({', '.join(str(i.id) for i in chosen) or 'none'}): choose one with --instrument")
    instrument = chosen[0]
    kinds: tuple[DataKind, ...] = ("quotes", "bars", "trades")
    for kind in kinds:
        folder = path / "data" / CATALOG_FOLDERS[kind]
        if kind == "bars":
            names = sorted(p.name for p in folder.glob(f"{instrument.id}-*") if any(p.glob("*.parquet")))
        else:
            names = [str(instrument.id)] if any((folder / str(instrument.id)).glob("*.parquet")) else []
        if names:
            return CatalogMarket(path, instrument, kind, names[0])
    raise DataError(f"catalog {path} has no quotes, bars or trades of {instrument.id}")


def catalog_lines(path: Path) -> list[str]:
    """What `sextant data show` prints: each instrument's terms, and each of its data sets with its time span."""
    if not is_catalog(path):
        raise DataError(f"{path} is not a NautilusTrader catalog (no data/ folder)")
    catalog = ParquetDataCatalog(str(path))
    lines = [f"# catalog {path}"]
    for instrument in catalog.instruments():
        lines.append(f"{instrument.id} {describe(instrument)}")
        for kind, folder in CATALOG_FOLDERS.items():
            pattern = f"{instrument.id}-*" if kind == "bars" else str(instrument.id)
            for data_set in sorted((path / "data" / folder).glob(pattern)):
                files = sorted(data_set.glob("*.parquet"))
                if files:
                    first, last = files[0].stem.split("_")[0], files[-1].stem.split("_")[-1]
                    lines.append(f"  {kind:<6} {data_set.name}: {len(files)} file(s), {first} → {last}")
    return lines
