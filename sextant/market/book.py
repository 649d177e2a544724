"""The top of book the crew reads, where the data has none: synthesised from bars or trades.

- From bars: each bar is four prices in the order its path most likely took: the open, then the extreme nearer to
  the open, then the other, then the close (Nautilus' adaptive high/low ordering, which the backtest venue's bar
  execution uses too); spaced a quarter of the bar apart, the close at the bar's own time. In a backtest the crew
  sees each bar once, at its close (`StateEncoder.on_bar`): the venue executes the bar's path, the crew never sees a
  price before its time.
- From trades: each trade's price.
- Around each price, the narrowest book centred on it: bid HALF_SPREAD_TICKS below, ask as far above, with
  Nautilus' wranglers' default depth on each side (a bar's volume is the bar's, not the touch's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_DEPTH = 1_000_000.0  # Nautilus' wranglers' default volume
HALF_SPREAD_TICKS = 1


@dataclass(frozen=True, slots=True)
class Book:
    """A top of book as columns of one length: ts_ns (uint64), bid, ask, bid_size, ask_size (float64)."""

    ts_ns: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray


def bar_path(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Each bar's four prices in path order, shape (bars, 4): open, the extreme nearer the open, the other, close."""
    high_first = (high - open_) <= (open_ - low)
    second = np.where(high_first, high, low)
    third = np.where(high_first, low, high)
    return np.stack([open_, second, third, close], axis=1)


def bar_book(ts_close: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
             tick: float) -> Book:
    """Four quotes a bar (`bar_path`), a quarter of the bar apart, the last at its close."""
    if len(ts_close) == 0:
        return centred_book(np.zeros(0, np.uint64), np.zeros(0), tick)
    stamps = ts_close.astype(np.int64)
    steps = np.diff(stamps)
    length = np.concatenate(([np.median(steps) if len(steps) else 0], steps)).astype(np.int64)
    offsets = np.array([3, 2, 1, 0], np.int64)
    ts = (stamps[:, None] - (length[:, None] * offsets[None, :]) // 4).reshape(-1)
    return centred_book(ts.astype(np.uint64), bar_path(open_, high, low, close).reshape(-1), tick)


def centred_book(ts: np.ndarray, price: np.ndarray, tick: float) -> Book:
    """The narrowest book centred on each price: bid one tick below, ask one tick above, the default depth."""
    depth = np.full(len(price), DEFAULT_DEPTH)
    half = HALF_SPREAD_TICKS * tick
    return Book(ts, price - half, price + half, depth, depth.copy())
