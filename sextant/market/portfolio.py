"""The offline market of several instruments at once: a seeded model of correlated top-of-book quotes.

The single-instrument model (market/model.py) over N instruments that move together, built from its very pieces:

* one hidden regime (calm / normal / storm) for the whole market: a storm is a storm for every instrument;
* per instrument, a GARCH(1,1) variance around its regime's level times its own `vol_scale` squared, driven by
  Gaussian shocks correlated through the Cholesky factor of `correlation` (the shocks' correlation: as each
  instrument's variance clusters on its own, its returns' runs a few hundredths below, about 0.03 at the
  default GARCH);
* market-wide jumps: one Poisson arrival draw a step, and an arrival moves every instrument, each by its own
  normal log-size of `jump_sigma × vol_scale`, the sizes correlated through the same Cholesky factor (news hits
  the whole market at once, and mostly moves it one way);
* per instrument, spread and depth following its volatility relative to its own calm level, prices on its tick
  grid with the ask at least a tick above the bid, sizes on its lot (`quote_book`, as the single model does).

Everything is a function of the seed alone, and the stream is the same however it is cut into batches: each step
draws one row of 6N + 3 uniforms (`StepDraws`), and the correlation is summed term by term rather than by a matrix
product whose rounding could change with the batch's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
import numpy as np

from sextant.market.instrument import OKX_BTC_USDT_SWAP, OKX_ETH_USDT_SWAP, OKX_SOL_USDT_SWAP, InstrumentSpec
from sextant.market.model import GarchWalk, QuoteBatch, RegimeChain, RegimeModelConfig, StepDraws, quote_book


class PortfolioInstrument(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    spec: InstrumentSpec
    start_price: float
    vol_scale: float = 1.0  # its volatility relative to the shared regime's
    base_depth: float  # contracts at the touch in calm water
    base_spread_ticks: float = 1.0

    def __post_init__(self) -> None:
        for name in ("start_price", "vol_scale", "base_depth", "base_spread_ticks"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"{self.spec.instrument_id}: {name} must be positive, not {value}")


# OKX's USDT perpetuals. About the same number of contracts rest at each touch in calm water, so the notional
# there falls with the contract's value: 400 × 0.01 BTC at 60,000 is 240,000 USDT, 400 × 0.1 ETH at 3,000 is
# 120,000, 400 × 1 SOL at 150 is 60,000. The smaller coins move more (vol_scale).
OKX_PORTFOLIO: tuple[PortfolioInstrument, ...] = (
    PortfolioInstrument(spec=OKX_BTC_USDT_SWAP, start_price=60_000.0, vol_scale=1.0, base_depth=400.0),
    PortfolioInstrument(spec=OKX_ETH_USDT_SWAP, start_price=3_000.0, vol_scale=1.2, base_depth=400.0),
    PortfolioInstrument(spec=OKX_SOL_USDT_SWAP, start_price=150.0, vol_scale=1.6, base_depth=400.0),
)
# Of the Gaussian shocks, in OKX_PORTFOLIO's order: BTC–ETH 0.8, BTC–SOL 0.7, ETH–SOL 0.75.
OKX_CORRELATION: tuple[tuple[float, ...], ...] = ((1.0, 0.8, 0.7), (0.8, 1.0, 0.75), (0.7, 0.75, 1.0))


class PortfolioModelConfig(RegimeModelConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    instruments: tuple[PortfolioInstrument, ...] = OKX_PORTFOLIO
    correlation: tuple[tuple[float, ...], ...] = OKX_CORRELATION  # of the instruments' shocks, in their order

    def __post_init__(self) -> None:
        if not self.instruments:
            raise ValueError("a portfolio needs at least one instrument")
        ids = [instrument.spec.instrument_id for instrument in self.instruments]
        repeated = sorted({instrument_id for instrument_id in ids if ids.count(instrument_id) > 1})
        if repeated:
            raise ValueError(f"each instrument once: {', '.join(repeated)} repeats")
        correlation_factor(self.correlation, len(self.instruments))


def correlation_factor(correlation: tuple[tuple[float, ...], ...], n: int) -> np.ndarray:
    """The lower Cholesky factor of `correlation`, once it is checked to be a correlation matrix of n instruments:
    square n × n, finite, symmetric, a unit diagonal and positive definite. A ValueError names what is wrong."""
    if len(correlation) != n or any(len(row) != n for row in correlation):
        raise ValueError(f"correlation must be {n} × {n}, a row and a column per instrument, not "
                         f"{len(correlation)} rows of {sorted({len(row) for row in correlation})} values")
    matrix = np.array(correlation, dtype=float)
    if not np.all(np.isfinite(matrix)):
        raise ValueError("correlation holds a value that is not a finite number")
    tolerance = 1e-12  # of numbers typed in by hand: exact in practice
    asymmetric = np.argwhere(np.abs(matrix - matrix.T) > tolerance)
    if len(asymmetric):
        i, j = asymmetric[0]
        raise ValueError(f"correlation is not symmetric: [{i}][{j}] is {matrix[i, j]} but [{j}][{i}] is "
                         f"{matrix[j, i]}")
    off_diagonal = np.flatnonzero(np.abs(np.diag(matrix) - 1.0) > tolerance)
    if len(off_diagonal):
        i = off_diagonal[0]
        raise ValueError(f"correlation's diagonal must be 1 (an instrument with itself), but [{i}][{i}] is "
                         f"{matrix[i, i]}")
    try:
        return np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        raise ValueError("correlation is not positive definite (it has no Cholesky factor): no market moves so; "
                         "check that the pairs agree with one another") from None


@dataclass(frozen=True, slots=True)
class PortfolioBatch:
    """Consecutive quotes of every instrument at the same times: `quotes[k]` is `instrument_ids[k]`'s. All share
    `t_s` and `regime` (0 calm, 1 normal, 2 storm), the very arrays their QuoteBatches hold."""

    t_s: np.ndarray
    instrument_ids: tuple[str, ...]
    quotes: tuple[QuoteBatch, ...]
    regime: np.ndarray

    def __len__(self) -> int:
        return len(self.t_s)

    def __getitem__(self, instrument_id: str) -> QuoteBatch:
        return self.quotes[self.instrument_ids.index(instrument_id)]


class PortfolioModel:
    """Generates every instrument's quotes in batches; the same seed gives the same streams, however batched."""

    def __init__(self, config: PortfolioModelConfig | None = None) -> None:
        self.config = config or PortfolioModelConfig()
        c = self.config
        self._chain = RegimeChain(c)
        self._factor = correlation_factor(c.correlation, len(c.instruments))
        self._vol_scale = np.array([instrument.vol_scale for instrument in c.instruments])
        # Per-step variance of each regime (rows) for each instrument (columns), and of its calm water.
        self._step_var = self._chain.step_var[:, None] * (self._vol_scale * self._vol_scale)
        self._calm_sigma = np.sqrt(self._step_var[0])
        self._rng = np.random.default_rng(c.seed)
        self._walks = [GarchWalk(float(self._step_var[self._chain.regime, k]), float(np.log(instrument.start_price)))
                       for k, instrument in enumerate(c.instruments)]
        self.instrument_ids = tuple(instrument.spec.instrument_id for instrument in c.instruments)

    @property
    def regime(self) -> int:
        return self._chain.regime

    def next_batch(self, count: int) -> PortfolioBatch:
        c = self.config
        draws = StepDraws.draw(self._rng, count, len(c.instruments))
        t_s, regimes, jumps = self._chain.advance(draws)
        shocks = _correlate(draws.shock, self._factor)
        jump_sizes = _correlate(draws.jump_size, self._factor) * (c.jump_sigma * self._vol_scale)
        quotes = []
        # The GARCH recursion is sequential in time: an instrument at a time, each a plain-float loop (GarchWalk),
        # is several times faster for a few instruments than numpy vectors across them a step at a time.
        for k, (instrument, walk) in enumerate(zip(c.instruments, self._walks, strict=True)):
            log_mid, sigma = walk.advance(self._step_var[regimes, k], shocks[:, k], jumps, jump_sizes[:, k],
                                          c.garch_alpha, c.garch_beta)
            spec = instrument.spec
            book = quote_book(log_mid, sigma, float(self._calm_sigma[k]), draws.noise_bid[:, k],
                              draws.noise_ask[:, k], spec.tick, spec.lot, instrument.base_spread_ticks,
                              instrument.base_depth)
            quotes.append(QuoteBatch(t_s, *book, regimes, jumps))
        return PortfolioBatch(t_s, self.instrument_ids, tuple(quotes), regimes)


def _correlate(normals: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """`normals @ factor.T`, summed term by term in a fixed order: each row's bits then depend on that row alone,
    where a BLAS product may pick another kernel, and round otherwise, for another number of rows."""
    correlated = np.zeros_like(normals)
    for k in range(factor.shape[1]):
        correlated += normals[:, k:k + 1] * factor[:, k]
    return correlated


def okx_portfolio(instrument_ids: Sequence[str], *, seed: int = 42, step_s: float = 0.1) -> PortfolioModelConfig:
    """The portfolio model of some of OKX_PORTFOLIO's swaps, in the order given, with their correlations: what the
    sim venue streams for `engine.portfolio`. An id the model has no terms for is a ValueError naming those it has."""
    known = {instrument.spec.instrument_id: index for index, instrument in enumerate(OKX_PORTFOLIO)}
    unknown = [instrument_id for instrument_id in instrument_ids if instrument_id not in known]
    if unknown:
        raise ValueError(f"the portfolio model has no {', '.join(unknown)}: it models {', '.join(known)}")
    picked = [known[instrument_id] for instrument_id in instrument_ids]
    return PortfolioModelConfig(seed=seed, step_s=step_s,
                                instruments=tuple(OKX_PORTFOLIO[index] for index in picked),
                                correlation=tuple(tuple(OKX_CORRELATION[row][column] for column in picked)
                                                  for row in picked))
