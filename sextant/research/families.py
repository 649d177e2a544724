"""The strategy families research tunes, each a causal rule from market features to a target position.

A family is a parameter space (typed, bounded) and a kernel. The kernel walks a window's buckets (the last mid of
each second that saw a quote, as the ContextWindow's features are built: market/features.py; on bars, each bar)
and returns the target position (in base sizes, signed) it would hold after each bucket. Every value at bucket i
uses data up to bucket i only. Horizons count buckets, as the live features do: the data's own steps (seconds of
quotes, hours of hourly bars). The live gate's cooldown (real time) applies between changes, as it does to the crew.

Two families are the live crew's own rules, on the same features, so an accepted hypothesis means the same thing in
the running engine (a test checks the parity against the live agents):

* momentum:        swarm/agents/momentum.py: the z of the momentum over a horizon against the move the realised
                   volatility explains; enter beyond entry_z, flatten inside exit_z.
* mean_reversion:  swarm/agents/mean_reversion.py: the z of the last mid against the mean and standard deviation of
                   the last `window` quotes; fade beyond entry_z, flatten inside exit_z.

Three more are researched on their own (no crew member runs them yet; their accepted results are reported, not
applied):

* breakout:        long above the highest close of the lookback, short below the lowest; out when the price
                   falls back through `exit_level` of the channel.
* vol_target:      the sign of the trend, sized by target volatility / realised volatility (at most one base
                   size), rebalanced when the size drifts by more than the band.
* dual_momentum:   long only when both the fast and the slow momentum z are above the threshold, short when both
                   are below its negative, else flat.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np

from sextant.market.features import DEFAULT_HORIZONS_S, SECONDS_PER_YEAR

HORIZONS_S = np.array(DEFAULT_HORIZONS_S)


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One tunable parameter: a float in [low, high], or an integer in [low, high] (indices, windows)."""

    name: str
    low: float
    high: float
    integer: bool = False
    doc: str = ""

    def clip(self, value: float) -> float:
        value = min(self.high, max(self.low, value))
        return float(round(value)) if self.integer else round(value, 4)

    def check(self, value: Any) -> float:
        """The value as this parameter's type, or ValueError saying why it cannot be."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{self.name} must be a number, got {value!r}")  # ValueError: one error type
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{self.name} must be finite, got {value!r}")
        if not (self.low <= number <= self.high):
            raise ValueError(f"{self.name}={number:g} is outside [{self.low:g}, {self.high:g}]")
        if self.integer and number != round(number):
            raise ValueError(f"{self.name} must be a whole number, got {value!r}")
        return self.clip(number)


@dataclass(frozen=True, slots=True)
class WindowFeatures:
    """A window's buckets and what every family reads from them, computed once per window."""

    t_s: np.ndarray  # bucket time (seconds from the window's start)
    close: np.ndarray  # last mid of each bucket
    end_ns: np.ndarray  # ts of each bucket's last quote: where a decision is taken
    momentum: np.ndarray  # (len(HORIZONS_S), n): log return over each horizon, in buckets back
    volatility: np.ndarray  # (len(HORIZONS_S), n): std of one-bucket log returns over each horizon (not annualised)
    quote_mid: np.ndarray  # every quote's mid, for the quote-window z (mean reversion)
    bucket_last_quote: np.ndarray  # index into quote_mid of each bucket's last quote
    spread_bps: np.ndarray  # each bucket's last spread
    step_s: float = 1.0  # the data's step: the median spacing of its buckets (a second for quotes, a bar for bars)
    buckets_per_year: float = SECONDS_PER_YEAR  # buckets in a year of the data's own calendar (its timestamps)


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    params: tuple[ParamSpec, ...]
    defaults: dict[str, float]
    targets: Callable[[WindowFeatures, dict[str, float], float], np.ndarray]
    constraint: Callable[[dict[str, float]], str | None] = lambda params: None
    live_agent: str | None = None  # the crew member whose config these params are (research/link.py)
    summary: str = field(default="")
    constraint_doc: str = ""

    def spec(self, name: str) -> ParamSpec:
        for spec in self.params:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def validate(self, params: dict[str, Any]) -> dict[str, float]:
        """Complete, typed, bounded parameters, or ValueError naming what is wrong (unknown names too)."""
        unknown = set(params) - {spec.name for spec in self.params}
        if unknown:
            raise ValueError(f"{self.name} has no parameter {', '.join(sorted(unknown))} "
                             f"(it has {', '.join(spec.name for spec in self.params)})")
        checked = {spec.name: spec.check(params.get(spec.name, self.defaults[spec.name])) for spec in self.params}
        problem = self.constraint(checked)
        if problem is not None:
            raise ValueError(f"{self.name}: {problem}")
        return checked


# ------------------------------------------------------------------------------------------------ features


def window_features(ts_ns: np.ndarray, bid: np.ndarray, ask: np.ndarray) -> WindowFeatures:
    """Buckets by whole second of the quote clock (a bucket per second that saw a quote, as MarketFeatures)."""
    mid = (bid + ask) / 2.0
    seconds = (ts_ns // 1_000_000_000).astype(np.int64)
    last = np.flatnonzero(np.diff(seconds) != 0)
    last = np.append(last, len(seconds) - 1).astype(np.int64)
    close = mid[last]
    returns = np.zeros(len(close))
    returns[1:] = np.diff(np.log(close))
    momentum = np.zeros((len(HORIZONS_S), len(close)))
    volatility = np.zeros((len(HORIZONS_S), len(close)))
    cumulative = np.concatenate(([0.0], np.cumsum(returns)))
    squares = np.concatenate(([0.0], np.cumsum(returns * returns)))
    index = np.arange(len(close))
    for row, horizon in enumerate(HORIZONS_S.astype(np.int64)):
        back = np.maximum(index - horizon, 0)
        momentum[row] = np.log(close / close[back])
        # As the live encoder at a bucket's last quote: the std of the closed buckets' returns, the last `horizon`
        # of them (the current bucket's return is not in yet).
        stop = index  # returns[1..i-1] are closed at bucket i; returns[0] is not a return
        start = np.maximum(stop - horizon, 1)
        count = np.maximum(stop - start, 0)
        total = cumulative[stop] - cumulative[start]
        total_sq = squares[stop] - squares[start]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / np.maximum(count, 1), 0.0)
            variance = np.where(count > 1, total_sq / np.maximum(count, 1) - mean * mean, 0.0)
        volatility[row] = np.sqrt(np.maximum(variance, 0.0))
    spread_bps = (ask[last] - bid[last]) / close * 1e4
    t_s = (ts_ns[last] - ts_ns[0]).astype(np.float64) / 1e9
    step_s = data_step_s(t_s)
    return WindowFeatures(t_s=t_s, close=close, end_ns=ts_ns[last].astype(np.int64), momentum=momentum,
                          volatility=volatility, quote_mid=mid, bucket_last_quote=last, spread_bps=spread_bps,
                          step_s=step_s, buckets_per_year=len(close) * SECONDS_PER_YEAR / (t_s[-1] + step_s))


def data_step_s(t_s: np.ndarray) -> float:
    """The data's own step: the median spacing of its buckets, at least a second (quotes denser than that are
    bucketed by the second, as the live features are). An hourly bar's is 3,600 s, also over a weekend's gap."""
    spacing = np.diff(t_s)
    spacing = spacing[spacing > 0]
    return max(1.0, float(np.median(spacing))) if len(spacing) else 1.0


def momentum_z(features: WindowFeatures, horizon_index: int, volatility_index: int) -> np.ndarray:
    """The live momentum agent's z at each bucket: momentum / (σ₁ₛ·√horizon)."""
    expected = features.volatility[volatility_index] * math.sqrt(HORIZONS_S[horizon_index])
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(expected > 0, features.momentum[horizon_index] / expected, 0.0)
    return np.nan_to_num(z)


def quote_window_z(features: WindowFeatures, window: int, min_events: int = 10) -> np.ndarray:
    """The live mean-reversion agent's z at each bucket's last quote, over the last `window` quotes."""
    mid = features.quote_mid
    sums = np.concatenate(([0.0], np.cumsum(mid - mid[0])))
    squares = np.concatenate(([0.0], np.cumsum((mid - mid[0]) ** 2)))
    stop = features.bucket_last_quote + 1
    start = np.maximum(stop - window, 0)
    count = stop - start
    mean = (sums[stop] - sums[start]) / count
    variance = np.maximum((squares[stop] - squares[start]) / count - mean * mean, 0.0)
    std = np.sqrt(variance)
    last = mid[features.bucket_last_quote] - mid[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where((std > 1e-9) & (count >= min_events), (last - mean) / std, 0.0)
    return z


# ------------------------------------------------------------------------------------------------ kernels
# Each walks the buckets with the position it holds; a change waits for the cooldown since the last one.


@numba.njit(cache=True)
def _threshold_kernel(t_s: np.ndarray, z: np.ndarray, entry: float, exit_: float, sign: float, cooldown_s: float,
                      allowed: np.ndarray) -> np.ndarray:
    """Momentum (sign +1: follow z) and mean reversion (sign -1: fade z), as the live agents decide."""
    out = np.zeros(len(z))
    position = 0.0
    last_change = -1e18
    for i in range(len(z)):
        if t_s[i] - last_change >= cooldown_s and allowed[i]:
            direction = sign if z[i] > 0 else -sign
            target = position
            if abs(z[i]) >= entry and direction * position <= 0:
                target = direction
            elif position != 0 and abs(z[i]) < exit_:
                target = 0.0
            if target != position:
                position = target
                last_change = t_s[i]
        out[i] = position
    return out


@numba.njit(cache=True)
def _breakout_kernel(t_s: np.ndarray, close: np.ndarray, lookback: int, exit_level: float,
                     cooldown_s: float) -> np.ndarray:
    out = np.zeros(len(close))
    position = 0.0
    last_change = -1e18
    for i in range(lookback, len(close)):
        high = close[i - lookback]
        low = high
        for j in range(i - lookback, i):
            high = max(high, close[j])
            low = min(low, close[j])
        target = position
        if close[i] > high:
            target = 1.0
        elif close[i] < low:
            target = -1.0
        elif ((position > 0 and close[i] < low + exit_level * (high - low))
              or (position < 0 and close[i] > high - exit_level * (high - low))):
            target = 0.0
        if target != position and t_s[i] - last_change >= cooldown_s:
            position = target
            last_change = t_s[i]
        out[i] = position
    return out


@numba.njit(cache=True)
def _vol_target_kernel(t_s: np.ndarray, trend: np.ndarray, sigma_annual: np.ndarray, target_vol: float,
                       band: float, lot: float, cooldown_s: float) -> np.ndarray:
    out = np.zeros(len(trend))
    position = 0.0
    last_change = -1e18
    for i in range(len(trend)):
        size = 0.0
        if sigma_annual[i] > 0 and trend[i] != 0:
            size = min(1.0, target_vol / sigma_annual[i])
            size = math.floor(size / lot) * lot
            size = size if trend[i] > 0 else -size
        if abs(size - position) > band and t_s[i] - last_change >= cooldown_s:
            position = size
            last_change = t_s[i]
        out[i] = position
    return out


@numba.njit(cache=True)
def _follow(t_s: np.ndarray, desired: np.ndarray, cooldown_s: float) -> np.ndarray:
    """Hold the desired position, changing at most once per cooldown (for rules that do not depend on the
    position held)."""
    out = np.zeros(len(desired))
    position = 0.0
    last_change = -1e18
    for i in range(len(desired)):
        if desired[i] != position and t_s[i] - last_change >= cooldown_s:
            position = desired[i]
            last_change = t_s[i]
        out[i] = position
    return out


# ------------------------------------------------------------------------------------------------ families

MAX_SPREAD_BPS = 30.0  # the live mean-reversion agent's default: no fading in a wide market


def _momentum(features: WindowFeatures, p: dict[str, float], cooldown_s: float) -> np.ndarray:
    z = momentum_z(features, int(p["horizon_index"]), int(p["volatility_index"]))
    allowed = np.ones(len(z), dtype=np.bool_)
    return _threshold_kernel(features.t_s, z, p["entry_z"], p["exit_z"], 1.0, cooldown_s, allowed)


def _mean_reversion(features: WindowFeatures, p: dict[str, float], cooldown_s: float) -> np.ndarray:
    z = quote_window_z(features, int(p["window"]))
    allowed = features.spread_bps <= MAX_SPREAD_BPS
    return _threshold_kernel(features.t_s, z, p["entry_z"], p["exit_z"], -1.0, cooldown_s, allowed)


def _breakout(features: WindowFeatures, p: dict[str, float], cooldown_s: float) -> np.ndarray:
    return _breakout_kernel(features.t_s, features.close, int(p["lookback_s"]), p["exit_level"], cooldown_s)


def _vol_target(features: WindowFeatures, p: dict[str, float], cooldown_s: float) -> np.ndarray:
    trend = np.sign(features.momentum[int(p["trend_index"])])
    sigma = features.volatility[int(p["volatility_index"])] * math.sqrt(features.buckets_per_year)
    return _vol_target_kernel(features.t_s, trend, sigma, p["target_vol"], p["band"], 0.01, cooldown_s)


def _dual_momentum(features: WindowFeatures, p: dict[str, float], cooldown_s: float) -> np.ndarray:
    fast = momentum_z(features, int(p["fast_index"]), int(p["volatility_index"]))
    slow = momentum_z(features, int(p["slow_index"]), int(p["volatility_index"]))
    threshold = p["threshold_z"]
    desired = np.where((fast > threshold) & (slow > threshold), 1.0,
                       np.where((fast < -threshold) & (slow < -threshold), -1.0, 0.0))
    return _follow(features.t_s, desired, cooldown_s)


def _exit_below_entry(params: dict[str, float]) -> str | None:
    if params["exit_z"] >= params["entry_z"]:
        return f"exit_z ({params['exit_z']:g}) must be below entry_z ({params['entry_z']:g})"
    return None


def _fast_below_slow(params: dict[str, float]) -> str | None:
    if params["fast_index"] >= params["slow_index"]:
        return "fast_index must be a shorter horizon than slow_index"
    return None


HORIZON_DOC = f"index into the horizons {', '.join(f'{h:g} s' for h in DEFAULT_HORIZONS_S)}"

FAMILIES: dict[str, Family] = {family.name: family for family in (
    Family("momentum", (
        ParamSpec("horizon_index", 0, 3, integer=True, doc="momentum horizon: " + HORIZON_DOC),
        ParamSpec("volatility_index", 0, 3, integer=True, doc="volatility that scales it: " + HORIZON_DOC),
        ParamSpec("entry_z", 0.3, 4.0, doc="enter beyond this z"),
        ParamSpec("exit_z", 0.0, 2.0, doc="flatten inside this z"),
    ), {"horizon_index": 0, "volatility_index": 1, "entry_z": 1.0, "exit_z": 0.2}, _momentum, _exit_below_entry,
        live_agent="momentum", summary="trend following on the momentum z", constraint_doc="exit_z < entry_z"),
    Family("mean_reversion", (
        ParamSpec("window", 10, 64, integer=True, doc="quotes in the mean and deviation (the trace holds 64)"),
        ParamSpec("entry_z", 0.5, 4.0, doc="fade beyond this z"),
        ParamSpec("exit_z", 0.0, 2.0, doc="flatten inside this z"),
    ), {"window": 40, "entry_z": 2.0, "exit_z": 0.3}, _mean_reversion, _exit_below_entry,
        live_agent="mean-reversion", summary="fading a stretched price", constraint_doc="exit_z < entry_z"),
    Family("breakout", (
        ParamSpec("lookback_s", 20, 1800, integer=True, doc="channel length, seconds"),
        ParamSpec("exit_level", 0.1, 0.9, doc="leave when the price falls back through this part of the channel"),
    ), {"lookback_s": 300, "exit_level": 0.5}, _breakout, summary="channel breakouts"),
    Family("vol_target", (
        ParamSpec("trend_index", 1, 3, integer=True, doc="trend horizon: " + HORIZON_DOC),
        ParamSpec("volatility_index", 1, 3, integer=True, doc="realised volatility: " + HORIZON_DOC),
        ParamSpec("target_vol", 0.05, 1.5, doc="annualised volatility the position aims at"),
        ParamSpec("band", 0.05, 0.6, doc="rebalance when the size is off by more than this (base sizes)"),
    ), {"trend_index": 2, "volatility_index": 2, "target_vol": 0.4, "band": 0.25}, _vol_target,
        summary="trend sized to a volatility target"),
    Family("dual_momentum", (
        ParamSpec("fast_index", 0, 2, integer=True, doc="fast horizon: " + HORIZON_DOC),
        ParamSpec("slow_index", 1, 3, integer=True, doc="slow horizon: " + HORIZON_DOC),
        ParamSpec("volatility_index", 0, 3, integer=True, doc="volatility that scales both: " + HORIZON_DOC),
        ParamSpec("threshold_z", 0.0, 3.0, doc="both z beyond this"),
    ), {"fast_index": 1, "slow_index": 2, "volatility_index": 2, "threshold_z": 0.5}, _dual_momentum,
        _fast_below_slow, summary="two horizons must agree", constraint_doc="fast_index < slow_index"),
)}
