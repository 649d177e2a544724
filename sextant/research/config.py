"""Research settings: the data, the walk-forward split, the ratchet's bars and the executor."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import msgspec

from sextant.config import ConfigError
from sextant.research.families import FAMILIES
from sextant.research.metrics import METRICS_VERSION


class ResearchConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    seed: int = 7
    families: tuple[str, ...] = tuple(FAMILIES)
    budget: int = 1000  # hypotheses in the ledger, screened out ones too (baselines not); a resumed run goes on
    # walk-forward: `selection_windows` consecutive windows, then the sealed holdout (the last fraction)
    selection_windows: int = 3
    holdout_fraction: float = 0.25
    period_s: float = 60.0  # return period of the information ratio (the data's step where that is longer)
    base_size: float = 1.0  # contracts, as the crew trades
    # on an imported instrument, the base size is the lots worth this at the data's first price (as the engine's
    # base_notional_share of its starting balance: 1 % of 100,000)
    base_notional: float = 1_000.0
    cooldown_secs: float = 30.0  # the live gate's pause between executions
    # the ratchet
    # selection IR must beat the best's by this many standard errors of an IR estimate on the selection windows
    # (√(periods a year / periods seen)): smaller steps are indistinguishable from noise
    min_improvement_se: float = 0.5
    max_drawdown: float = 0.10  # in every selection window and the holdout, of the traded notional
    dsr_confidence: float = 0.95  # the holdout's deflated Sharpe ratio must reach this
    # evaluation
    executor: Literal["inline", "process", "ray"] = "process"
    workers: int = 2
    # Each round proposes `screen` hypotheses, ranks them by the screen (research/screen.py) and confirms the best
    # `batch` on Nautilus; the rest are judged "screened out". Both fixed, not the number of workers, so that every
    # executor and worker count gives the same ledger. screen ≤ batch: no screen, every proposal on Nautilus.
    screen: int = 64
    batch: int = 4
    screen_slippage_bps: float = 0.0  # the screen's cost beyond the spread, the touch's depth and the taker fee
    proposer: Literal["mutation", "llm"] = "mutation"
    llm_every: int = 4  # with the LLM proposer: one proposal in this many is the LLM's, the rest mutations

    def __post_init__(self) -> None:
        unknown = [family for family in self.families if family not in FAMILIES]
        if unknown or not self.families:
            raise ConfigError(f"unknown families {unknown} (known: {', '.join(FAMILIES)})")
        if self.budget < 0 or self.workers < 1 or self.selection_windows < 1 or self.batch < 1 or self.screen < 0:
            raise ConfigError("budget ≥ 0, workers ≥ 1, batch ≥ 1, screen ≥ 0 and selection_windows ≥ 1 are required")
        if not math.isfinite(self.screen_slippage_bps) or self.screen_slippage_bps < 0:
            raise ConfigError("screen_slippage_bps must be a finite number ≥ 0")
        if not 0.5 <= self.dsr_confidence < 1:
            raise ConfigError("dsr_confidence must be in [0.5, 1)")

    @classmethod
    def from_options(cls, options: Mapping[str, object]) -> ResearchConfig:
        """From the command line's values, each checked against its field's type: ConfigError naming the first
        that does not fit."""
        try:
            return msgspec.convert(dict(options), cls)
        except msgspec.ValidationError as error:
            raise ConfigError(str(error)) from None

    def identity(self) -> dict[str, object]:
        """What makes two runs' results comparable (the ledger refuses to mix others)."""
        return {name: getattr(self, name) for name in (
            "seed", "selection_windows", "holdout_fraction", "period_s", "base_size", "cooldown_secs",
            "min_improvement_se", "max_drawdown", "dsr_confidence", "batch", "screen", "screen_slippage_bps")} | {
            "families": list(self.families), "metrics": METRICS_VERSION}
