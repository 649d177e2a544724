"""Market features for the ContextWindow: momentum and realised volatility at several horizons, and the sea state.

Mids are sampled into one-second buckets (the last mid of each second). Momentum over h seconds is the log return
from the bucket h seconds back (or the oldest retained one) to the current mid. Realised volatility over h is the
standard deviation of one-second log returns in the last h seconds, annualised. Volatilities are recomputed only
when a bucket closes, so the per-quote cost is a few array writes.

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

SECONDS_PER_YEAR = 365.0 * 24 * 3600
DEFAULT_HORIZONS_S = (10.0, 60.0, 300.0, 900.0)
FORECAST_POINTS = 8
FORECAST_STEP_S = 5.0
FORECAST_HALF_LIFE_S = 30.0


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

    def update(self, ts_ns: int, mid: float) -> None:
        if not (mid > 0 and math.isfinite(mid)):
            return
        second = ts_ns // 1_000_000_000
        if second != self._second:
            if self._count:
                self._recompute_volatility()
            self._second = second
            self._count += 1
        self._closes[(self._count - 1) % self._retain] = mid
        retained = min(self._count, self._retain)
        for index, horizon in enumerate(self.horizons_s):
            back = min(int(horizon), retained - 1)
            past = self._closes[(self._count - 1 - back) % self._retain]
            self.momentum[index] = math.log(mid / past) if back > 0 else 0.0

    def _recompute_volatility(self) -> None:
        retained = min(self._count, self._retain)
        if retained < 3:
            return
        order = (np.arange(self._count - retained, self._count)) % self._retain
        returns = np.diff(np.log(self._closes[order]))
        scale = math.sqrt(SECONDS_PER_YEAR)
        for index, horizon in enumerate(self.horizons_s):
            window = returns[-int(horizon):]
            self.volatility[index] = float(window.std()) * scale if len(window) > 1 else 0.0
        self.long_volatility = float(returns.std()) * scale
        self._recompute_forecast()
        short = self.volatility[min(1, len(self.volatility) - 1)]
        total = short + self.long_volatility
        self.sea_state = short / total if total > 0 else 0.0

    def _recompute_forecast(self) -> None:
        horizon_index = min(1, len(self.horizons_s) - 1)
        drift_per_s = self.momentum[horizon_index] / self.horizons_s[horizon_index]
        decay = math.log(2) / FORECAST_HALF_LIFE_S
        t = np.arange(1, FORECAST_POINTS + 1) * FORECAST_STEP_S
        self.forecast_factors = np.exp(drift_per_s * (1 - np.exp(-decay * t)) / decay)
