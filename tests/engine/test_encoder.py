"""The StateEncoder keeps the ContextWindow true to Nautilus: book, position, PnL, account and the risk field."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from sextant.risk.hull import RiskLimits
from sextant.state import messages
from sextant.state.layout import HullDimension, TraceKind
from sextant.swarm.agents.risk import RiskAgent
from tests.engine.conftest import engine_config, intent, run_engine


@pytest.mark.slow
def test_position_pnl_and_hull_follow_the_fills(tmp_path: Path) -> None:
    trace_after_fill: list[int] = []

    def schedule(parts: Any, loop: Any) -> None:
        loop.call_later(0.5, lambda: parts.strategy.propose(intent("big", "TrendFollow", 9.0, style="MARKET")))
        loop.call_later(0.6, lambda: trace_after_fill.extend(parts.context.record["trace_kind"].tolist()))

    parts, collected = run_engine(engine_config(tmp_path, autonomy="AUTO", duration_s=2.0), schedule)
    record = parts.context.record
    (fill,) = [m.message for m in collected if isinstance(m.message, messages.OrderFilled)]
    size = fill.fill_quantity
    assert 1.0 <= size < 9.0, "the risk field shrinks a large entry"
    assert record["position_size"] == size
    assert record["entry_price"] == pytest.approx(fill.fill_price)
    expected_upnl = (float(record["mid"]) - fill.fill_price) * size * 0.01
    assert record["unrealized_pnl"] == pytest.approx(expected_upnl, abs=1e-6)
    assert record["realized_pnl"] == pytest.approx(-fill.commission, rel=1e-6)
    assert record["fills"] == 1 and record["orders_submitted"] == 1
    assert TraceKind.FILL in trace_after_fill  # the 64-event trace holds the fill until quotes push it out
    delta = HullDimension.DELTA
    assert record["delta"] == pytest.approx(size * 0.01)  # the instrument's own, in BTC
    # the portfolio's net delta, in USDT, against the instrument's 0.1 BTC at the mid: the same potential
    mid = float(record["mid"])
    assert record["risk_x"][delta] == pytest.approx(size * 0.01 * mid) == record["net_delta"]
    assert record["risk_limit"][delta] == pytest.approx(0.1 * mid)
    assert record["risk_potential"][delta] == pytest.approx(-math.log(1 - size * 0.01 / 0.1))
    assert record["risk_total"] == pytest.approx(sum(record["risk_potential"][:7]))
    # gamma, vega: not for a linear perp; concentration: not with one instrument
    assert list(record["risk_applicable"][:7]) == [1, 0, 0, 1, 0, 1, 1]


class Eager:
    agent_id = "eager-01"

    def perceive(self, record: Any, instrument: str, now_ns: int) -> Any:
        return intent(f"eager-{now_ns}", "TrendFollow", 1.0, style="MARKET")  # wants to be long 1, always


@pytest.mark.slow
def test_tightened_limits_raise_a_risk_alert_and_the_risk_agent_vetoes(tmp_path: Path) -> None:
    def schedule(parts: Any, loop: Any) -> None:
        def tighten() -> None:
            held = float(parts.context.record["position_size"]) * 0.01
            parts.encoder.set_risk_limits(RiskLimits(delta=held / 0.95))  # |x|/L = 0.95: U ≈ 3
        loop.call_later(1.0, tighten)

    parts, collected = run_engine(engine_config(tmp_path, autonomy="AUTO", duration_s=3.0), schedule,
                                  agents=[RiskAgent(), Eager()])
    alerts = [m.message for m in collected if isinstance(m.message, messages.RiskAlert)]
    assert [(a.level, a.dimension) for a in alerts] == [("VETO", "DELTA")]
    assert parts.context.record["risk_total"] >= 2.0
    vetoes = [m.message for m in collected if isinstance(m.message, messages.Veto)]
    assert vetoes and all(v.agent == "risk-01" and v.potential >= v.threshold == 2.0 for v in vetoes)
    assert vetoes[0].intent_id is not None and vetoes[0].intent_id.startswith("eager-")
    assert len(vetoes) <= 3, "a standing veto is reported, not repeated on every quote"
