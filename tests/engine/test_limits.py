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
    """Orders placed for the crew's intents (protective stops are the engine's own, not executions)."""
    return [m for m in collected if isinstance(m.message, messages.OrderSubmitted) and m.message.intent_id]


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


@pytest.mark.slow
def test_every_position_carries_a_reduce_only_stop_that_goes_when_it_closes(tmp_path: Path) -> None:
    from nautilus_trader.model.enums import OrderType

    from tests.engine.conftest import intent

    seen: dict[str, Any] = {}

    def schedule(parts: Any, loop: Any) -> None:
        strategy = parts.strategy
        loop.call_later(0.5, lambda: strategy.propose(intent("open", "TrendFollow", 2.0, style="MARKET")))
        loop.call_later(1.5, lambda: seen.update(open=[o for o in parts.node.cache.orders_open()]))
        loop.call_later(2.0, lambda: strategy.propose(intent("close", "TrendFollow", 0.0, style="MARKET")))
        loop.call_later(3.0, lambda: seen.update(after=[o for o in parts.node.cache.orders_open()]))

    parts, collected = run_engine(engine_config(tmp_path, autonomy="AUTO", duration_s=3.5, sl_pct=0.02), schedule)
    (stop,) = seen["open"]
    fill = next(m.message for m in collected if isinstance(m.message, messages.OrderFilled)
                and m.message.intent_id == "open")
    assert stop.order_type == OrderType.STOP_MARKET and stop.is_reduce_only and stop.side.name == "SELL"
    assert float(stop.quantity) == 2.0
    assert float(stop.trigger_price) == pytest.approx(fill.fill_price * 0.98, abs=0.1)
    assert seen["after"] == []


@pytest.mark.slow
def test_win_or_loss_comes_from_realised_pnl_for_longs_and_shorts(tmp_path: Path) -> None:
    """The original's bug: it judged a close after resetting the entry, so every long 'won' and every short 'lost'."""
    from tests.engine.conftest import intent

    def schedule(parts: Any, loop: Any) -> None:
        strategy = parts.strategy
        steps = [("long", 1.0), ("flat-1", 0.0), ("short", -1.0), ("flat-2", 0.0)]
        for index, (intent_id, target) in enumerate(steps):
            loop.call_later(0.5 + index * 0.7, lambda i=intent_id, t=target: strategy.propose(
                intent(i, "TrendFollow", t, style="MARKET")))

    parts, _ = run_engine(engine_config(tmp_path, autonomy="AUTO", duration_s=3.5), schedule)
    outcomes = parts.strategy.outcomes.outcomes
    assert [(o.side, o.intent_id, o.agent) for o in outcomes] == [("LONG", "long", "test-agent"),
                                                                   ("SHORT", "short", "test-agent")]
    for outcome in outcomes:
        direction = 1.0 if outcome.side == "LONG" else -1.0
        gross = direction * (outcome.exit_price - outcome.entry_price) * outcome.quantity * 0.01
        assert outcome.realized_pnl < gross  # fees are in
        assert outcome.win == (outcome.realized_pnl > 0)
