"""Recording a closed trade costs the same at the thousandth as at the first, and the analyzer reports the same."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from nautilus_trader.analysis.analyzer import PortfolioAnalyzer
from nautilus_trader.model.currencies import USDT
from nautilus_trader.model.identifiers import PositionId
from nautilus_trader.model.objects import Money

from sextant.market.trade_record import install_linear_trade_record

TRADES = [(PositionId(f"P-{i % 37}"), Money(((i * 7919) % 200 - 100) / 10, USDT), 1_000 + i) for i in range(1_000)]


def recorded(analyzer: PortfolioAnalyzer) -> tuple[Any, ...]:
    pnls = analyzer.realized_pnls(USDT)
    stamps = analyzer._recorded_realized_pnl_timestamps[USDT]
    return tuple(pnls.index), tuple(pnls.tolist()), tuple(stamps.tolist()), str(pnls.dtype)


def test_the_analyzer_reports_what_nautilus_own_recording_reports() -> None:
    reference, linear = PortfolioAnalyzer(), PortfolioAnalyzer()
    install_linear_trade_record(linear)
    for analyzer in (reference, linear):
        for position_id, pnl, ts in TRADES[:500]:
            analyzer.record_trade(position_id, pnl, ts)
    assert recorded(linear) == recorded(reference)
    for analyzer in (reference, linear):  # more after a read, and one without a timestamp
        for position_id, pnl, ts in TRADES[500:]:
            analyzer.record_trade(position_id, pnl, ts)
        analyzer.record_trade(PositionId("P-last"), Money(1.5, USDT))
    assert recorded(linear) == recorded(reference)


def test_recording_concatenates_nothing_until_the_record_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    analyzer = PortfolioAnalyzer()
    install_linear_trade_record(analyzer)
    concatenations = []
    original = pd.concat
    monkeypatch.setattr(pd, "concat", lambda *a, **k: concatenations.append(1) or original(*a, **k))
    for position_id, pnl, ts in TRADES:
        analyzer.record_trade(position_id, pnl, ts)
    assert concatenations == []  # Nautilus' own: two per trade, each over everything so far
    assert len(analyzer.realized_pnls(USDT)) == len(TRADES)
    assert len(concatenations) <= 2  # one fold per table, once


def test_a_reset_analyzer_records_afresh() -> None:
    analyzer = PortfolioAnalyzer()
    install_linear_trade_record(analyzer)
    analyzer.record_trade(*TRADES[0])
    analyzer.reset()
    assert analyzer.realized_pnls(USDT) is None
    analyzer.record_trade(*TRADES[1])
    assert analyzer.realized_pnls(USDT).tolist() == [TRADES[1][1].as_double()]
