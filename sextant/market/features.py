"""Market features for the ContextWindow: momentum and realised volatility at several horizons, and the sea state.

Mids are sampled into one-second buckets (the last mid of each second). Momentum over h seconds is the log return
from the bucket h seconds back (or the oldest retained one) to the current mid. Realised volatility over h is the
standard deviation of one-second log returns in the last h seconds, annualised. Volatilities change only when a
bucket closes, and then in O(1): each window keeps the sum and the sum of squares of its returns (taken about a
shift near their mean, so the variance does not cancel away), adding the new return and dropping the one that
leaves. Every EXACT_EVERY returns the sums are recomputed exactly from the retained returns, so rounding cannot
drift; a window whose returns are all zero has a volatility of exactly zero. The work is done by numba kernels
on the state arrays, one call a quote.

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


# MarketFeatures' state, in arrays the njit kernels below update in place. Rows of `_horizon` (a column a horizon),
# of `_window_sums` and `_window_counts` (a column a window: each horizon's, then the long one over all returns),
# and the slots of `_scalars` and `_counters`.
_HORIZON, _PAST, _MOMENTUM, _VOLATILITY = range(4)  # _PAST: the horizon's past close this second (0: none yet)
_SUM, _SUM_SQ = range(2)  # of (return - shift) over the window
_LENGTH, _NONZERO = range(2)  # the window's length in returns, and how many of its returns are not zero
_LAST_LOG_CLOSE, _SHIFT, _LONG_VOLATILITY, _SEA_STATE = range(4)
_COUNT, _SECOND, _SEEN = range(3)  # buckets ever opened, the open bucket's second, returns ever added
STATE_ROWS = (_MOMENTUM, _VOLATILITY, _SEA_STATE)  # state_views' horizon's momentum and volatility rows, scalars' slot


class MarketFeatures:
    def __init__(self, horizons_s: tuple[float, ...] = DEFAULT_HORIZONS_S, retain_s: int = 3600) -> None:
        if retain_s < max(horizons_s) + 1:
            raise ValueError("retain_s must cover the longest horizon")
        self.horizons_s = horizons_s
        # All the state in two buffers (`packed`), so a kernel takes two arrays, not eight: each array argument
        # costs a call from Python ~60 ns to unbox, and the encoder makes one such call per quote.
        self._floats, self._ints = new_state(retain_s, len(horizons_s))
        (self._closes,  # a ring of bucket closes
         self._returns,  # a ring of the one-second log returns that retain_s closes give
         self._horizon, self._window_sums, self._window_counts, self.forecast_factors, self._scalars,
         self._counters) = state_views(self._floats, self._ints)
        self._horizon[_HORIZON] = horizons_s
        self.momentum = self._horizon[_MOMENTUM]  # views: the kernels update them in place
        self.volatility = self._horizon[_VOLATILITY]
        self.forecast_factors[:] = 1.0
        self._window_counts[_LENGTH] = [min(int(h), retain_s - 1) or retain_s - 1 for h in horizons_s] + [retain_s - 1]
        self._counters[:] = (0, -1, 0)

    @property
    def long_volatility(self) -> float:
        return float(self._scalars[_LONG_VOLATILITY])

    @property
    def sea_state(self) -> float:
        return float(self._scalars[_SEA_STATE])

    def update(self, ts_ns: int, mid: float) -> None:
        update_packed(ts_ns // 1_000_000_000, mid, self._floats, self._ints)

    @property
    def packed(self) -> tuple[np.ndarray, np.ndarray]:
        """The state's two buffers (float64, int64), for a kernel that updates it (`update_packed`, the
        encoder's); `state_views` gives its arrays: momentum and volatility are rows of the third, the sea state
        a slot of the seventh (STATE_ROWS)."""
        return self._floats, self._ints


# The int buffer's header holds the layout, written once by new_state: the horizon count, where each float array
# starts (and where the last ends), and the same for the int arrays after the header.
_HORIZONS, _FLOAT_STARTS, _INT_STARTS = 0, 1, 8  # 7 float bounds, then 3 int bounds
_INT_HEADER = 11


def new_state(retain_s: int, horizons: int) -> tuple[np.ndarray, np.ndarray]:
    """Zeroed float64 and int64 buffers for MarketFeatures' state with `horizons` horizons over `retain_s`, the
    layout in the int buffer's header (state_views reads it)."""
    # closes, returns, horizon (4 rows), window sums (2 rows), forecast factors, scalars
    float_sizes = (retain_s, retain_s - 1, 4 * horizons, 2 * (horizons + 1), FORECAST_POINTS, 4)
    int_sizes = (2 * (horizons + 1), 3)  # window counts (2 rows), counters
    floats = np.zeros(sum(float_sizes))
    ints = np.zeros(_INT_HEADER + sum(int_sizes), np.int64)
    ints[_HORIZONS] = horizons
    ints[_FLOAT_STARTS:_INT_STARTS] = np.cumsum((0, *float_sizes))
    ints[_INT_STARTS:_INT_HEADER] = _INT_HEADER + np.cumsum((0, *int_sizes))
    return floats, ints


@njit(cache=True, nogil=True)
def state_views(floats: np.ndarray, ints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                               np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """update_features' arrays after its first two arguments, as views of the two buffers: closes, returns,
    horizon (4 × horizons), window sums and counts (2 × horizons + 1), forecast factors, scalars, counters."""
    horizons = ints[_HORIZONS]
    f = ints[_FLOAT_STARTS:_INT_STARTS]
    i = ints[_INT_STARTS:_INT_HEADER]
    return (floats[f[0]:f[1]], floats[f[1]:f[2]], floats[f[2]:f[3]].reshape((4, horizons)),
            floats[f[3]:f[4]].reshape((2, horizons + 1)), ints[i[0]:i[1]].reshape((2, horizons + 1)),
            floats[f[4]:f[5]], floats[f[5]:f[6]], ints[i[1]:i[2]])


@njit(cache=True, nogil=True)
def update_packed(second: int, mid: float, floats: np.ndarray, ints: np.ndarray) -> None:
    """update_features on MarketFeatures.packed."""
    closes, returns, horizon, sums, counts, forecast, scalars, counters = state_views(floats, ints)
    update_features(second, mid, closes, returns, horizon, sums, counts, forecast, scalars, counters)


@njit(cache=True, nogil=True)
def update_features(second: int, mid: float, closes: np.ndarray, returns: np.ndarray, horizon: np.ndarray,
                    sums: np.ndarray, counts: np.ndarray, forecast: np.ndarray, scalars: np.ndarray,
                    counters: np.ndarray) -> None:
    """One quote's mid at `second` (MarketFeatures.update). A new second closes the open bucket (the volatilities
    and the forecast move on) and fixes each horizon's past close; every quote marks the momentum."""
    if not (mid > 0 and math.isfinite(mid)):
        return
    retain = closes.shape[0]
    if second != counters[_SECOND]:
        if counters[_COUNT]:
            _close_bucket(closes, returns, horizon, sums, counts, forecast, scalars, counters)
        counters[_SECOND] = second
        counters[_COUNT] += 1
        count = counters[_COUNT]
        retained = min(count, retain)
        for index in range(horizon.shape[1]):  # closed buckets: fixed for this second
            back = min(int(horizon[_HORIZON, index]), retained - 1)
            horizon[_PAST, index] = closes[(count - 1 - back) % retain] if back > 0 else 0.0
    closes[(counters[_COUNT] - 1) % retain] = mid
    for index in range(horizon.shape[1]):
        past = horizon[_PAST, index]
        horizon[_MOMENTUM, index] = math.log(mid / past) if past > 0 else 0.0


@njit(cache=True, nogil=True)
def _close_bucket(closes: np.ndarray, returns: np.ndarray, horizon: np.ndarray, sums: np.ndarray,
                  counts: np.ndarray, forecast: np.ndarray, scalars: np.ndarray, counters: np.ndarray) -> None:
    """The bucket count - 1 has just closed: add its return to the windows, then read the volatilities."""
    count, retain = counters[_COUNT], closes.shape[0]
    log_close = math.log(closes[(count - 1) % retain])
    if count >= 2:
        _add_return(log_close - scalars[_LAST_LOG_CLOSE], returns, sums, counts, scalars, counters)
    scalars[_LAST_LOG_CLOSE] = log_close
    if min(count, retain) < 3:
        return
    retained = min(counters[_SEEN], returns.shape[0])
    scale = math.sqrt(SECONDS_PER_YEAR)
    horizons = horizon.shape[1]
    for index in range(horizons + 1):
        size = min(counts[_LENGTH, index], retained)
        volatility = 0.0
        if size > 1 and counts[_NONZERO, index]:
            mean = sums[_SUM, index] / size
            volatility = math.sqrt(max(sums[_SUM_SQ, index] / size - mean * mean, 0.0)) * scale
        if index < horizons:
            horizon[_VOLATILITY, index] = volatility
        else:
            scalars[_LONG_VOLATILITY] = volatility
    _forecast(horizon, forecast)
    short = horizon[_VOLATILITY, min(1, horizons - 1)]
    total = short + scalars[_LONG_VOLATILITY]
    scalars[_SEA_STATE] = short / total if total > 0 else 0.0


@njit(cache=True, nogil=True)
def _add_return(value: float, returns: np.ndarray, sums: np.ndarray, counts: np.ndarray, scalars: np.ndarray,
                counters: np.ndarray) -> None:
    seen, ring = counters[_SEEN], returns.shape[0]
    if seen % EXACT_EVERY == 0:
        returns[seen % ring] = value
        counters[_SEEN] = seen + 1
        _exact_sums(returns, sums, counts, scalars, counters)
        return
    shift = scalars[_SHIFT]
    entering = value - shift
    for index in range(counts.shape[1]):
        window = counts[_LENGTH, index]
        if seen >= window:  # the return `window` back leaves (read before the ring slot is reused)
            raw = returns[(seen - window) % ring]
            leaving = raw - shift
            sums[_SUM, index] -= leaving
            sums[_SUM_SQ, index] -= leaving * leaving
            counts[_NONZERO, index] -= raw != 0.0
        sums[_SUM, index] += entering
        sums[_SUM_SQ, index] += entering * entering
        counts[_NONZERO, index] += value != 0.0
    returns[seen % ring] = value
    counters[_SEEN] = seen + 1


@njit(cache=True, nogil=True)
def _exact_sums(returns: np.ndarray, sums: np.ndarray, counts: np.ndarray, scalars: np.ndarray,
                counters: np.ndarray) -> None:
    """Recompute every window's sums from the retained returns, about their mean."""
    seen, ring = counters[_SEEN], returns.shape[0]
    retained = min(seen, ring)
    ordered = np.empty(retained)
    for i in range(retained):
        ordered[i] = returns[(seen - retained + i) % ring]
    shift = ordered.mean()
    scalars[_SHIFT] = shift
    for index in range(counts.shape[1]):
        total, total_sq, nonzero = 0.0, 0.0, 0
        for i in range(retained - min(counts[_LENGTH, index], retained), retained):
            centred = ordered[i] - shift
            total += centred
            total_sq += centred * centred
            nonzero += ordered[i] != 0.0
        sums[_SUM, index], sums[_SUM_SQ, index], counts[_NONZERO, index] = total, total_sq, nonzero


@njit(cache=True, nogil=True)
def _forecast(horizon: np.ndarray, forecast: np.ndarray) -> None:
    index = min(1, horizon.shape[1] - 1)
    drift_per_s = horizon[_MOMENTUM, index] / horizon[_HORIZON, index]
    decay = math.log(2) / FORECAST_HALF_LIFE_S
    for point in range(forecast.shape[0]):
        t = (point + 1) * FORECAST_STEP_S
        forecast[point] = math.exp(drift_per_s * (1 - math.exp(-decay * t)) / decay)
