"""Market features: momentum and realised volatility per horizon from one-second buckets, and the sea state."""

from __future__ import annotations

import math

import numpy as np

from sextant.market.features import SECONDS_PER_YEAR, MarketFeatures

NS = 1_000_000_000


def test_momentum_is_the_log_return_over_each_horizon() -> None:
    features = MarketFeatures(horizons_s=(10.0, 60.0), retain_s=120)
    for second in range(100):
        features.update(second * NS, 100.0 * math.exp(0.001 * second))
    assert math.isclose(features.momentum[0], 0.010, rel_tol=1e-9)
    assert math.isclose(features.momentum[1], 0.060, rel_tol=1e-9)


def test_momentum_uses_the_oldest_retained_price_before_a_horizon_is_full() -> None:
    features = MarketFeatures(horizons_s=(60.0,), retain_s=120)
    for second in range(5):
        features.update(second * NS, 100.0 + second)
    assert math.isclose(features.momentum[0], math.log(104.0 / 100.0))


def test_volatility_is_annualised_std_of_one_second_returns() -> None:
    rng = np.random.default_rng(0)
    returns = rng.normal(0, 1e-4, 600)
    prices = 100.0 * np.exp(np.cumsum(returns))
    features = MarketFeatures(horizons_s=(60.0, 300.0), retain_s=900)
    for second, price in enumerate(prices):
        features.update(second * NS, float(price))
        features.update(second * NS + NS // 2, float(price))  # a second quote in the same bucket changes nothing
    features.update(len(prices) * NS, float(prices[-1]))  # closes the last bucket
    expected = np.diff(np.log(prices))[-300:].std() * math.sqrt(SECONDS_PER_YEAR)
    assert math.isclose(features.volatility[1], expected, rel_tol=1e-9)


def test_sea_state_rises_in_a_storm_and_falls_in_calm() -> None:
    rng = np.random.default_rng(1)
    features = MarketFeatures(horizons_s=(10.0, 60.0), retain_s=1200)
    price, second = 100.0, 0
    for sigma, seconds in ((1e-4, 900), (1e-3, 120)):
        for _ in range(seconds):
            price *= math.exp(rng.normal(0, sigma))
            features.update(second * NS, price)
            second += 1
    storm = features.sea_state
    for _ in range(300):
        price *= math.exp(rng.normal(0, 2e-5))
        features.update(second * NS, price)
        second += 1
    assert storm > 0.6
    assert features.sea_state < 0.4


def test_bad_prices_are_ignored() -> None:
    features = MarketFeatures(horizons_s=(10.0,), retain_s=60)
    features.update(0, 100.0)
    for bad in (float("nan"), float("inf"), 0.0, -5.0):
        features.update(NS, bad)
    assert features.momentum[0] == 0.0


def test_predicted_path_follows_momentum_and_flattens_as_it_decays() -> None:
    from sextant.market.features import FORECAST_POINTS, MarketFeatures

    features = MarketFeatures()
    mid = 50_000.0
    for second in range(120):  # a steady climb of 1 bp a second
        mid *= 1.0001
        features.update(second * 1_000_000_000, mid)
    path = features.forecast_factors * mid
    assert len(path) == FORECAST_POINTS and np.all(np.diff(path) > 0) and path[0] > mid
    steps = np.diff(np.concatenate([[mid], path]))
    assert steps[-1] < steps[0] / 2, "the drift decays: later steps climb less"


def test_predicted_path_is_flat_without_momentum() -> None:
    from sextant.market.features import MarketFeatures

    features = MarketFeatures()
    for second in range(120):
        features.update(second * 1_000_000_000, 50_000.0)
    assert np.allclose(features.forecast_factors, 1.0)


def _exact_volatilities(closes: list[float], horizons: tuple[float, ...], retain: int) -> tuple[np.ndarray, float]:
    """The definition: population std of the retained one-second log returns per horizon (and all of them),
    annualised: what the rolling sums must reproduce."""
    returns = np.diff(np.log(np.array(closes[-retain:])))
    scale = math.sqrt(SECONDS_PER_YEAR)
    per_horizon = [float(returns[-int(h):].std()) * scale if len(returns[-int(h):]) > 1 else 0.0 for h in horizons]
    return np.array(per_horizon), float(returns.std()) * scale


def test_rolling_volatilities_match_the_exact_computation_over_a_long_series() -> None:
    """Calm, storm, a spike, flat water and a trend, with several quotes in some seconds and gaps in others, over
    many wraps of the ring and many exact recomputes: every bucket's volatilities agree to 1e-9 relative, and a
    window of unchanged prices reads exactly zero."""
    rng = np.random.default_rng(7)
    horizons, retain = (10.0, 60.0, 300.0), 400
    features = MarketFeatures(horizons_s=horizons, retain_s=retain)
    regimes = [(1e-4, 0.0, 1500), (2e-3, 0.0, 300), (0.0, 0.0, 40), (1e-5, 2e-4, 900), (1e-4, 0.0, 2000)]
    price, second, closes, checked = 30_000.0, 0, [], 0
    for sigma, drift, seconds in regimes:
        for step in range(seconds):
            if sigma and step == seconds // 2:
                price *= 1.05  # a spike that later leaves every window
            elif sigma:
                price *= math.exp(drift + rng.normal(0, sigma))
            if rng.random() < 0.05:
                second += 2  # a gap: no bucket for a second
            for quote in range(int(rng.integers(1, 4))):
                features.update(second * NS + quote * NS // 4, price)
            if len(closes) >= 3:  # this second's first quote closed the previous bucket
                expected, expected_long = _exact_volatilities(closes, horizons, retain)
                for got, want in zip([*features.volatility, features.long_volatility], [*expected, expected_long],
                                     strict=True):
                    assert got == want == 0.0 if want == 0.0 else math.isclose(got, want, rel_tol=1e-9), \
                        (second, got, want)
                checked += 1
            closes.append(price)
            second += 1
    assert checked > 4000
    assert features.volatility[0] > 0
