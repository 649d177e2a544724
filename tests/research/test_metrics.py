"""Research's metrics count time in the data's own units: the same market sampled as seconds, minutes or hourly bars
has the same information ratio and the same annualised volatility."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sextant.market.book import centred_book
from sextant.research.data import Quotes, walk_forward
from sextant.research.families import SECONDS_PER_YEAR, window_features
from sextant.research.metrics import hold_curve, measure

START_NS = 1_767_225_600_000_000_000
SIGMA = 0.4  # annualised


def path(seconds: int, step_s: int, seed: int = 3) -> np.ndarray:
    """A geometric random walk with drift, a price every `step_s` seconds."""
    rng = np.random.default_rng(seed)
    dt = step_s / SECONDS_PER_YEAR
    returns = rng.normal((1.0 - SIGMA * SIGMA / 2) * dt, SIGMA * math.sqrt(dt), seconds // step_s)
    return 60_000.0 * np.exp(np.cumsum(returns))


def sampled(prices: np.ndarray, step_s: int, every: int) -> Quotes:
    """Every `every`-th price, as quotes (a one-tick book centred on it)."""
    price = prices[every - 1::every]
    ts = (START_NS + (np.arange(len(price)) + 1) * every * step_s * 1_000_000_000).astype(np.uint64)
    book = centred_book(ts, np.round(price, 1), 0.1)
    return Quotes(book.ts_ns, book.bid, book.ask, book.bid_size, book.ask_size)


def hourly_bars(prices: np.ndarray, step_s: int) -> Quotes:
    """The same walk as hourly bars: a row per bar at its close, the bars kept, as research reads a catalog."""
    per_bar = 3_600 // step_s
    rows = prices[:len(prices) // per_bar * per_bar].reshape(-1, per_bar)
    ts = (START_NS + (np.arange(len(rows)) + 1) * 3_600 * 1_000_000_000).astype(np.uint64)
    book = centred_book(ts, np.round(rows[:, -1], 1), 0.1)
    bars = (rows[:, 0], rows.max(axis=1), rows.min(axis=1), rows[:, -1], np.ones(len(rows)))
    return Quotes(book.ts_ns, book.bid, book.ask, book.bid_size, book.ask_size, bars=bars,
                  bar_type="BTC-USDT-SWAP.OKX-1-HOUR-LAST-EXTERNAL")


def hold_ir(quotes: Quotes) -> tuple[float, float]:
    """Hold's IR over the whole series, and the periods a year it was annualised by."""
    features = window_features(quotes.ts_ns, quotes.bid, quotes.ask)
    equity = hold_curve(features, float(quotes.ask[0]), 1.0, 0.01, 0.0005)
    metrics = measure(features, equity, 1.0, 60.0, 0.01)
    return metrics.ir, metrics.periods_per_year


def test_hold_has_the_same_ir_on_ten_second_quotes_minute_quotes_and_hourly_bars() -> None:
    """Within 5 %: the returns' mean is the same market's, and their volatility measured at 60 s and at an hour
    differs by its sampling error (about 1.3 % on 2,880 hours). Counted as one a minute, hourly returns would give an
    IR √60 ≈ 7.7 times too large."""
    prices = path(120 * 86_400, 10)
    irs = {"10 s quotes": hold_ir(sampled(prices, 10, 1)), "1 min quotes": hold_ir(sampled(prices, 10, 6)),
           "hourly bars": hold_ir(hourly_bars(prices, 10))}
    reference = irs["hourly bars"][0]
    assert reference > 1.0, irs  # a drift the test can see
    for ir, _ in irs.values():
        assert ir == pytest.approx(reference, rel=0.05), irs
    assert irs["1 min quotes"][1] == pytest.approx(SECONDS_PER_YEAR / 60, rel=0.01)
    assert irs["hourly bars"][1] == pytest.approx(SECONDS_PER_YEAR / 3_600, rel=0.01)


def test_volatility_is_annualised_by_the_datas_own_buckets() -> None:
    """What vol_target sizes by: one bucket's volatility times √(buckets a year), the same on seconds and on bars."""
    prices = path(120 * 86_400, 10)
    for quotes, step_s in ((sampled(prices, 10, 1), 10.0), (hourly_bars(prices, 10), 3_600.0)):
        features = window_features(quotes.ts_ns, quotes.bid, quotes.ask)
        assert features.step_s == step_s
        annual = float(np.std(np.diff(np.log(features.close)))) * math.sqrt(features.buckets_per_year)
        assert annual == pytest.approx(SIGMA, rel=0.05)


def test_a_window_of_a_split_counts_its_own_calendar() -> None:
    quotes = hourly_bars(path(60 * 86_400, 60), 60)
    for window in walk_forward(quotes, 3, 0.25).selection:
        features = window_features(window.ts_ns, window.bid, window.ask)
        assert features.t_s[0] == 0 and features.buckets_per_year == pytest.approx(8_760, rel=0.01)
