"""The StateEncoder keeps the ContextWindow true to Nautilus: book, position, PnL, account and the risk field."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from sextant.state import messages
from sextant.state.layout import HullDimension, TraceKind
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
    assert record["position_size"] == 9.0
    assert record["entry_price"] == pytest.approx(fill.fill_price)
    expected_upnl = (float(record["mid"]) - fill.fill_price) * 9.0 * 0.01
    assert record["unrealized_pnl"] == pytest.approx(expected_upnl, abs=1e-6)
    assert record["realized_pnl"] == pytest.approx(-fill.commission, rel=1e-6)
    assert record["fills"] == 1 and record["orders_submitted"] == 1
    assert TraceKind.FILL in trace_after_fill  # the 64-event trace holds the fill until quotes push it out
    delta = HullDimension.DELTA
    assert record["risk_x"][delta] == pytest.approx(0.09)
    assert record["risk_potential"][delta] == pytest.approx(-math.log(1 - 0.09 / 0.1))
    assert record["risk_total"] >= 2.0
    assert list(record["risk_applicable"][:7]) == [1, 0, 0, 1, 1, 1, 1]  # gamma, vega: not for a linear perp
    alerts = [m.message for m in collected if isinstance(m.message, messages.RiskAlert)]
    assert [(a.level, a.dimension) for a in alerts] == [("VETO", "DELTA")]
