"""What a window's fills earned: the equity curve, the information ratio, drawdown and turnover; and the deflated
Sharpe ratio that corrects a holdout result for the number of hypotheses tried.

Equity is marked every bucket from the fills (cash flows and commissions as Nautilus charged them) and the
window's mids, in the settlement currency, on a capital of one base size's notional at the window's first mid:
returns are what the position earned on the money it moved. The information ratio is the mean over the standard
deviation of period returns, annualised by the periods a year of the data's own calendar holds (from its
timestamps: an hourly FX bar's year has about 6,200 of them, a daily equity bar's about 252); the period is
`period_s` or the data's step, whichever is longer, so that a return never spans less than one of its rows. Against
cash, so "hold" is a benchmark of its own (a long base size
held through the window, bought at the first ask with the instrument's taker fee).

Deflated Sharpe ratio (Bailey and López de Prado, 2014): the probability that the true Sharpe ratio exceeds the
best one N trials of pure noise would be expected to show,

    SR₀ = √V · ((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e))),    γ = 0.5772… (Euler–Mascheroni)
    DSR = Φ((SR − SR₀)·√(T − 1) / √(1 − γ₃·SR + (γ₄ − 1)/4·SR²))

with SR the per-period Sharpe ratio on T periods, γ₃ and γ₄ the skew and kurtosis of the returns, and V the
variance of the trials' Sharpe ratios under the null of no skill: the sampling variance of an estimate on T periods,
1/T (Lo, 2002). The holdout is sealed (selection never saw it), so what needs correcting there is how many
candidates were tried, not how far apart they were on the selection windows: genuinely different strategies spread
widely there, and that spread is not luck.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from sextant.market.features import SECONDS_PER_YEAR
from sextant.research.backtest import Fills
from sextant.research.families import WindowFeatures

EULER_GAMMA = 0.5772156649015329
# Bumped when a metric's definition changes, so that a ledger of the old definitions is not resumed (2: the IR is
# annualised by the data's own calendar, on periods of at least its step).
METRICS_VERSION = 2
_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class WindowMetrics:
    ir: float  # annualised information ratio of period returns
    sharpe: float  # per-period Sharpe ratio (what the deflation works on)
    periods: int
    periods_per_year: float  # of the data's own calendar: what the IR is annualised by
    total_return: float  # on the capital
    max_drawdown: float  # of equity, as a fraction of the capital
    turnover: float  # traded notional / capital
    trades: int
    skew: float
    kurtosis: float

    def as_dict(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in WindowMetrics.__slots__}


def equity_curve(features: WindowFeatures, fills: Fills, multiplier: float) -> np.ndarray:
    """Equity (in the settlement currency, starting at 0) after each bucket."""
    bucket_ns = features.end_ns
    position = np.zeros(len(bucket_ns))
    cash = np.zeros(len(bucket_ns))
    if len(fills.ts_ns):
        # a fill at the bucket's last quote belongs to that bucket
        where = np.searchsorted(bucket_ns, fills.ts_ns, side="left")
        where = np.minimum(where, len(bucket_ns) - 1)
        np.add.at(position, where, fills.quantity)
        np.add.at(cash, where, -fills.quantity * fills.price * multiplier - fills.commission)
    return np.cumsum(cash) + np.cumsum(position) * features.close * multiplier


def hold_curve(features: WindowFeatures, first_ask: float, base_size: float, multiplier: float,
               taker_fee: float) -> np.ndarray:
    """A long base size bought at the first ask (the instrument's taker fee paid) and held."""
    notional = base_size * multiplier
    return (features.close - first_ask) * notional - first_ask * notional * taker_fee


def measure(features: WindowFeatures, equity: np.ndarray, base_size: float, period_s: float, multiplier: float,
            fills: Fills | None = None) -> WindowMetrics:
    capital = base_size * multiplier * float(features.close[0])
    period = (features.t_s // max(period_s, features.step_s)).astype(np.int64)
    ends = np.flatnonzero(np.diff(period) != 0)
    marks = np.concatenate(([0.0], equity[ends], [equity[-1]]))
    returns = np.diff(marks) / capital
    peak = np.maximum.accumulate(np.concatenate(([0.0], equity)))
    drawdown = float(np.max(peak[1:] - equity)) / capital if len(equity) else 0.0
    sharpe, skew, kurtosis = _moments(returns)
    # the returns cover the window's span, from before its first bucket (equity 0) to its last
    periods_per_year = len(returns) * SECONDS_PER_YEAR / (float(features.t_s[-1]) + features.step_s)
    traded = float(np.sum(np.abs(fills.quantity) * fills.price) * multiplier) if fills is not None else 0.0
    return WindowMetrics(ir=sharpe * math.sqrt(periods_per_year), sharpe=sharpe, periods=len(returns),
                         periods_per_year=periods_per_year,
                         total_return=float(equity[-1]) / capital if len(equity) else 0.0,
                         max_drawdown=max(drawdown, 0.0), turnover=traded / capital,
                         trades=len(fills.ts_ns) if fills is not None else 0, skew=skew, kurtosis=kurtosis)


def _moments(returns: np.ndarray) -> tuple[float, float, float]:
    """Per-period Sharpe ratio, skew and (non-excess) kurtosis; 0, 0, 3 for a flat or too short series."""
    if len(returns) < 3:
        return 0.0, 0.0, 3.0
    std = float(returns.std())
    if std < 1e-15:
        return 0.0, 0.0, 3.0
    centred = (returns - returns.mean()) / std
    return float(returns.mean()) / std, float(np.mean(centred ** 3)), float(np.mean(centred ** 4))


def expected_max_sharpe(trials: int, variance: float) -> float:
    """SR₀: the highest per-period Sharpe ratio expected from `trials` independent trials of zero true skill."""
    if trials < 2 or variance <= 0:
        return 0.0
    first = _NORMAL.inv_cdf(1.0 - 1.0 / trials)
    second = _NORMAL.inv_cdf(1.0 - 1.0 / (trials * math.e))
    return math.sqrt(variance) * ((1.0 - EULER_GAMMA) * first + EULER_GAMMA * second)


def deflated_sharpe(sharpe: float, periods: int, skew: float, kurtosis: float, trials: int) -> tuple[float, float]:
    """(DSR, SR₀): the probability that the true Sharpe ratio beats the best that `trials` no-skill trials would
    be expected to show on `periods` periods."""
    if periods < 3:
        return 0.0, math.inf
    benchmark = expected_max_sharpe(trials, 1.0 / periods)
    denominator = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe
    if denominator <= 0:
        return 0.0, benchmark
    z = (sharpe - benchmark) * math.sqrt(periods - 1) / math.sqrt(denominator)
    return _NORMAL.cdf(z), benchmark
