"""The offline market: a seeded model of BTC-USDT-SWAP top-of-book quotes, from calm to storm.

Pure numpy, no Nautilus: the sim data client (issue #3) turns each `QuoteBatch` row into a QuoteTick. The model
has three ingredients, so the bridge's sea chart really ranges from calm to storm:

* a hidden volatility regime (calm / normal / storm), a Markov chain switching at random times;
* volatility clustering inside a regime: a GARCH(1,1) variance recursion on the per-step return;
* occasional jumps: Poisson arrivals with normally distributed log-jump sizes, more frequent in a storm.

Spread and top-of-book sizes follow volatility (wider and thinner in a storm). Prices are on the instrument's
tick grid, the ask is at least one tick above the bid, and everything is a function of the seed alone.

The pieces are shared with the portfolio model (market/portfolio.py), which runs the same regime chain, GARCH
walk and quoting over several instruments at once: `StepDraws` (the uniforms of a step), `RegimeChain` (the
regime and jump arrivals), `GarchWalk` (one series' variance and log-mid) and `quote_book` (spread, depth, ticks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec
import numpy as np


class RegimeModelConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What every seeded model shares: the seed, the clock, and the regime, GARCH and jump parameters."""

    seed: int = 42
    step_s: float = 0.1  # model time between quotes
    # Annualised volatility per regime: calm, normal, storm.
    regime_vol: tuple[float, float, float] = (0.25, 0.55, 1.60)
    # Mean time spent in each regime before switching, seconds.
    regime_mean_s: tuple[float, float, float] = (600.0, 300.0, 90.0)
    garch_alpha: float = 0.08
    garch_beta: float = 0.90
    jumps_per_hour: tuple[float, float, float] = (0.2, 1.0, 12.0)
    jump_sigma: float = 0.004  # log-size of a jump


class MarketModelConfig(RegimeModelConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    start_price: float = 60_000.0
    tick: float = 0.1  # OKX BTC-USDT-SWAP tickSz
    lot: float = 0.01  # contracts (lotSz)
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


@dataclass(frozen=True, slots=True)
class StepDraws:
    """The random numbers of `count` steps of `n` series, each array (count, n) but the three the series share.

    One row of 6n + 3 uniforms a step, drawn in a single block: numpy's generator fills it sequentially, so the
    stream does not depend on how it is cut into batches. Columns: shock (2n, Box-Muller pairs), jump size (2n),
    regime switch, regime step, jump arrival, spread/depth noise (2n); with n = 1 the single model's nine."""

    shock: np.ndarray  # standard normals
    jump_size: np.ndarray  # standard normals
    switch: np.ndarray  # (count,) uniforms: does the regime switch
    step: np.ndarray  # (count,) 0 or 1: to which of the two other regimes
    jump: np.ndarray  # (count,) uniforms: does a jump arrive
    noise_bid: np.ndarray  # uniforms
    noise_ask: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, count: int, n: int) -> StepDraws:
        uniforms = rng.random((count, 6 * n + 3))
        # Column by column, so each normal is computed from its two uniforms exactly as with n = 1.
        shock = np.empty((count, n))
        jump_size = np.empty((count, n))
        for k in range(n):
            shock[:, k] = _normal(uniforms[:, k], uniforms[:, n + k])
            jump_size[:, k] = _normal(uniforms[:, 2 * n + k], uniforms[:, 3 * n + k])
        shared = 4 * n
        return cls(shock, jump_size, uniforms[:, shared], (uniforms[:, shared + 1] < 0.5).astype(np.int64),
                   uniforms[:, shared + 2], uniforms[:, shared + 3:shared + 3 + n],
                   uniforms[:, shared + 3 + n:shared + 3 + 2 * n])


class RegimeChain:
    """The hidden calm / normal / storm regime, a Markov chain, and the jump arrivals it sets the rate of."""

    def __init__(self, config: RegimeModelConfig) -> None:
        c = config
        if not (c.garch_alpha >= 0 and c.garch_beta >= 0 and c.garch_alpha + c.garch_beta < 1):
            raise ValueError("garch_alpha + garch_beta must be below 1 (a stationary variance)")
        if not c.step_s > 0:
            raise ValueError(f"step_s must be positive, not {c.step_s}")
        self.config = config
        # Per-step variance of each regime, the probability of leaving it on a step, and of a jump on a step.
        self.step_var = np.array([(v * v) * c.step_s / SECONDS_PER_YEAR for v in c.regime_vol])
        self._switch_p = [min(1.0, c.step_s / m) for m in c.regime_mean_s]
        self._jump_p = np.array([j * c.step_s / 3600.0 for j in c.jumps_per_hour])
        self.regime = 1
        self.steps = 0

    def advance(self, draws: StepDraws) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The times, the regime and whether a jump arrived, for each of the draws' steps."""
        switch_p = self._switch_p
        regime = self.regime
        regimes = []
        for switch, step in zip(draws.switch.tolist(), draws.step.tolist(), strict=True):
            if switch < switch_p[regime]:
                # Move to one of the two other regimes.
                regime = (regime + 1 + step) % 3
            regimes.append(regime)
        self.regime = regime
        regime_array = np.array(regimes, np.int8)
        jumps = draws.jump < self._jump_p[regime_array]
        count = len(regimes)
        t_s = self.config.step_s * np.arange(self.steps + 1, self.steps + count + 1)  # from the count: no drift
        self.steps += count
        return t_s, regime_array, jumps


@dataclass(slots=True)
class GarchWalk:
    """One series' log-mid under GARCH(1,1) around its regime's variance: shocks cluster, the regime sets the level.

    Plain Python floats in the loop, a step at a time (the recursion is sequential): several times faster than numpy
    scalars or numpy vectors of a few series, and the same IEEE arithmetic, so the same bits."""

    variance: float  # of the next step's return
    log_mid: float

    def advance(self, target: np.ndarray, shock: np.ndarray, jump: np.ndarray, jump_size: np.ndarray,
                alpha: float, beta: float) -> tuple[np.ndarray, np.ndarray]:
        """The log-mid after each step and the step's sigma, given each step's target variance (its regime's),
        standard normal shock, whether a jump arrived and the jump's log-size."""
        omega_scale = 1.0 - alpha - beta
        variance, log_mid = self.variance, self.log_mid
        sizes = jump_size.tolist()
        log_mids, sigmas = [], []
        for index, (level, z, jumped) in enumerate(zip(target.tolist(), shock.tolist(), jump.tolist(), strict=True)):
            step_sigma = math.sqrt(variance)
            ret = step_sigma * z
            if jumped:
                ret += sizes[index]
            variance = omega_scale * level + alpha * ret * ret + beta * variance
            log_mid += ret - 0.5 * step_sigma * step_sigma  # the drift that keeps the mid itself a martingale
            log_mids.append(log_mid)
            sigmas.append(step_sigma)
        self.variance, self.log_mid = variance, log_mid
        return np.array(log_mids), np.array(sigmas)


def quote_book(log_mid: np.ndarray, sigma: np.ndarray, calm_sigma: float, noise_bid: np.ndarray,
               noise_ask: np.ndarray, tick: float, lot: float, base_spread_ticks: float,
               base_depth: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bid, ask and their sizes around each mid: the spread widens and the depth thins as the step's sigma rises
    above calm water's, prices on the tick grid with the ask at least a tick above the bid, sizes on the lot."""
    mid = np.exp(log_mid)
    vol_ratio = sigma / calm_sigma
    spread_ticks = np.maximum(1, np.rint(base_spread_ticks * vol_ratio * (0.5 + noise_bid * 0.5 + noise_ask * 0.5)))
    bid = np.floor((mid - 0.5 * spread_ticks * tick) / tick) * tick
    ask = bid + spread_ticks * tick
    depth = base_depth / np.maximum(vol_ratio, 1.0)
    bid_size = np.maximum(lot, np.round(depth * (0.2 + 1.6 * noise_bid) / lot) * lot)
    ask_size = np.maximum(lot, np.round(depth * (0.2 + 1.6 * noise_ask) / lot) * lot)
    return np.round(bid, 10), np.round(ask, 10), bid_size, ask_size


class MarketModel:
    """Generates quotes in batches; the stream is the same for the same seed, however it is batched."""

    def __init__(self, config: MarketModelConfig | None = None) -> None:
        self.config = config or MarketModelConfig()
        c = self.config
        self._chain = RegimeChain(c)
        if c.tick <= 0 or c.lot <= 0 or c.start_price <= 0:
            raise ValueError("tick, lot, step_s and start_price must be positive")
        self._rng = np.random.default_rng(c.seed)
        self._walk = GarchWalk(float(self._chain.step_var[self._chain.regime]), float(np.log(c.start_price)))
        self._calm_sigma = float(np.sqrt(self._chain.step_var[0]))

    @property
    def regime(self) -> int:
        return self._chain.regime

    def next_batch(self, count: int) -> QuoteBatch:
        c = self.config
        draws = StepDraws.draw(self._rng, count, 1)
        t_s, regimes, jumps = self._chain.advance(draws)
        log_mid, sigma = self._walk.advance(self._chain.step_var[regimes], draws.shock[:, 0], jumps,
                                            draws.jump_size[:, 0] * c.jump_sigma, c.garch_alpha, c.garch_beta)
        bid, ask, bid_size, ask_size = quote_book(log_mid, sigma, self._calm_sigma, draws.noise_bid[:, 0],
                                                  draws.noise_ask[:, 0], c.tick, c.lot, c.base_spread_ticks,
                                                  c.base_depth)
        return QuoteBatch(t_s, bid, ask, bid_size, ask_size, regimes, jumps)


def _normal(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """Box-Muller: standard normals from two uniforms in [0, 1)."""
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)
