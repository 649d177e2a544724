"""The delta-hedge agent: steers the book's delta back to its target when it drifts past a band.

With one instrument, delta = position × contract multiplier, in the base asset (BTC, EUR, shares), against the
instrument's delta limit. In a portfolio it is the portfolio's net delta (Σ signed notional, in the settlement
currency) against the net delta's limit, and only the member on the most liquid instrument (the account's
`hedge_slot`: the deepest touch in notional) hedges it, in that instrument: the others watch. The band is a share
of the limit, so it scales with the instruments as the limit does. Outside ±band of the target it proposes a
DeltaHedge intent (compiled to a TWAP, so a large hedge is worked over time) back to the target; its confidence
grows with how far the delta has strayed relative to the limit, so a small drift does not outrank the trading
agents.
"""

from __future__ import annotations

import msgspec
import numpy as np

from sextant.state.layout import CrewState, CrewTask
from sextant.swarm.agents.base import CrewMember
from sextant.swarm.intent import AgentIntent, RiskBudget


class DeltaHedgeConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    agent_id: str = "delta-hedge-01"
    target_delta: float = 0.0  # in the base asset
    band_share: float = 0.5  # of the hull's delta limit: BTC-USDT-SWAP's 0.05 BTC, 5 contracts
    max_loss_usdt: float = 500.0
    horizon_s: float = 60.0


class DeltaHedgeAgent(CrewMember):
    def __init__(self, config: DeltaHedgeConfig | None = None) -> None:
        super().__init__(config or DeltaHedgeConfig())

    def perceive(self, record: np.void, instrument: str, now_ns: int) -> AgentIntent | None:
        c = self.config
        f = self.fields(record)
        multiplier, mid = f.multiplier.item(), f.mid.item()
        if multiplier <= 0 or not mid > 0:
            return None
        position = f.position_size.item()
        portfolio = f.instrument_count.item() > 1
        if portfolio:  # the net delta in this instrument's base asset, against the net limit likewise
            drift, limit = f.net_delta.item() / mid - c.target_delta, f.net_delta_limit.item() / mid
            scope = "the portfolio's net delta"
        else:
            drift, limit = position * multiplier - c.target_delta, f.delta_limit.item()
            scope = "delta"
        self.status = (CrewState.ACTIVE, CrewTask.HEDGING_DELTA, drift)
        band = c.band_share * limit
        if abs(drift) <= band or limit <= 0 or (portfolio and f.slot_index.item() != f.hedge_slot.item()):
            return None
        target = position - drift / multiplier
        self.status = (CrewState.SUGGESTING, CrewTask.HEDGING_DELTA, drift)
        return AgentIntent(id=self._next_id(), agent=self.agent_id, kind="DeltaHedge",
                           instrument=instrument, target_position=target, created_ns=now_ns,
                           confidence=min(0.95, abs(drift) / limit), horizon_s=c.horizon_s,
                           budget=RiskBudget(max_loss=c.max_loss_usdt,
                                             max_position=abs(position) + abs(target)),
                           title=f"Hedge {scope} {drift:+.4g} back to {c.target_delta:+.4g}",
                           reasoning=f"{scope} drifted {abs(drift):.4g} in the base asset, beyond the ±{band:.4g} "
                                     f"band ({c.band_share:.0%} of its limit)")
