"""The offline market model: seeded, on the tick grid, and ranging from calm to storm."""

from __future__ import annotations

import numpy as np
import pytest

from sextant.market.model import MarketModel, MarketModelConfig

HOUR_OF_QUOTES = 36_000  # at 0.1 s a step


def generate(seed: int, count: int = HOUR_OF_QUOTES, batch: int = 5_000):  # noqa: ANN201
    model = MarketModel(MarketModelConfig(seed=seed))
    batches = [model.next_batch(min(batch, count - start)) for start in range(0, count, batch)]
    return {name: np.concatenate([getattr(b, name) for b in batches])
            for name in ("t_s", "bid", "ask", "bid_size", "ask_size", "regime", "jump")}


def test_same_seed_same_quotes_whatever_the_batching() -> None:
    one = generate(7, 10_000, batch=10_000)
    many = generate(7, 10_000, batch=333)
    for name in one:
        assert np.array_equal(one[name], many[name]), name


def test_a_different_seed_gives_a_different_market() -> None:
    assert not np.array_equal(generate(1, 2_000)["bid"], generate(2, 2_000)["bid"])


def test_quotes_are_on_the_tick_grid_and_never_crossed() -> None:
    quotes = generate(3)
    tick = MarketModelConfig().tick
    assert np.all(quotes["ask"] - quotes["bid"] >= tick - 1e-9)
    assert np.allclose(np.round(quotes["bid"] / tick), quotes["bid"] / tick, atol=1e-6)
    assert np.all(quotes["bid"] > 0) and np.all(quotes["bid_size"] >= 0.01) and np.all(quotes["ask_size"] >= 0.01)
    assert np.all(np.diff(quotes["t_s"]) > 0)


def test_the_sea_ranges_from_calm_to_storm() -> None:
    quotes = generate(11, 6 * HOUR_OF_QUOTES, batch=20_000)
    mid = (quotes["bid"] + quotes["ask"]) / 2
    returns = np.diff(np.log(mid))
    regime = quotes["regime"][1:]
    assert set(np.unique(regime)) == {0, 1, 2}
    calm, storm = returns[regime == 0].std(), returns[regime == 2].std()
    assert storm > 3 * calm
    spread = (quotes["ask"] - quotes["bid"])[1:]
    assert spread[regime == 2].mean() > spread[regime == 0].mean()


def test_volatility_clusters() -> None:
    quotes = generate(5, 3 * HOUR_OF_QUOTES, batch=20_000)
    mid = (quotes["bid"] + quotes["ask"]) / 2
    # Aggregate to 10 s returns so tick rounding does not dominate, then look at |r| autocorrelation.
    r = np.diff(np.log(mid[::100]))
    a = np.abs(r) - np.abs(r).mean()
    autocorrelation = float((a[1:] * a[:-1]).mean() / (a * a).mean())
    assert autocorrelation > 0.1


def test_jumps_happen_and_are_rarer_in_calm_water() -> None:
    quotes = generate(13, 6 * HOUR_OF_QUOTES, batch=20_000)
    jumps, regime = quotes["jump"], quotes["regime"]
    assert jumps.sum() > 0
    calm_rate = jumps[regime == 0].mean() if np.any(regime == 0) else 0.0
    storm_rate = jumps[regime == 2].mean()
    assert storm_rate > calm_rate


@pytest.mark.parametrize("bad", [{"garch_alpha": 0.5, "garch_beta": 0.6}, {"tick": 0.0}, {"start_price": -1.0}])
def test_an_invalid_model_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        MarketModel(MarketModelConfig(**bad))
