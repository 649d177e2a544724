"""Market features for the ContextWindow: momentum and realised volatility at several horizons, and the sea state.

Mids are sampled into one-second buckets (the last mid of each second). Momentum over h seconds is the log return
from the bucket h seconds back (or the oldest retained one) to the current mid. Realised volatility over h is the
standard deviation of one-second log returns in the last h seconds, annualised. Volatilities change only when a
bucket closes, and then in O(1): each window keeps the sum and the sum of squares of its returns (taken about a
shift near their mean, so the variance does not cancel away), adding the new return and dropping the one that
leaves. Every EXACT_EVERY returns the sums are recomputed exactly from the retained returns, so rounding cannot
drift; a window whose returns are all zero has a volatility of exactly zero.

The sea state compares short-run with long-run volatility: vol_60s / (vol_60s + vol_long), 0.5 when they match,
towards 1 in a storm and towards 0 in calm water. Nothing in it is a fixed threshold.

The predicted path (the bridge's dashed line) extrapolates the 60 s momentum as a drift that decays with a 30 s
half-life: where the current move would carry the price if it faded as moves usually do. It is a picture of the
trend, not a trading signal; `forecast_factors` times the mid gives the path, FORECAST_POINTS steps of
FORECAST_STEP_S.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

SECONDS_PER_YEAR = 365.0 * 24 * 3600
DEFAULT_HORIZONS_S = (10.0, 60.0, 300.0, 900.0)
FORECAST_POINTS = 8
FORECAST_STEP_S = 5.0
FORECAST_HALF_LIFE_S = 30.0
EXACT_EVERY = 600  # returns between exact recomputes of the rolling sums


@njit(cache=True, nogil=True)
def mark_momentum(closes: np.ndarray, slot: int, mid: float, past: np.ndarray, momentum: np.ndarray) -> None:
    """A quote's part: `mid` is the open bucket's close so far, and each horizon's momentum the log return from
    its past close (0 where there is none yet)."""
    closes[slot] = mid
    for index in range(past.shape[0]):
        momentum[index] = math.log(mid / past[index]) if past[index] > 0 else 0.0


class MarketFeatures:
    def __init__(self, horizons_s: tuple[float, ...] = DEFAULT_HORIZONS_S, retain_s: int = 3600) -> None:
        if retain_s < max(horizons_s) + 1:
            raise ValueError("retain_s must cover the longest horizon")
        self.horizons_s = horizons_s
        self._closes = np.zeros(retain_s)
        self._retain = retain_s
        self._count = 0  # buckets ever opened
        self._second = -1
        self.momentum = np.zeros(len(horizons_s))
        self.volatility = np.zeros(len(horizons_s))
        self.long_volatility = 0.0
        self.sea_state = 0.0
        self.forecast_factors = np.ones(FORECAST_POINTS)
        self._past = np.zeros(len(horizons_s))  # each horizon's past close this second (0: none yet)
        # One-second log returns, a ring of the retain_s - 1 that retain_s closes give; per window (each horizon,
        # then the long one over all of them) its length and the rolling sums of (return - shift).
        self._returns = np.zeros(retain_s - 1)
        self._returns_seen = 0
        self._last_log_close = 0.0
        self._windows = [min(int(h), retain_s - 1) or retain_s - 1 for h in horizons_s] + [retain_s - 1]
        self._shift = 0.0
        self._sum = [0.0] * len(self._windows)
        self._sum_sq = [0.0] * len(self._windows)
        self._nonzero = [0] * len(self._windows)

    def update(self, ts_ns: int, mid: float) -> None:
        if not (mid > 0 and math.isfinite(mid)):
            return
        second = ts_ns // 1_000_000_000
        if second != self._second:
            if self._count:
                self._recompute_volatility()
            self._second = second
            self._count += 1
            retained = min(self._count, self._retain)
            for index, horizon in enumerate(self.horizons_s):  # closed buckets: fixed for this second
                back = min(int(horizon), retained - 1)
                self._past[index] = self._closes[(self._count - 1 - back) % self._retain] if back > 0 else 0.0
        mark_momentum(self._closes, (self._count - 1) % self._retain, mid, self._past, self.momentum)

    def _recompute_volatility(self) -> None:
        """The bucket count - 1 has just closed: add its return to the windows, then read the volatilities."""
        log_close = math.log(self._closes[(self._count - 1) % self._retain])
        if self._count >= 2:
            self._add_return(log_close - self._last_log_close)
        self._last_log_close = log_close
        if min(self._count, self._retain) < 3:
            return
        retained = min(self._returns_seen, len(self._returns))
        scale = math.sqrt(SECONDS_PER_YEAR)
        for index in range(len(self._windows)):
            size = min(self._windows[index], retained)
            volatility = 0.0
            if size > 1 and self._nonzero[index]:
                mean = self._sum[index] / size
                volatility = math.sqrt(max(self._sum_sq[index] / size - mean * mean, 0.0)) * scale
            if index < len(self.horizons_s):
                self.volatility[index] = volatility
            else:
                self.long_volatility = volatility
        self._recompute_forecast()
        short = self.volatility[min(1, len(self.volatility) - 1)]
        total = short + self.long_volatility
        self.sea_state = short / total if total > 0 else 0.0

    def _add_return(self, value: float) -> None:
        returns, seen = self._returns, self._returns_seen
        slot = seen % len(returns)
        if seen % EXACT_EVERY == 0:
            returns[slot] = value
            self._returns_seen = seen + 1
            self._exact_sums()
            return
        shift = self._shift
        entering = value - shift
        for index, window in enumerate(self._windows):
            if seen >= window:  # the return `window` back leaves (read before the ring slot is reused)
                raw = float(returns[(seen - window) % len(returns)])
                leaving = raw - shift
                self._sum[index] -= leaving
                self._sum_sq[index] -= leaving * leaving
                self._nonzero[index] -= raw != 0.0
            self._sum[index] += entering
            self._sum_sq[index] += entering * entering
            self._nonzero[index] += value != 0.0
        returns[slot] = value
        self._returns_seen = seen + 1

    def _exact_sums(self) -> None:
        """Recompute every window's sums from the retained returns, about their mean."""
        returns, seen = self._returns, self._returns_seen
        retained = min(seen, len(returns))
        ordered = returns[np.arange(seen - retained, seen) % len(returns)]
        self._shift = float(ordered.mean())
        for index, window in enumerate(self._windows):
            last = ordered[-min(window, retained):]
            centred = last - self._shift
            self._sum[index] = float(centred.sum())
            self._sum_sq[index] = float(centred @ centred)
            self._nonzero[index] = int(np.count_nonzero(last))

    def _recompute_forecast(self) -> None:
        horizon_index = min(1, len(self.horizons_s) - 1)
        drift_per_s = self.momentum[horizon_index] / self.horizons_s[horizon_index]
        decay = math.log(2) / FORECAST_HALF_LIFE_S
        t = np.arange(1, FORECAST_POINTS + 1) * FORECAST_STEP_S
        self.forecast_factors = np.exp(drift_per_s * (1 - np.exp(-decay * t)) / decay)
