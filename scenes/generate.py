"""Generate the shipped scenes: `python scenes/generate.py` (or `make scenes`). Seeded: the same code gives the
same files.

Each scene is a quote stream run through `sextant sim` (the full crew on Nautilus' BacktestEngine) and recorded,
so a scene carries its market, the crew's decisions and the ContextWindow the bridge shows (docs/scene-format.md).

    calm-trend    10 minutes of calm water (25 % annualised volatility) with a steady climb of about 0.8 %
    chop          10 minutes of a mean-reverting market (Ornstein-Uhlenbeck, 30 s half-life) around 60,000
    flash-crash   5 calm minutes, then a 7 % fall in 30 s with the spread blowing out to 60 bps and the book
                  thinning to a few contracts, then a partial, nervous recovery
    aapl-2018     a real public price history: AAPL's weekly closes from 2018-01-01 to 2019-12-30, normalised to
                  1.0 at the start, as shipped in the plotly package (plotly/package_data/datasets/stocks.csv.gz,
                  Plotly's sample of Yahoo Finance data). One week becomes 20 s of quotes, linearly interpolated
                  between closes with 1 bp of seeded noise, scaled to a 60,000 start. It needs plotly only to
                  regenerate: `pip install plotly` (the `scenes` extra).
"""

from __future__ import annotations

import gzip
import io
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from sextant.engine.config import EngineConfig
from sextant.engine.sim import SIM_START_NS, run_sim
from sextant.market.instrument import okx_linear_swap
from sextant.market.simulated_venue import quote_ticks

SCENES_DIR = Path(__file__).resolve().parent
TICK = 0.1
STEP_S = 0.1
SECONDS_PER_YEAR = 365.0 * 24 * 3600


def _book(mids: np.ndarray, spread_bps: np.ndarray, depth: np.ndarray, rng: np.random.Generator) -> tuple:
    """Bid, ask and sizes on the tick grid around `mids`, the ask at least a tick above the bid."""
    half = np.maximum(mids * spread_bps / 2e4, TICK / 2)
    bid = np.floor((mids - half) / TICK) * TICK
    ask = np.maximum(np.ceil((mids + half) / TICK) * TICK, bid + TICK)
    bid_size = np.round(depth * rng.uniform(0.6, 1.4, len(mids)), 2)
    ask_size = np.round(depth * rng.uniform(0.6, 1.4, len(mids)), 2)
    return np.round(bid, 1), np.round(ask, 1), np.maximum(bid_size, 0.01), np.maximum(ask_size, 0.01)


def _walk(rng: np.random.Generator, n: int, vol: np.ndarray | float, drift_per_step: np.ndarray | float = 0.0,
          step_s: float = STEP_S) -> np.ndarray:
    sigma = np.asarray(vol) * np.sqrt(step_s / SECONDS_PER_YEAR)
    return np.cumsum(drift_per_step + sigma * rng.standard_normal(n))


def calm_trend(rng: np.random.Generator) -> tuple:
    n = 6000
    mids = 60_000 * np.exp(_walk(rng, n, 0.25, 0.008 / n))
    return mids, np.full(n, 0.5), np.full(n, 400.0), STEP_S


def chop(rng: np.random.Generator) -> tuple:
    n = 6000
    theta = np.log(2) / 30.0 * STEP_S
    sigma = 0.9 * np.sqrt(STEP_S / SECONDS_PER_YEAR)
    x = np.zeros(n)
    for i in range(1, n):
        x[i] = x[i - 1] * (1 - theta) + sigma * rng.standard_normal()
    return 60_000 * np.exp(x), np.full(n, 1.0), np.full(n, 250.0), STEP_S


def flash_crash(rng: np.random.Generator) -> tuple:
    n = 6000
    t = np.arange(n) * STEP_S
    crash = (t >= 300) & (t < 330)
    after = t >= 330
    vol = np.where(crash, 2.5, np.where(after, 1.2, 0.25))
    drift = np.where(crash, np.log(0.93) / crash.sum(), np.where(after & (t < 420), np.log(1.03) / 900, 0.0))
    mids = 60_000 * np.exp(_walk(rng, n, vol, drift))
    decay = np.exp(-np.clip(t - 330, 0, None) / 90.0)
    spread = np.where(t < 300, 0.5, np.where(crash, 0.5 + 59.5 * (t - 300) / 30, 0.5 + 59.5 * decay))
    depth = np.where(t < 300, 400.0, np.where(crash, 400 * (1 - (t - 300) / 30) + 3, 3 + 397 * (1 - decay)))
    return mids, spread, depth, STEP_S


def aapl_2018(rng: np.random.Generator) -> tuple:
    from importlib.resources import files

    raw = (files("plotly") / "package_data/datasets/stocks.csv.gz").read_bytes()
    lines = io.StringIO(gzip.decompress(raw).decode()).read().strip().splitlines()
    column = lines[0].split(",").index("AAPL")
    closes = np.array([float(line.split(",")[column]) for line in lines[1:]])
    per_week, step_s = 20, 1.0
    weeks = np.arange(len(closes))
    grid = np.arange((len(closes) - 1) * per_week + 1) / per_week
    mids = 60_000 * np.interp(grid, weeks, closes) * np.exp(1e-4 * rng.standard_normal(len(grid)))
    return mids, np.full(len(grid), 1.0), np.full(len(grid), 300.0), step_s


SCENES = {"calm-trend": (calm_trend, 101), "chop": (chop, 202), "flash-crash": (flash_crash, 303),
          "aapl-2018": (aapl_2018, 404)}


def generate(name: str) -> Path:
    make, seed = SCENES[name]
    rng = np.random.default_rng(seed)
    mids, spread_bps, depth, step_s = make(rng)
    bid, ask, bid_size, ask_size = _book(mids, spread_bps, depth, rng)
    ts = (SIM_START_NS + np.round(np.arange(len(mids)) * step_s * 1e9)).astype(np.uint64)
    config = EngineConfig(seed=seed, cooldown_secs=30.0)
    quotes = quote_ticks(okx_linear_swap(config.instrument), bid, ask, bid_size, ask_size, ts)
    target = SCENES_DIR / name
    with tempfile.TemporaryDirectory() as folder:
        summary = run_sim(config, quotes, Path(folder), source=f"scenes/generate.py:{name}", context_interval_s=1.0)
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(Path(folder) / "scene"), target)
    print(f"{name}: {summary.quotes} quotes, {summary.trades} trades, {summary.vetoes} vetoes, "
          f"{summary.risk_alerts} risk alerts → {target}")
    return target


if __name__ == "__main__":
    for scene in sys.argv[1:] or list(SCENES):
        generate(scene)
