"""What a table of market data holds: quotes, trades or OHLCV bars, in which of its columns, and its times in ns.

The common spellings are found by themselves (`Bid`, `bid_price`, `best_bid`, `Open`, `o`, `Close`, `timestamp`,
`Local time`, an unnamed first column that pandas wrote as the index…); `--columns ts=Time,bid=B` names any that
are not. A table with a bid and an ask is quotes; else open, high, low and close make bars; else a price makes
trades. Times are ISO-8601 text (a zone-less time is in `tz`), dates, Arrow timestamps, or epoch numbers whose
unit (s, ms, µs, ns) is read from their size unless given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

DataKind = Literal["quotes", "trades", "bars"]
DATA_KINDS: tuple[DataKind, ...] = ("quotes", "bars", "trades")
EpochUnit = Literal["s", "ms", "us", "ns"]

# Field → accepted spellings, after `normalise` (lower case, runs of other characters as one "_").
SPELLINGS: dict[str, tuple[str, ...]] = {
    "ts": ("ts_event", "timestamp", "time", "datetime", "date", "ts", "t", "open_time", "local_time", "gmt_time",
           "time_utc", "date_time", "", "unnamed_0", "index"),
    "bid": ("bid", "bid_price", "bidprice", "best_bid", "bid_px", "bidpx", "best_bid_price"),
    "ask": ("ask", "ask_price", "askprice", "best_ask", "ask_px", "askpx", "offer", "best_ask_price"),
    "bid_size": ("bid_size", "bidsize", "bid_qty", "bid_volume", "bid_sz", "bid_amount", "best_bid_size"),
    "ask_size": ("ask_size", "asksize", "ask_qty", "ask_volume", "ask_sz", "ask_amount", "best_ask_size"),
    "open": ("open", "o", "open_price"),
    "high": ("high", "h", "high_price"),
    "low": ("low", "l", "low_price"),
    "close": ("close", "c", "close_price", "adj_close"),
    "volume": ("volume", "vol", "v", "base_volume", "qty", "quantity", "size", "amount"),
    "price": ("price", "px", "last", "last_price", "trade_price"),
    "side": ("side", "aggressor_side", "taker_side", "is_buyer_maker"),
    "trade_id": ("trade_id", "tradeid", "id", "tid"),
}
REQUIRED: dict[DataKind, tuple[str, ...]] = {
    "quotes": ("ts", "bid", "ask"),
    "trades": ("ts", "price"),
    "bars": ("ts", "open", "high", "low", "close"),
}
OPTIONAL: dict[DataKind, tuple[str, ...]] = {
    "quotes": ("bid_size", "ask_size"),
    "trades": ("volume", "side", "trade_id"),
    "bars": ("volume",),
}
PRICES: dict[DataKind, tuple[str, ...]] = {
    "quotes": ("bid", "ask"), "trades": ("price",), "bars": ("open", "high", "low", "close")}
SIZES: dict[DataKind, tuple[str, ...]] = {
    "quotes": ("bid_size", "ask_size"), "trades": ("volume",), "bars": ("volume",)}
_EPOCH_LIMITS: tuple[tuple[float, EpochUnit], ...] = ((1e11, "s"), (1e14, "ms"), (1e17, "us"))  # below: the unit
_NS_PER: dict[str, int] = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


class DataError(ValueError):
    """Data that cannot be imported as it is; the message names the row (or the column) and what to do."""


def normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """The table's kind and, for each field it has, the column that holds it."""

    kind: DataKind
    columns: Mapping[str, str]

    def describe(self) -> str:
        return ", ".join(f"{field}={column or '(unnamed)'}" for field, column in self.columns.items())


def parse_mapping(text: str | None) -> dict[str, str]:
    """`ts=Time,bid=B` → {"ts": "Time", "bid": "B"}; a field this module does not know is refused."""
    if not text:
        return {}
    mapping: dict[str, str] = {}
    for part in text.split(","):
        field, sep, column = part.partition("=")
        field = field.strip()
        if not sep or field not in SPELLINGS:
            raise DataError(f"--columns {part!r}: use FIELD=COLUMN with FIELD one of {', '.join(SPELLINGS)}")
        mapping[field] = column.strip()
    return mapping


def detect(names: Sequence[str], explicit: Mapping[str, str] | None = None, kind: DataKind | None = None) -> ColumnMap:
    """The kind of table and where each field is: `explicit` first, then the known spellings."""
    explicit = dict(explicit or {})
    missing_named = [column for column in explicit.values() if column not in names]
    if missing_named:
        raise DataError(f"--columns names {missing_named}, which the file does not have (it has {list(names)})")
    found: dict[str, str] = dict(explicit)
    by_normal = {normalise(name): name for name in reversed(names)}  # the first of two equal spellings wins
    for field, spellings in SPELLINGS.items():
        if field in found:
            continue
        for spelling in spellings:
            if spelling in by_normal and by_normal[spelling] not in found.values():
                found[field] = by_normal[spelling]
                break
    if kind is None:  # quotes before bars before trades: a bar file may also have a price column
        kind = next((k for k in DATA_KINDS if all(f in found for f in REQUIRED[k])), None)
    if kind is None or any(field not in found for field in REQUIRED[kind]):
        wanted = (", ".join(REQUIRED[kind]) if kind
                  else "ts with bid and ask (quotes), open/high/low/close (bars) or price (trades)")
        raise DataError(f"cannot tell which columns hold {wanted} in {list(names)}: name them with --columns, "
                        f"e.g. --columns ts=Time,bid=BidPrice,ask=AskPrice")
    keep = (*REQUIRED[kind], *OPTIONAL[kind])
    return ColumnMap(kind, {field: found[field] for field in keep if field in found})


def epoch_unit(values: np.ndarray) -> EpochUnit:
    """s, ms, µs or ns, from the size of the first value (a time after 1973 and before 5138 in any unit)."""
    first = float(np.abs(values[0]))
    return next((unit for limit, unit in _EPOCH_LIMITS if first < limit), "ns")


def off_tick(prices: np.ndarray, tick: float) -> np.ndarray:
    """The indexes of the prices that are not a whole number of ticks (to floating-point rounding)."""
    steps = prices / tick
    return np.flatnonzero(np.abs(steps - np.round(steps)) > 1e-6 * np.maximum(1.0, np.abs(steps)) + 1e-9)


def row_name(row: int) -> str:
    return f"row {row}"


def to_ns(column: pa.ChunkedArray | pa.Array, *, tz: str = "UTC", unit: EpochUnit | None = None,
          first_row: int = 1, where: Callable[[int], str] = row_name) -> np.ndarray:
    """Nanoseconds since the epoch (int64) for a time column whose first value is row `first_row`; a row that is
    not a time is a DataError naming it as `where` names rows (a CSV's lines)."""
    kind = column.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        if pa.types.is_date(kind):
            column = column.cast(pa.timestamp("s"))
        stamps = pd.Series(column.to_pandas())
        if stamps.dt.tz is None:
            stamps = stamps.dt.tz_localize(tz, ambiguous="raise", nonexistent="raise")
        return _checked(stamps.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").array.asi8, column, first_row,
                        where)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        values = np.asarray(column.to_numpy(zero_copy_only=False), np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise DataError(f"{where(first_row + int(bad[0]))}: the time is empty or not a number")
        chosen = unit or epoch_unit(values)
        if pa.types.is_integer(kind):
            return np.asarray(column.to_numpy(zero_copy_only=False), np.int64) * _NS_PER[chosen]
        return np.round(values * _NS_PER[chosen]).astype(np.int64)
    text = pd.Series(pc.cast(column, pa.string()).to_pandas())
    try:
        stamps = pd.to_datetime(text, format="ISO8601")
    except (ValueError, TypeError):
        stamps = pd.to_datetime(text, errors="coerce", format="mixed")
    bad = np.flatnonzero(stamps.isna().to_numpy())
    if len(bad):
        raise DataError(f"{where(first_row + int(bad[0]))}: {text.iloc[int(bad[0])]!r} is not a time")
    if stamps.dt.tz is None:
        stamps = stamps.dt.tz_localize(tz, ambiguous="raise", nonexistent="raise")
    return stamps.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").array.asi8


def _checked(ns: np.ndarray, column: pa.ChunkedArray | pa.Array, first_row: int, where: Callable[[int], str]
             ) -> np.ndarray:
    if column.null_count:
        row = int(np.flatnonzero(np.asarray(pc.is_null(column)))[0])
        raise DataError(f"{where(first_row + row)}: the time is empty")
    return ns


def floats(column: pa.ChunkedArray | pa.Array, name: str, first_row: int, where: Callable[[int], str] = row_name
           ) -> np.ndarray:
    """A numeric column as float64 (empty cells as NaN, which the checks then name)."""
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_decimal(column.type)
            or pa.types.is_null(column.type)):
        try:
            column = pc.cast(column, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            text = column.to_pylist()
            for row, value in enumerate(text):
                try:
                    float(value)
                except (TypeError, ValueError):
                    raise DataError(f"{where(first_row + row)}: {name} {value!r} is not a number") from None
            raise
    return np.asarray(pc.fill_null(pc.cast(column, pa.float64()), np.nan).to_numpy(zero_copy_only=False),
                      np.float64)
