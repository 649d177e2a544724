"""The crew's own limits: the trade limit (SEXTANT_MAX_TRADES) and the cooldown (SEXTANT_COOLDOWN_SECS)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sextant.state import messages
from sextant.swarm.intent import AgentIntent, RiskBudget
from tests.engine.conftest import engine_config, run_engine


class Eager:
    """Wants to flip the position at market on every quote."""

    agent_id = "eager-01"

    def __init__(self) -> None:
        self.count = 0

    def perceive(self, record: np.void, instrument: str, now_ns: int) -> AgentIntent:
        self.count += 1
        target = -1.0 if float(record["position_size"]) > 0 else 1.0
        return AgentIntent(id=f"eager-{self.count}", agent=self.agent_id, kind="TrendFollow", instrument=instrument,
                           target_position=target, style="MARKET", confidence=0.9,
                           budget=RiskBudget(max_loss=1e6, max_position=2.0))


def executions(collected: list) -> list[Any]:
    return [m for m in collected if isinstance(m.message, messages.OrderSubmitted)]


@pytest.mark.slow
def test_the_trade_limit_stops_the_crew_after_max_trades(tmp_path: Path) -> None:
    parts, collected = run_engine(engine_config(tmp_path, autonomy="AUTO", max_trades=3, duration_s=3.0),
                                  agents=[Eager()])
    assert len(executions(collected)) == 3
    assert parts.context.record["crew_task"][0] == 11  # CrewTask.TRADE_LIMIT


@pytest.mark.slow
def test_the_cooldown_spaces_executions(tmp_path: Path) -> None:
    parts, collected = run_engine(engine_config(tmp_path, autonomy="AUTO", cooldown_secs=1.0, duration_s=4.5),
                                  agents=[Eager()])
    submitted = executions(collected)
    assert 3 <= len(submitted) <= 5
    gaps = np.diff([m.ts_ns for m in submitted]) / 1e9
    assert np.all(gaps >= 0.99), gaps
