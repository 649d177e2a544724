"""The research kernels read the market as the live crew does: the same features, the same z-scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sextant.market.features import MarketFeatures
from sextant.research.data import model_quotes
from sextant.research.families import FAMILIES, HORIZONS_S, momentum_z, quote_window_z, window_features
from sextant.research.hypothesis import baseline, make, mutate, proposal_rng
from sextant.state.context import ContextWriter
from sextant.state.layout import TraceKind
from sextant.swarm.agents.mean_reversion import MeanReversionAgent, MeanReversionConfig
from sextant.swarm.agents.momentum import MomentumAgent, MomentumConfig


def test_window_features_match_the_live_encoders_features_at_each_seconds_last_quote() -> None:
    quotes = model_quotes(12_000, seed=5)
    features = window_features(quotes.ts_ns, quotes.bid, quotes.ask)
    live = MarketFeatures()
    ends = set(features.bucket_last_quote.tolist())
    bucket = 0
    for index in range(len(quotes)):
        live.update(int(quotes.ts_ns[index]), (quotes.bid[index] + quotes.ask[index]) / 2)
        if index in ends:
            np.testing.assert_allclose(features.momentum[:, bucket], live.momentum, rtol=1e-9, atol=1e-12)
            annual = features.volatility[:, bucket] * math.sqrt(365.0 * 24 * 3600)
            np.testing.assert_allclose(annual, live.volatility, rtol=1e-7, atol=1e-9)
            bucket += 1
    assert bucket == len(features.close)


def test_the_momentum_z_is_the_live_agents_signal(tmp_path) -> None:
    quotes = model_quotes(8_000, seed=6)
    features = window_features(quotes.ts_ns, quotes.bid, quotes.ask)
    writer = ContextWriter(tmp_path / "c.mmap", "BTC-USDT-SWAP.OKX")
    record = writer.record
    record["horizon_s"][: len(HORIZONS_S)] = HORIZONS_S
    for horizon_index, volatility_index in ((0, 1), (2, 3), (1, 1)):
        agent = MomentumAgent(MomentumConfig(horizon_index=horizon_index, volatility_index=volatility_index))
        z = momentum_z(features, horizon_index, volatility_index)
        for bucket in range(0, len(z), 37):
            record["momentum"][: len(HORIZONS_S)] = features.momentum[:, bucket]
            record["volatility"][: len(HORIZONS_S)] = features.volatility[:, bucket] * math.sqrt(365.0 * 24 * 3600)
            assert agent.signal(record) == pytest.approx(z[bucket], rel=1e-9, abs=1e-12)
    writer.close()


def test_the_quote_window_z_is_the_live_mean_reversion_agents_zscore(tmp_path) -> None:
    quotes = model_quotes(3_000, seed=7)
    features = window_features(quotes.ts_ns, quotes.bid, quotes.ask)
    writer = ContextWriter(tmp_path / "c.mmap", "BTC-USDT-SWAP.OKX")
    agent = MeanReversionAgent(MeanReversionConfig(window=40))
    z = quote_window_z(features, 40)
    ends = {int(end): bucket for bucket, end in enumerate(features.bucket_last_quote)}
    checked = 0
    for index in range(len(quotes)):
        writer.push_trace(TraceKind.QUOTE, float(features.quote_mid[index]), 1.0, int(quotes.ts_ns[index]))
        if index in ends and index > 50:
            assert agent.zscore(writer.record) == pytest.approx(z[ends[index]], rel=1e-6, abs=1e-6)
            checked += 1
    assert checked > 100
    writer.close()


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_trades_causally_and_respects_the_cooldown(family: str) -> None:
    quotes = model_quotes(20_000, seed=8)
    features = window_features(quotes.ts_ns, quotes.bid, quotes.ask)
    targets = FAMILIES[family].targets(features, FAMILIES[family].defaults, 30.0)
    assert targets.shape == features.close.shape and np.all(np.abs(targets) <= 1.0)
    changes = features.t_s[np.flatnonzero(np.diff(targets) != 0) + 1]
    assert np.all(np.diff(changes) >= 30.0 - 1e-9)
    # causality: the path up to a bucket does not depend on anything after it
    cut = len(quotes) // 2
    early = window_features(quotes.ts_ns[:cut], quotes.bid[:cut], quotes.ask[:cut])
    early_targets = FAMILIES[family].targets(early, FAMILIES[family].defaults, 30.0)
    np.testing.assert_array_equal(early_targets[:-1], targets[: len(early_targets) - 1])


class TestValidation:
    @pytest.mark.parametrize(("params", "problem"), [
        ({"entry_z": float("nan")}, "finite"),
        ({"entry_z": "2"}, "must be a number"),
        ({"entry_z": 9.0}, "outside"),
        ({"horizon_index": 1.5}, "whole number"),
        ({"exit_z": 1.5, "entry_z": 1.0}, "must be below entry_z"),
        ({"leverage": 3.0}, "no parameter leverage"),
    ])
    def test_bad_parameters_are_refused_with_the_reason(self, params: dict, problem: str) -> None:
        with pytest.raises(ValueError, match=problem):
            make("momentum", params, parent_id=None, origin="llm")

    def test_the_same_parameters_are_the_same_hypothesis(self) -> None:
        first = make("breakout", {"lookback_s": 120, "exit_level": 0.4}, parent_id=None, origin="llm")
        second = make("breakout", {"exit_level": 0.4, "lookback_s": 120.0}, parent_id="x", origin="mutation")
        assert first.id == second.id

    def test_mutations_are_valid_neighbours_and_depend_only_on_seed_and_place(self) -> None:
        parent = baseline("dual_momentum")
        children = [mutate(parent, proposal_rng(3, index)) for index in range(50)]
        assert all(child.parent_id == parent.id and child.id != parent.id for child in children)
        assert all(child.params["fast_index"] < child.params["slow_index"] for child in children)
        again = [mutate(parent, proposal_rng(3, index)) for index in range(50)]
        assert [c.id for c in children] == [c.id for c in again]
