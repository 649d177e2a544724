"""The mean-reversion agent: fades a stretched price, measured as a z-score against the recent trace.

The z-score is the latest mid against the mean and (population) standard deviation of the last `window` market
events of the ContextWindow trace, read in true chronological order (the original read a fixed pair of slots
once the 64-slot ring had wrapped): the ring from the oldest slot on, then from its start. Spreads wider than
`max_spread_bps` mean no fading. Entering: |z| above the entry threshold while not already positioned that way →
MeanReversion to ∓base size (a post-only limit). Leaving: positioned and |z| back under the exit threshold → flat
at market (the original cleared its flag and sent nothing).
"""

from __future__ import annotations

import msgspec
import numpy as np

from sextant.state.layout import TRACE_SLOTS, CrewState, CrewTask, TraceKind
from sextant.swarm.agents.base import CrewMember
from sextant.swarm.intent import AgentIntent, RiskBudget

_QUOTE = int(TraceKind.QUOTE)


class MeanReversionConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    agent_id: str = "mean-reversion-01"
    window: int = 40
    min_events: int = 10
    entry_z: float = 2.0
    exit_z: float = 0.3
    max_spread_bps: float = 30.0
    base_size: float = 1.0
    max_loss_usdt: float = 50.0
    horizon_s: float = 180.0


class MeanReversionAgent(CrewMember):
    def __init__(self, config: MeanReversionConfig | None = None) -> None:
        super().__init__(config or MeanReversionConfig())

    def zscore(self, record: np.void) -> float:
        f = self.fields(record)
        count = f.trace_count.item()
        if count <= TRACE_SLOTS:
            kinds, prices = f.trace_kind[:count], f.trace_price[:count]
        else:  # wrapped: the oldest event is in the slot the next one will take
            oldest = count % TRACE_SLOTS
            kinds = np.concatenate((f.trace_kind[oldest:], f.trace_kind[:oldest]))
            prices = np.concatenate((f.trace_price[oldest:], f.trace_price[:oldest]))
        prices = prices[kinds == _QUOTE][-self.config.window:]
        if len(prices) < self.config.min_events:
            return 0.0
        std = float(prices.std())
        return (float(prices[-1]) - float(prices.mean())) / std if std > 1e-9 else 0.0

    def perceive(self, record: np.void, instrument: str, now_ns: int) -> AgentIntent | None:
        c = self.config
        z = self.zscore(record)
        self.status = (CrewState.ACTIVE, CrewTask.FADING_ZSCORE, z)
        f = self.fields(record)
        if f.spread_bps.item() > c.max_spread_bps:
            return None
        position = f.position_size.item()
        common = {"agent": self.agent_id, "instrument": instrument, "created_ns": now_ns, "horizon_s": c.horizon_s,
                  "budget": RiskBudget(max_loss=c.max_loss_usdt, max_position=c.base_size),
                  "reputation": f.reputation.item() or 0.5}
        fade = -1.0 if z > 0 else 1.0
        if abs(z) >= c.entry_z and fade * position <= 0:
            self.status = (CrewState.SUGGESTING, CrewTask.FADING_ZSCORE, z)
            return AgentIntent(id=self._next_id(), kind="MeanReversion", target_position=fade * c.base_size,
                               confidence=min(0.9, max(0.3, abs(z) / (2 * c.entry_z))),
                               title=f"Fade {'up' if z > 0 else 'down'} move, z {z:+.2f}",
                               reasoning=f"price {abs(z):.2f} standard deviations from its {c.window}-event mean",
                               **common)
        if position != 0 and abs(z) < c.exit_z:
            return AgentIntent(id=self._next_id(), kind="MeanReversion", target_position=0.0, style="MARKET",
                               confidence=0.6, title="Flatten: price back at its mean",
                               reasoning=f"z {z:+.2f} inside ±{c.exit_z:g}", **common)
        return None
