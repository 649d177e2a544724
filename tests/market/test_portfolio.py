"""The offline market of several instruments: seeded, correlated, one regime for all, each on its own tick grid."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from sextant.market.instrument import OKX_SWAPS, okx_linear_swap
from sextant.market.model import QuoteBatch
from sextant.market.portfolio import PortfolioBatch, PortfolioModel, PortfolioModelConfig

FIELDS = ("t_s", "bid", "ask", "bid_size", "ask_size", "regime", "jump")
HOUR_OF_QUOTES = 36_000  # at 0.1 s a step
NO_JUMPS = (0.0, 0.0, 0.0)


def generate(config: PortfolioModelConfig, count: int, batch: int) -> dict[str, dict[str, np.ndarray]]:
    """Every instrument's quotes, as arrays by field, from `count` steps drawn `batch` at a time."""
    model = PortfolioModel(config)
    batches = [model.next_batch(min(batch, count - start)) for start in range(0, count, batch)]
    return {instrument_id: {name: np.concatenate([getattr(b[instrument_id], name) for b in batches])
                            for name in FIELDS}
            for instrument_id in model.instrument_ids}


def log_mids(quotes: dict[str, dict[str, np.ndarray]]) -> np.ndarray:
    """(instruments, steps) log-mids."""
    return np.stack([np.log((q["bid"] + q["ask"]) / 2) for q in quotes.values()])


class TestTheStreamIsTheSeeds:
    def test_same_seed_same_quotes_whatever_the_batching(self) -> None:
        one = generate(PortfolioModelConfig(seed=7), 10_000, batch=10_000)
        many = generate(PortfolioModelConfig(seed=7), 10_000, batch=333)
        for instrument_id, quotes in one.items():
            for name, values in quotes.items():
                assert np.array_equal(values, many[instrument_id][name]), (instrument_id, name)

    def test_a_different_seed_gives_a_different_market(self) -> None:
        first = generate(PortfolioModelConfig(seed=1), 2_000, batch=2_000)
        second = generate(PortfolioModelConfig(seed=2), 2_000, batch=2_000)
        for instrument_id in first:
            assert not np.array_equal(first[instrument_id]["bid"], second[instrument_id]["bid"])


class TestTheInstrumentsMoveTogether:
    def test_returns_are_correlated_as_configured(self) -> None:
        # Without jumps and clustering the configured matrix is the returns' correlation itself (with clustering,
        # each instrument's own GARCH variance pulls it a few hundredths below). 1 s returns: the tick grid's
        # rounding would blur 0.1 s ones.
        config = PortfolioModelConfig(seed=3, jumps_per_hour=NO_JUMPS, garch_alpha=0.0, garch_beta=0.0)
        returns = np.diff(log_mids(generate(config, 200_000, batch=50_000))[:, ::10], axis=1)
        realised = np.corrcoef(returns)
        configured = np.array(config.correlation)
        for i, j in zip(*np.triu_indices(len(configured), 1), strict=True):
            assert abs(realised[i, j] - configured[i, j]) < 0.05, (i, j, realised[i, j])

    def test_every_instrument_is_in_the_same_regime_and_wilder_in_a_storm(self) -> None:
        model = PortfolioModel(PortfolioModelConfig(seed=11))
        batch = model.next_batch(6 * HOUR_OF_QUOTES)
        assert isinstance(batch, PortfolioBatch) and len(batch) == 6 * HOUR_OF_QUOTES
        assert set(np.unique(batch.regime)) == {0, 1, 2}
        for quotes in batch.quotes:
            assert isinstance(quotes, QuoteBatch)
            assert quotes.regime is batch.regime and quotes.t_s is batch.t_s
            returns = np.diff(np.log((quotes.bid + quotes.ask) / 2))
            regime = batch.regime[1:]
            assert returns[regime == 2].std() > 2 * returns[regime == 0].std()
            spread = (quotes.ask - quotes.bid)[1:]
            assert spread[regime == 2].mean() > spread[regime == 0].mean()

    def test_a_jump_moves_the_whole_market_mostly_one_way(self) -> None:
        config = PortfolioModelConfig(seed=5, jumps_per_hour=(60.0, 60.0, 60.0))
        quotes = generate(config, 50_000, batch=50_000)
        jumps = [q["jump"] for q in quotes.values()]
        assert all(np.array_equal(jumps[0], other) for other in jumps[1:]) and jumps[0].sum() > 20
        returns = np.diff(log_mids(quotes), axis=1)[:, jumps[0][1:]]
        assert np.mean(np.sign(returns[0]) == np.sign(returns[1])) > 0.7


class TestEveryQuoteIsOneTheVenueCouldShow:
    def test_prices_on_each_instruments_tick_and_sizes_on_its_lot(self) -> None:
        config = PortfolioModelConfig(seed=13)
        quotes = generate(config, HOUR_OF_QUOTES, batch=10_000)
        for instrument in config.instruments:
            q, tick, lot = quotes[instrument.spec.instrument_id], instrument.spec.tick, instrument.spec.lot
            for price in (q["bid"], q["ask"]):
                assert np.allclose(np.round(price / tick), price / tick, atol=1e-6)
            assert np.all(q["ask"] - q["bid"] >= tick - 1e-9) and np.all(q["bid"] > 0)
            for size in (q["bid_size"], q["ask_size"]):
                assert np.all(size >= lot) and np.allclose(np.round(size / lot), size / lot, atol=1e-6)
            assert np.all(np.diff(q["t_s"]) > 0)


class TestTheDefaultPortfolioIsOkxs:
    def test_btc_eth_and_sol_swaps_as_okx_defines_them(self) -> None:
        config = PortfolioModelConfig()
        assert [instrument.spec for instrument in config.instruments] == list(OKX_SWAPS.values())
        eth, sol = okx_linear_swap("ETH-USDT-SWAP.OKX"), okx_linear_swap("SOL-USDT-SWAP.OKX")
        assert (str(eth.multiplier), str(eth.price_increment), str(eth.size_increment)) == ("0.1", "0.01", "0.01")
        assert (str(sol.multiplier), str(sol.price_increment), str(sol.size_increment)) == ("1.0", "0.01", "0.01")
        assert (float(sol.maker_fee), float(sol.taker_fee), str(eth.base_currency)) == (0.0002, 0.0005, "ETH")

    def test_an_unknown_swap_is_refused_naming_the_known_ones(self) -> None:
        with pytest.raises(ValueError, match="BTC-USDT-SWAP, ETH-USDT-SWAP, SOL-USDT-SWAP only, not DOGE"):
            okx_linear_swap("DOGE-USDT-SWAP.OKX")


@pytest.mark.parametrize(("correlation", "problem"), [
    (((1.0, 0.8, 0.7), (0.5, 1.0, 0.75), (0.7, 0.75, 1.0)), "not symmetric"),
    (((1.0, 0.9, -0.9), (0.9, 1.0, 0.9), (-0.9, 0.9, 1.0)), "not positive definite"),
    (((1.0, 0.8), (0.8, 1.0)), "must be 3 × 3"),
    (((1.0, 0.8, 0.7), (0.8, 0.9, 0.75), (0.7, 0.75, 1.0)), "diagonal must be 1"),
    (((1.0, 0.8, 0.7), (0.8, 1.0, float("nan")), (0.7, float("nan"), 1.0)), "not a finite number"),
])
def test_a_matrix_that_is_no_correlation_is_refused_by_name(correlation: tuple[tuple[float, ...], ...],
                                                            problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        PortfolioModelConfig(correlation=correlation)


def test_a_portfolio_holds_each_instrument_once_and_at_least_one() -> None:
    btc = PortfolioModelConfig().instruments[0]
    with pytest.raises(ValueError, match="at least one instrument"):
        PortfolioModelConfig(instruments=(), correlation=())
    with pytest.raises(ValueError, match=r"BTC-USDT-SWAP\.OKX repeats"):
        PortfolioModelConfig(instruments=(btc, btc), correlation=((1.0, 0.5), (0.5, 1.0)))
    with pytest.raises(ValueError, match="vol_scale must be positive"):
        msgspec.structs.replace(btc, vol_scale=0.0)
    with pytest.raises(ValueError, match="garch_alpha"):
        PortfolioModel(PortfolioModelConfig(garch_alpha=0.5, garch_beta=0.6))


def test_a_single_instrument_portfolio_is_a_market_of_its_own() -> None:
    btc = PortfolioModelConfig().instruments[0]
    batch = PortfolioModel(PortfolioModelConfig(instruments=(btc,), correlation=((1.0,),))).next_batch(1_000)
    assert batch.instrument_ids == ("BTC-USDT-SWAP.OKX",) and len(batch["BTC-USDT-SWAP.OKX"]) == 1_000
