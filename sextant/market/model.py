"""The offline market: a seeded model of BTC-USDT-SWAP top-of-book quotes, from calm to storm.

Pure numpy, no Nautilus: the sim data client (issue #3) turns each `QuoteBatch` row into a QuoteTick. The model
has three ingredients, so the bridge's sea chart really ranges from calm to storm:

* a hidden volatility regime (calm / normal / storm), a Markov chain switching at random times;
* volatility clustering inside a regime: a GARCH(1,1) variance recursion on the per-step return;
* occasional jumps: Poisson arrivals with normally distributed log-jump sizes, more frequent in a storm.

Spread and top-of-book sizes follow volatility (wider and thinner in a storm). Prices are on the instrument's
tick grid, the ask is at least one tick above the bid, and everything is a function of the seed alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import numpy as np


class MarketModelConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    seed: int = 42
    start_price: float = 60_000.0
    tick: float = 0.1  # OKX BTC-USDT-SWAP tickSz
    lot: float = 0.01  # contracts (lotSz)
    step_s: float = 0.1  # model time between quotes
    # Annualised volatility per regime: calm, normal, storm.
    regime_vol: tuple[float, float, float] = (0.25, 0.55, 1.60)
    # Mean time spent in each regime before switching, seconds.
    regime_mean_s: tuple[float, float, float] = (600.0, 300.0, 90.0)
    garch_alpha: float = 0.08
    garch_beta: float = 0.90
    jumps_per_hour: tuple[float, float, float] = (0.2, 1.0, 12.0)
    jump_sigma: float = 0.004  # log-size of a jump
    base_spread_ticks: float = 1.0
    base_depth: float = 400.0  # contracts at the touch in calm water


SECONDS_PER_YEAR = 365.0 * 24 * 3600


@dataclass(frozen=True, slots=True)
class QuoteBatch:
    """Consecutive quotes. Arrays of equal length; `regime` is 0 calm, 1 normal, 2 storm."""

    t_s: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray
    regime: np.ndarray
    jump: np.ndarray  # True where a jump happened on this step

    def __len__(self) -> int:
        return len(self.bid)


class MarketModel:
    """Generates quotes in batches; the stream is the same for the same seed, however it is batched."""

    def __init__(self, config: MarketModelConfig | None = None) -> None:
        self.config = config or MarketModelConfig()
        c = self.config
        if not (c.garch_alpha >= 0 and c.garch_beta >= 0 and c.garch_alpha + c.garch_beta < 1):
            raise ValueError("garch_alpha + garch_beta must be below 1 (a stationary variance)")
        if c.tick <= 0 or c.lot <= 0 or c.step_s <= 0 or c.start_price <= 0:
            raise ValueError("tick, lot, step_s and start_price must be positive")
        self._rng = np.random.default_rng(c.seed)
        self._log_mid = float(np.log(c.start_price))
        self._regime = 1
        self._steps = 0
        step_var = [(v * v) * c.step_s / SECONDS_PER_YEAR for v in c.regime_vol]
        self._regime_var = np.array(step_var)
        self._variance = step_var[self._regime]
        self._switch_p = np.array([min(1.0, c.step_s / m) for m in c.regime_mean_s])
        self._jump_p = np.array([j * c.step_s / 3600.0 for j in c.jumps_per_hour])

    @property
    def regime(self) -> int:
        return self._regime

    def next_batch(self, count: int) -> QuoteBatch:
        c = self.config
        # One row of uniforms per step, drawn in a single block: numpy's generator fills it sequentially, so the
        # stream does not depend on how it is cut into batches.
        uniforms = self._rng.random((count, 9))
        shocks = _normal(uniforms[:, 0], uniforms[:, 1])
        jump_sizes = _normal(uniforms[:, 2], uniforms[:, 3]) * c.jump_sigma
        switch_draws = uniforms[:, 4]
        regime_draws = (uniforms[:, 5] < 0.5).astype(np.int64)
        jump_draws = uniforms[:, 6]
        noise = uniforms[:, 7:9]

        log_mid = np.empty(count)
        regimes = np.empty(count, np.int8)
        jumps = np.zeros(count, bool)
        sigma = np.empty(count)
        omega_scale = 1.0 - c.garch_alpha - c.garch_beta
        for index in range(count):
            if switch_draws[index] < self._switch_p[self._regime]:
                # Move to one of the two other regimes.
                self._regime = (self._regime + 1 + int(regime_draws[index])) % 3
            target = self._regime_var[self._regime]
            step_sigma = np.sqrt(self._variance)
            ret = step_sigma * shocks[index]
            if jump_draws[index] < self._jump_p[self._regime]:
                ret += jump_sizes[index]
                jumps[index] = True
            # GARCH(1,1) around the regime's variance: shocks cluster, the regime sets the level.
            self._variance = omega_scale * target + c.garch_alpha * ret * ret + c.garch_beta * self._variance
            self._log_mid += ret - 0.5 * step_sigma * step_sigma
            log_mid[index] = self._log_mid
            regimes[index] = self._regime
            sigma[index] = step_sigma

        mid = np.exp(log_mid)
        vol_ratio = sigma / np.sqrt(self._regime_var[0])
        spread_ticks = np.maximum(
            1, np.rint(c.base_spread_ticks * vol_ratio * (0.5 + noise[:, 0] * 0.5 + noise[:, 1] * 0.5)))
        bid = np.floor((mid - 0.5 * spread_ticks * c.tick) / c.tick) * c.tick
        ask = bid + spread_ticks * c.tick
        depth = c.base_depth / np.maximum(vol_ratio, 1.0)
        bid_size = np.maximum(c.lot, np.round(depth * (0.2 + 1.6 * noise[:, 0]) / c.lot) * c.lot)
        ask_size = np.maximum(c.lot, np.round(depth * (0.2 + 1.6 * noise[:, 1]) / c.lot) * c.lot)
        t_s = c.step_s * np.arange(self._steps + 1, self._steps + count + 1)  # from the step count: no float drift
        self._steps += count
        return QuoteBatch(t_s, np.round(bid, 10), np.round(ask, 10), bid_size, ask_size, regimes, jumps)


def _normal(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """Box-Muller: standard normals from two uniforms in [0, 1)."""
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)
