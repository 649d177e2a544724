"""`sextant data import`: a user's quotes, trades or bars (CSV, Parquet, or a NautilusTrader catalog) into a
NautilusTrader `ParquetDataCatalog`, the ecosystem's own format, which `sextant sim`, `research`, `replay` and the
engine's catalog venue read (market/catalog.py).

The file is read in blocks and written in chunks of `chunk_rows` rows, so memory stays bounded whatever its length.
Every row is checked before anything is written for it; the first problem stops the import with an error naming its
row: a time that is not one, unsorted or repeated times (repeats are allowed for trades, several of which can share
an instant), empty, negative or zero prices, a crossed book (bid above ask), a bar whose high or low does not bound
it, and prices off the instrument's tick. Gaps (a step longer than `gap_factor` times the data's usual step) are
reported, or refused with `gaps="fail"`. The instrument's tick is read from the prices' decimals unless given.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from nautilus_trader.model.data import Bar, BarType, QuoteTick, TradeTick
from nautilus_trader.model.instruments import CryptoPerpetual, Instrument
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from sextant.market.book import DEFAULT_DEPTH
from sextant.market.catalog import CATALOG_FOLDERS, CLASSES, is_catalog, open_market, row_columns
from sextant.market.columns import (
    PRICES,
    SIZES,
    ColumnMap,
    DataError,
    DataKind,
    EpochUnit,
    detect,
    floats,
    off_tick,
    to_ns,
)
from sextant.market.instrument import InstrumentKind, InstrumentSpec, build_instrument, currencies, describe
from sextant.market.venue_instruments import okx_instrument

SourceFormat = Literal["csv", "parquet", "catalog"]
PriceType = Literal["MID", "LAST", "BID", "ASK"]
_DAY_NS = 86_400_000_000_000
_UNITS_NS = (("WEEK", 7 * _DAY_NS), ("DAY", _DAY_NS), ("HOUR", 3_600_000_000_000), ("MINUTE", 60_000_000_000),
             ("SECOND", 1_000_000_000), ("MILLISECOND", 1_000_000))
_MONTH_NS = 2_629_746_000_000_000  # a Gregorian month on average
_FIAT = {"USD", "EUR", "JPY", "GBP", "CHF", "AUD", "CAD", "NZD", "SEK", "NOK", "DKK", "HKD", "SGD", "CNH", "MXN",
         "ZAR", "TRY", "PLN", "HUF", "CZK"}


class ImportOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How to read the file (what a demanding user may need to say; the defaults find the rest)."""

    source_format: SourceFormat | None = None  # default: from the path (.csv[.gz], .parquet, a catalog folder)
    kind: DataKind | None = None  # default: from the columns
    columns: dict[str, str] = {}  # field → column, for spellings detection does not know
    tz: str = "UTC"  # the zone of times written without one
    epoch_unit: EpochUnit | None = None  # default: from the size of epoch numbers
    bar: str | None = None  # a bar's length as Nautilus writes it, e.g. 1-HOUR; default: the data's usual step
    bar_time: Literal["open", "close"] = "open"  # what a bar's time marks; Nautilus stamps bars at their close
    price_type: PriceType | None = None  # what the bars' prices are; default MID for FX, LAST otherwise
    gaps: Literal["report", "fail"] = "report"
    gap_factor: float = 5.0  # a step longer than this many usual steps is a gap
    chunk_rows: int = 250_000  # rows per catalog file written, and the bound on what is held in memory
    replace: bool = False  # the catalog already holds this instrument's data of this kind: replace it


class InstrumentTerms(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The instrument, as flags give it; what is None comes from the file (tick) or the kind's default."""

    instrument_id: str | None = None  # default: the file's name, on venue SIM (EURUSD.csv → EURUSD.SIM)
    kind: InstrumentKind | None = None  # default: fx for a six-letter pair of currencies, else asked for
    tick: float | None = None
    lot: float | None = None
    multiplier: float = 1.0
    maker_fee: float = 0.0
    taker_fee: float = 0.0
    base: str = ""
    quote: str = ""
    from_venue: Literal["okx"] | None = None  # the terms as the venue's instrument provider lists them
    venue_url: str | None = None  # the venue's REST base (default: its own)


@dataclass(slots=True)
class Gap:
    at: str  # the first row after the gap, as the file counts it ("EURUSD.csv line 62")
    after_ns: int
    length_ns: int


@dataclass(slots=True)
class ImportReport:
    catalog: Path
    instrument: Instrument
    kind: DataKind
    columns: str
    rows: int = 0
    files: int = 0
    first_ns: int = 0
    last_ns: int = 0
    bar_type: str | None = None
    tick_from_file: bool = False
    usual_step_ns: int = 0
    gaps: list[Gap] = field(default_factory=list)
    gap_count: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        i = self.instrument
        span = f"{_iso(self.first_ns)} → {_iso(self.last_ns)}" if self.rows else "no rows"
        out = [
            f"imported {self.rows:,} {self.kind} ({self.columns}) in {self.seconds:.1f} s: {span}",
            f"instrument {i.id} {describe(i)}{' (the tick from the prices)' if self.tick_from_file else ''}",
        ]
        if self.bar_type:
            out.append(f"bars {self.bar_type}")
        if self.gap_count:
            largest = ", ".join(f"{_span(g.length_ns)} after {_iso(g.after_ns)} ({g.at})" for g in self.gaps)
            out.append(f"{self.gap_count} gap(s) longer than the usual step ({_span(self.usual_step_ns)}) × the gap "
                       f"factor; the largest: {largest}")
        out.append(f"catalog {self.catalog} ({self.files} file(s) written)")
        return out


def source_format(path: Path) -> SourceFormat:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        if is_catalog(path):
            return "catalog"
        raise DataError(f"{path} is a folder but not a NautilusTrader catalog (no data/ inside)")
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if any(name.endswith(suffix) for suffix in (".csv", ".csv.gz", ".csv.bz2", ".csv.zst", ".txt", ".tsv")):
        return "csv"
    raise DataError(f"{path}: cannot tell the format from the name; give --format csv or parquet")


class _Counting:
    """A binary file that counts the bytes read from it: the progress of a CSV import."""

    def __init__(self, raw: IO[bytes], progress: Callable[[int], None]) -> None:
        self._raw, self._progress = raw, progress
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._progress(len(data))
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True
        self._raw.close()


def _csv_batches(path: Path, progress: Callable[[int], None]) -> Iterator[pa.RecordBatch]:
    name = path.name.lower()
    stream: Any = _Counting(open(path, "rb"), progress)  # noqa: SIM115 (closed by pyarrow's reader)
    for suffix, codec in ((".gz", "gzip"), (".bz2", "bz2"), (".zst", "zstd")):
        if name.endswith(suffix):
            stream = pa.CompressedInputStream(stream, codec)
    delimiter = "\t" if name.endswith((".tsv", ".tsv.gz")) else ","
    # Times are read as text and parsed by columns.to_ns, so a zone-less time is read in the zone the user names.
    reader = pacsv.open_csv(stream, read_options=pacsv.ReadOptions(block_size=4 << 20),
                            parse_options=pacsv.ParseOptions(delimiter=delimiter),
                            convert_options=pacsv.ConvertOptions(timestamp_parsers=[]))
    yield from reader


def _parquet_batches(path: Path, progress: Callable[[int], None]) -> Iterator[pa.RecordBatch]:
    with pq.ParquetFile(path) as parquet:
        for batch in parquet.iter_batches(batch_size=65_536):
            progress(batch.num_rows)
            yield batch


@dataclass(slots=True)
class _Chunk:
    """Checked rows waiting to be written: per field, a list of arrays."""

    parts: dict[str, list[np.ndarray]] = field(default_factory=dict)
    rows: int = 0

    def add(self, columns: dict[str, np.ndarray]) -> None:
        for name, values in columns.items():
            self.parts.setdefault(name, []).append(values)
        self.rows += len(columns["ts"])

    def take(self) -> dict[str, np.ndarray]:
        merged = {name: np.concatenate(values) for name, values in self.parts.items()}
        self.parts, self.rows = {}, 0
        return merged


class RowChecker:
    """The checks that span blocks: order, gaps and the tick; a DataError names the first offending row."""

    def __init__(self, kind: DataKind, options: ImportOptions, where: Callable[[int], str]) -> None:
        self.kind, self.options, self.where = kind, options, where
        self.last_ns: int | None = None
        self.usual_step_ns = 0
        self.gaps: list[Gap] = []
        self.gap_count = 0
        self.tick: float | None = None

    def check(self, first_row: int, ts: np.ndarray, values: dict[str, np.ndarray]) -> None:
        for name in PRICES[self.kind]:
            bad = np.flatnonzero(~(values[name] > 0) | ~np.isfinite(values[name]))
            if len(bad):
                row = first_row + int(bad[0])
                raise DataError(f"{self.where(row)}: {name} is {_n(values[name][bad[0]])} (a price must be a positive "
                                f"number)")
        for name in SIZES[self.kind]:
            if name in values:
                bad = np.flatnonzero(~(values[name] >= 0))
                if len(bad):
                    raise DataError(f"{self.where(first_row + int(bad[0]))}: {name} is {_n(values[name][bad[0]])} "
                                    f"(a size must be a number ≥ 0)")
        if self.kind == "quotes":
            crossed = np.flatnonzero(values["bid"] > values["ask"])
            if len(crossed):
                i = int(crossed[0])
                raise DataError(f"{self.where(first_row + i)}: crossed book, bid {_n(values['bid'][i])} above ask "
                                f"{_n(values['ask'][i])}")
        if self.kind == "bars":
            o, h, low, c = (values[name] for name in ("open", "high", "low", "close"))
            bad = np.flatnonzero((h < np.maximum(np.maximum(o, c), low)) | (low > np.minimum(o, c)))
            if len(bad):
                i = int(bad[0])
                raise DataError(f"{self.where(first_row + i)}: the bar's high {_n(h[i])} and low {_n(low[i])} do not "
                                f"bound its open {_n(o[i])} and close {_n(c[i])}")
        self._check_order(first_row, ts)
        self.check_tick(first_row, values)

    def _check_order(self, first_row: int, ts: np.ndarray) -> None:
        previous = np.concatenate(([ts[0] if self.last_ns is None else self.last_ns], ts[:-1]))
        steps = ts - previous
        back = np.flatnonzero(steps < 0)
        if len(back):
            i = int(back[0])
            raise DataError(f"{self.where(first_row + i)}: time {_iso(int(ts[i]))} is before the previous row's "
                            f"{_iso(int(previous[i]))} (the rows must be in time order)")
        if self.kind != "trades":
            same = np.flatnonzero(steps == 0)[int(self.last_ns is None):]  # the very first row has no previous
            if len(same):
                i = int(same[0])
                raise DataError(f"{self.where(first_row + i)}: time {_iso(int(ts[i]))} repeats the previous row's "
                                f"(one {self.kind[:-1]} per instant)")
        if not self.usual_step_ns:
            positive = steps[steps > 0]
            self.usual_step_ns = int(np.median(positive)) if len(positive) else 0
        if self.usual_step_ns:
            long_steps = np.flatnonzero(steps > self.options.gap_factor * self.usual_step_ns)
            if len(long_steps) and self.options.gaps == "fail":
                i = int(long_steps[0])
                raise DataError(f"{self.where(first_row + i)}: a gap of {_span(int(steps[i]))} after "
                                f"{_iso(int(previous[i]))} (the usual step is {_span(self.usual_step_ns)}; --gaps "
                                f"report imports it and lists the gaps)")
            self.gap_count += len(long_steps)
            self.gaps.extend(Gap(self.where(first_row + int(i)), int(previous[i]), int(steps[i])) for i in long_steps)
            self.gaps = sorted(self.gaps, key=lambda gap: -gap.length_ns)[:5]
        self.last_ns = int(ts[-1])

    def check_tick(self, first_row: int, values: dict[str, np.ndarray]) -> None:
        prices = np.concatenate([values[name] for name in PRICES[self.kind]])
        if self.tick is None:
            self.tick = 10.0 ** -price_decimals(prices)
        off = off_tick(prices, self.tick)
        if len(off):
            i = int(off[0]) % len(values[PRICES[self.kind][0]])
            raise DataError(f"{self.where(first_row + i)}: price {_n(prices[int(off[0])])} is not a multiple of the "
                            f"tick {self.tick:g} (give the instrument's --tick, or fix the row)")


def price_decimals(prices: np.ndarray, most: int = 10) -> int:
    """The fewest decimals that write every price exactly (to floating-point rounding): the tick's exponent."""
    for places in range(most + 1):
        scaled = prices * 10.0 ** places
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-6 * np.maximum(1.0, np.abs(scaled))):
            return places
    raise DataError(f"prices have more than {most} decimals: give the instrument's --tick")


def bar_spec(step_ns: int) -> str:
    """A Nautilus bar specification's step and aggregation for a bar length: 3_600e9 ns → 1-HOUR."""
    if step_ns >= 27 * _DAY_NS:
        return f"{max(1, round(step_ns / _MONTH_NS))}-MONTH"
    for unit, size in _UNITS_NS:
        if step_ns % size == 0:
            return f"{step_ns // size}-{unit}"
    raise DataError(f"bars {step_ns} ns apart: give their length with --bar, e.g. 1-MINUTE")


def _bar_length(spec: str, opens_ns: np.ndarray) -> np.ndarray:
    """Each bar's length in ns: fixed, or a calendar month's for MONTH bars."""
    step, _, unit = spec.partition("-")
    if unit == "MONTH":
        opens = pd.to_datetime(opens_ns, utc=True)
        return np.asarray((opens + pd.DateOffset(months=int(step))).asi8 - opens.asi8, np.int64)
    size = dict(_UNITS_NS).get(unit)
    if size is None or not step.isdigit():
        raise DataError(f"--bar {spec!r}: use STEP-UNIT with UNIT one of MILLISECOND, SECOND, MINUTE, HOUR, DAY, "
                        f"WEEK, MONTH (e.g. 1-HOUR)")
    return np.full(len(opens_ns), int(step) * size, np.int64)


def default_instrument_id(path: Path) -> str:
    stem = path.name.split(".")[0] if path.is_file() else path.name
    symbol = "".join(ch for ch in stem.upper() if ch.isalnum() or ch in "-/_") or "DATA"
    return f"{symbol}.SIM"


def _spec(terms: InstrumentTerms, path: Path, tick: float, size_places: int) -> InstrumentSpec:
    instrument_id = terms.instrument_id or default_instrument_id(path)
    if terms.from_venue == "okx":
        listed = okx_instrument(instrument_id, terms.venue_url)
        # OKX lists no fees publicly (they are the account's): the flags give them
        return InstrumentSpec(
            instrument_id=instrument_id, kind="perp" if isinstance(listed, CryptoPerpetual) else "spot",
            tick=listed.price_increment.as_double(), lot=listed.size_increment.as_double(),
            multiplier=listed.multiplier.as_double(), maker_fee=terms.maker_fee, taker_fee=terms.taker_fee,
            base=str(listed.base_currency), quote=str(listed.quote_currency),
            max_quantity=listed.max_quantity.as_double() if listed.max_quantity is not None else 0.0)
    kind = terms.kind
    if kind is None:
        symbol = instrument_id.split(".")[0].upper()
        if len(symbol) == 6 and symbol[:3] in _FIAT and symbol[3:] in _FIAT:
            kind = "fx"
        else:
            raise DataError(f"what is {instrument_id}? give --kind fx, equity, spot or perp")
    lot = terms.lot if terms.lot is not None else (1.0 if kind in ("fx", "equity") else 10.0 ** -size_places)
    spec = InstrumentSpec(instrument_id=instrument_id, kind=kind, tick=terms.tick or tick, lot=lot,
                          multiplier=terms.multiplier, maker_fee=terms.maker_fee, taker_fee=terms.taker_fee,
                          base=terms.base, quote=terms.quote)
    currencies(spec)  # a symbol whose currencies cannot be told fails before any row is written
    return spec


class CatalogWriter:
    """Builds Nautilus objects from checked columns and writes them, one file a chunk, into a staging catalog beside
    the target's data; `commit` moves them in, `abandon` deletes them: an import that fails leaves the catalog as it
    was."""

    def __init__(self, target: Path, instrument: Instrument, kind: DataKind, bar_type: BarType | None,
                 replace: bool) -> None:
        self.instrument, self.kind, self.bar_type = instrument, kind, bar_type
        self.files = 0
        self._target = target
        identifier = str(bar_type) if bar_type is not None else str(instrument.id)
        self._doomed: list[Path] = []  # what the commit replaces
        known = ([i for i in ParquetDataCatalog(str(target)).instruments() if i.id == instrument.id]
                 if (target / "data").is_dir() else [])
        if known and describe(known[0]) != describe(instrument):
            if not replace:
                raise DataError(f"the catalog defines {instrument.id} otherwise ({describe(known[0])}; this import: "
                                f"{describe(instrument)}): --replace to replace it and its data")
            data = target / "data"
            self._doomed += [*data.glob(f"*/{instrument.id}"), *data.glob(f"bar/{instrument.id}-*")]
        existing = target / "data" / CATALOG_FOLDERS[kind] / identifier
        if existing.exists() and any(existing.iterdir()):
            if not replace:
                raise DataError(f"the catalog already holds {kind} of {identifier} ({existing}): --replace to "
                                f"replace them, or another --catalog")
            self._doomed.append(existing)
        self._staging = target / f".import-{os.getpid()}-{time.time_ns()}"
        self.catalog = ParquetDataCatalog(str(self._staging))
        self.catalog.write_data([instrument])

    def commit(self) -> None:
        for folder in self._doomed:
            shutil.rmtree(folder, ignore_errors=True)
        for leaf in sorted((self._staging / "data").glob("*/*")):
            destination = self._target / "data" / leaf.parent.name / leaf.name
            if destination.exists():  # the instrument, defined as the catalog already defines it
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            leaf.rename(destination)
        self.abandon()

    def abandon(self) -> None:
        shutil.rmtree(self._staging, ignore_errors=True)

    def write(self, c: dict[str, np.ndarray]) -> None:
        i = self.instrument
        ts = c["ts"].astype(np.uint64)
        data: list[Any]
        if self.kind == "quotes":
            data = QuoteTick.from_raw_arrays_to_list(i.id, i.price_precision, i.size_precision, c["bid"], c["ask"],
                                                     c["bid_size"], c["ask_size"], ts, ts.copy())
        elif self.kind == "trades":
            data = TradeTick.from_raw_arrays_to_list(i.id, i.price_precision, i.size_precision, c["price"],
                                                     c["volume"], c["side"], [str(t) for t in c["trade_id"]], ts,
                                                     ts.copy())
        else:
            assert self.bar_type is not None
            data = Bar.from_raw_arrays_to_list(self.bar_type, i.price_precision, i.size_precision, c["open"],
                                               c["high"], c["low"], c["close"], c["volume"], ts, ts.copy())
        self.catalog.write_data(data)
        self.files += 1


def _aggressor(column: pa.ChunkedArray | pa.Array, where: Callable[[int], str], first_row: int) -> np.ndarray:
    """Nautilus' AggressorSide codes (0 none, 1 buyer, 2 seller) from buy/sell words or is_buyer_maker flags."""
    if pa.types.is_boolean(column.type):  # is_buyer_maker: the seller took the bid
        flags = np.asarray(column.to_numpy(zero_copy_only=False), bool)
        return np.where(flags, 2, 1).astype(np.uint8)
    words = [str(value).strip().lower() for value in column.to_pylist()]
    codes = {"buy": 1, "b": 1, "buyer": 1, "bid": 1, "sell": 2, "s": 2, "seller": 2, "ask": 2, "": 0, "none": 0}
    out = np.zeros(len(words), np.uint8)
    for row, word in enumerate(words):
        if word not in codes:
            raise DataError(f"{where(first_row + row)}: side {word!r} is not buy or sell")
        out[row] = codes[word]
    return out


def import_data(path: Path, catalog_path: Path, terms: InstrumentTerms | None = None,
                options: ImportOptions | None = None, progress: Callable[[int, int], None] | None = None
                ) -> ImportReport:
    """Import `path` into the catalog at `catalog_path`; `progress(done, total)` is told as the file is read
    (bytes for CSV, rows for Parquet and catalogs)."""
    terms, options = terms or InstrumentTerms(), options or ImportOptions()
    started = time.perf_counter()
    if not path.exists():
        raise DataError(f"{path}: no such file")
    fmt = options.source_format or source_format(path)
    if fmt == "catalog":
        return copy_catalog(path, catalog_path, terms, options, progress, started)
    total = path.stat().st_size if fmt == "csv" else pq.ParquetFile(path).metadata.num_rows
    done = 0

    def advance(amount: int) -> None:
        nonlocal done
        done += amount
        if progress is not None:
            progress(done, total)

    batches = _csv_batches(path, advance) if fmt == "csv" else _parquet_batches(path, advance)
    header = 1 if fmt == "csv" else 0
    return _import_batches(path, batches, catalog_path, terms, options, started,
                           lambda row: f"{path.name} line {row + header}" if header else f"{path.name} row {row}")


def _import_batches(path: Path, batches: Iterator[pa.RecordBatch], catalog_path: Path, terms: InstrumentTerms,
                    options: ImportOptions, started: float, where: Callable[[int], str]) -> ImportReport:
    try:
        first = next(batches)
    except StopIteration:
        raise DataError(f"{path}: no rows") from None
    except pa.ArrowInvalid as error:
        raise DataError(f"{path}: {error}") from None
    names = first.schema.names
    columns = detect(names, options.columns, options.kind)
    kind = columns.kind
    checker = RowChecker(kind, options, where)
    pending = _Chunk()
    writer: CatalogWriter | None = None
    report: ImportReport | None = None
    row = 1
    bar_length: str | None = options.bar
    try:
        for batch in _with_first(first, batches, path):
            if batch.num_rows == 0:
                continue
            values = _columns(batch, columns, options, row, where)
            ts = values.pop("ts")
            if kind == "bars":
                if bar_length is None:
                    steps = np.diff(ts)
                    positive = steps[steps > 0]
                    if not len(positive):
                        raise DataError(f"{path}: one bar cannot tell the bars' length: give --bar, e.g. 1-DAY")
                    bar_length = bar_spec(int(np.median(positive)))
                if options.bar_time == "open":
                    ts = ts + _bar_length(bar_length, ts)
            checker.check(row, ts, values)
            if writer is None:
                size_places = max((price_decimals(values[name][np.isfinite(values[name])], 8) for name in SIZES[kind]
                                   if name in values and kind != "bars"), default=0)
                assert checker.tick is not None
                spec = _spec(terms, path, checker.tick, size_places)
                if spec.tick != checker.tick:  # the tick given or listed, not the prices', is what rows sit on
                    checker.tick = spec.tick
                    checker.check_tick(row, values)
                instrument = build_instrument(spec, int(ts[0]))
                bar_type = None
                if kind == "bars":
                    assert bar_length is not None
                    price_type = options.price_type or ("MID" if spec.kind == "fx" else "LAST")
                    bar_type = BarType.from_str(f"{instrument.id}-{bar_length}-{price_type}-EXTERNAL")
                writer = CatalogWriter(catalog_path, instrument, kind, bar_type, options.replace)
                report = ImportReport(catalog_path, instrument, kind, columns.describe(), first_ns=int(ts[0]),
                                      tick_from_file=terms.tick is None and terms.from_venue is None,
                                      bar_type=str(bar_type) if bar_type else None)
            values["ts"] = ts
            pending.add(values)
            row += len(ts)
            if pending.rows >= options.chunk_rows:
                _flush(pending, writer, kind, final=False)
        assert writer is not None and report is not None
        _flush(pending, writer, kind, final=True)
        writer.commit()
    except BaseException:
        if writer is not None:
            writer.abandon()
        raise
    report.rows = row - 1
    report.last_ns = checker.last_ns or report.first_ns
    report.files = writer.files
    report.usual_step_ns, report.gaps, report.gap_count = checker.usual_step_ns, checker.gaps, checker.gap_count
    report.seconds = time.perf_counter() - started
    return report


def _with_first(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch], path: Path) -> Iterator[pa.RecordBatch]:
    yield first
    try:
        yield from rest
    except pa.ArrowInvalid as error:  # a malformed line further on (pyarrow names it)
        raise DataError(f"{path}: {error}") from None


def _flush(pending: _Chunk, writer: CatalogWriter, kind: DataKind, *, final: bool) -> None:
    if not pending.rows:
        return
    chunk = pending.take()
    if kind == "trades" and not final:
        # A catalog's files must cover disjoint time ranges: trades that share the last instant wait for the next.
        ts = chunk["ts"]
        cut = int(np.searchsorted(ts, ts[-1]))
        if cut == 0:
            pending.add(chunk)
            return
        pending.add({name: values[cut:] for name, values in chunk.items()})
        chunk = {name: values[:cut] for name, values in chunk.items()}
    writer.write(chunk)


def _columns(batch: pa.RecordBatch, columns: ColumnMap, options: ImportOptions, first_row: int,
             where: Callable[[int], str]) -> dict[str, np.ndarray]:
    """The batch's fields as arrays (times in ns, prices and sizes as float64, sides as Nautilus codes)."""
    source = {field: batch.column(batch.schema.get_field_index(name)) for field, name in columns.columns.items()}
    out: dict[str, np.ndarray] = {"ts": to_ns(source["ts"], tz=options.tz, unit=options.epoch_unit,
                                              first_row=first_row, where=where)}
    count = batch.num_rows
    for field_name in (*PRICES[columns.kind], *SIZES[columns.kind]):
        if field_name in source:
            out[field_name] = floats(source[field_name], field_name, first_row, where)
        elif field_name in SIZES[columns.kind]:
            out[field_name] = np.full(count, DEFAULT_DEPTH)
    if columns.kind == "trades":
        out["side"] = (_aggressor(source["side"], where, first_row) if "side" in source
                       else np.zeros(count, np.uint8))
        out["trade_id"] = (np.asarray(source["trade_id"].to_pylist(), dtype=object) if "trade_id" in source
                           else np.arange(first_row, first_row + count))
    return out


def _n(value: float) -> str:
    return repr(float(value))


def _iso(ns: int) -> str:
    return pd.Timestamp(ns, unit="ns", tz="UTC").isoformat().replace("+00:00", "Z")


def _span(ns: int) -> str:
    seconds = ns / 1e9
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def copy_catalog(source: Path, target: Path, terms: InstrumentTerms, options: ImportOptions,
                 progress: Callable[[int, int], None] | None, started: float) -> ImportReport:
    """Import a NautilusTrader catalog's market: its instrument as it is, its rows checked (as a file's are) and
    written to `target` one source file at a time. Importing a catalog into itself checks it and writes nothing."""
    if any(value for name, value in _given_terms(terms) if name != "instrument_id"):
        raise DataError("a catalog's instrument is imported as the catalog defines it: give only --instrument")
    market = open_market(source, terms.instrument_id)
    files = market.files()
    checker = RowChecker(market.kind, options, lambda row: f"{source.name} row {row}")
    checker.tick = market.instrument.price_increment.as_double()
    same = source.resolve() == target.resolve()
    report = ImportReport(target, market.instrument, market.kind, f"catalog {market.identifier}",
                          bar_type=market.identifier if market.kind == "bars" else None)
    writer = None if same else CatalogWriter(target, market.instrument, market.kind, market.bar_type,
                                             options.replace)
    catalog = ParquetDataCatalog(str(source))
    row = 1
    try:
        for number, file in enumerate(files, 1):
            rows = catalog.query(CLASSES[market.kind], identifiers=[market.identifier], files=[str(file)])
            if not rows:
                continue
            values = row_columns(market.kind, rows)
            ts = values.pop("ts").astype(np.int64)
            checker.check(row, ts, values)
            if report.rows == 0:
                report.first_ns = int(ts[0])
            report.rows += len(rows)
            row += len(rows)
            if writer is not None:
                writer.catalog.write_data(rows)
                writer.files += 1
            if progress is not None:
                progress(number, len(files))
        if report.rows == 0:
            raise DataError(f"catalog {source} has no rows of {market.identifier}")
        if writer is not None:
            writer.commit()
    except BaseException:
        if writer is not None:
            writer.abandon()
        raise
    report.last_ns = checker.last_ns or report.first_ns
    report.files = writer.files if writer is not None else 0
    report.usual_step_ns, report.gaps, report.gap_count = checker.usual_step_ns, checker.gaps, checker.gap_count
    report.seconds = time.perf_counter() - started
    return report


def _given_terms(terms: InstrumentTerms) -> list[tuple[str, Any]]:
    defaults = InstrumentTerms()
    return [(name, getattr(terms, name)) for name in terms.__struct_fields__
            if getattr(terms, name) != getattr(defaults, name)]

