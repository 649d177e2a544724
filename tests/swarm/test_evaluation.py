"""`sextant llm eval`'s core (sextant/swarm/evaluation.py): which recorded states are asked about, how answers are
scored (as the router's record scores them), and what the report says of a source, with the bar a one-sided source
must clear."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import numpy as np
import pytest

from sextant.state.layout import instrument_view_dtype
from sextant.swarm.evaluation import (
    Answer,
    MarketState,
    market_states,
    model_answers,
    reliability_png,
    report_json,
    report_lines,
    rising_share,
    rules_answers,
    score,
    summarize,
)
from sextant.swarm.llm import Judgement, LlmResult

STEP_NS = 250_000_000  # a snapshot every 250 ms, as `sextant sim` records them


def recorded(mids: list[float], *, warm_from: int = 0) -> tuple[np.ndarray, np.ndarray]:
    records = np.zeros(len(mids), instrument_view_dtype(0))
    records["mid"] = mids
    records["quote_count"] = np.arange(len(mids)) + 1
    records["volatility"][warm_from:, 1] = 0.4
    return np.arange(len(mids), dtype=np.int64) * STEP_NS, records


def state(mid: float, mid_after: float) -> MarketState:
    record = np.zeros(1, instrument_view_dtype(0))[0]
    record["mid"] = mid
    return MarketState("scene", 0, record, mid_after)


class TestTheStatesAsked:
    def test_one_every_interval_from_the_first_warm_record_to_the_last_with_a_horizon_after_it(self) -> None:
        ts, records = recorded([60_000.0 + i for i in range(400)], warm_from=40)  # 100 s of snapshots
        states = market_states("s", ts, records, every_s=10.0, horizon_s=60.0, warm_quotes=20)
        assert [s.ts_ns // 1_000_000_000 for s in states] == [10, 20, 30]  # warm at 10 s; 40 s + 60 s is the end
        assert [s.mid_after for s in states] == [60_000.0 + 40 + 240, 60_000.0 + 80 + 240, 60_000.0 + 120 + 240]

    def test_nothing_is_asked_before_the_quotes_the_router_waits_for(self) -> None:
        ts, records = recorded([60_000.0] * 400)
        assert market_states("s", ts, records, every_s=10.0, horizon_s=60.0, warm_quotes=1_000) == []
        assert market_states("s", ts[:0], records[:0], every_s=10.0, horizon_s=60.0, warm_quotes=1) == []


class TestScoring:
    @pytest.mark.parametrize(("action", "after", "hit"), [
        ("BUY", 60_030.0, 1), ("SELL", 60_030.0, 0), ("SELL", 59_970.0, 1), ("BUY", 60_001.0, None),
        ("HOLD", 60_030.0, None), (None, 60_030.0, None),
    ], ids=["buy-up", "sell-up", "sell-down", "move-under-half-a-bp", "hold", "no-answer"])
    def test_as_the_routers_record_scores_it(self, action: str | None, after: float, hit: int | None) -> None:
        assert score(action, state(60_000.0, after))[0] == hit

    def test_always_buy_scores_the_share_of_states_after_which_the_mid_rose(self) -> None:
        states = [state(100.0, 101.0)] * 7 + [state(100.0, 99.0)] * 3 + [state(100.0, 100.0)]
        assert rising_share(states) == (7, 10)
        report = summarize("always BUY", [Answer("BUY", 0.9, 0.1, None, *score("BUY", s)) for s in states])
        assert report.hit_rate == pytest.approx(0.7) and report.scored == 10


class TestTheReport:
    def answers(self) -> tuple[list[Answer], list[Answer]]:
        model = [Answer("BUY", 0.9, 1.0, None, 1, 5.0), Answer("BUY", 0.95, 2.0, None, 0, -3.0),
                 Answer("SELL", 0.3, 1.5, None, 1, -4.0), Answer("HOLD", 0.6, 1.2, None, None, 2.0),
                 Answer(None, math.nan, 5.0, "no answer within the 5 s deadline", None, 1.0),
                 Answer(None, math.nan, 0.8, "invalid answer: action 'MAYBE' is not BUY, SELL or HOLD", None, 0.0)]
        rules = [Answer("BUY", 0.75, 0.0, None, 1, 5.0)] + [Answer("HOLD", 0.3, 0.0, None, None, 0.0)] * 5
        return model, rules

    def test_it_counts_validity_agreement_skill_and_failures_by_kind(self) -> None:
        model, rules = self.answers()
        report = summarize("m", model, rules)
        assert (report.states, report.valid, report.directional, report.scored, report.hits) == (6, 4, 3, 3, 2)
        assert report.failures == {"no answer within": 1, "invalid answer": 1}
        assert report.agreement == pytest.approx(2 / 4)  # BUY with BUY, HOLD with HOLD
        assert report.edge_bps == pytest.approx((5.0 - 3.0 + 4.0) / 3)
        assert report.brier == pytest.approx(((0.9 - 1) ** 2 + 0.95 ** 2 + (0.3 - 1) ** 2) / 3)
        assert report.actions == {"BUY": 2, "SELL": 1, "HOLD": 1}
        assert report.latency_median_s == pytest.approx(1.35)
        assert report.calibrated_hit_rate == pytest.approx((2 + 10) / (3 + 20))

    def test_the_reliability_bins_say_how_often_each_stated_confidence_was_right(self) -> None:
        model, _ = self.answers()
        bins = summarize("m", model).bins
        assert [(b.answers, b.hits) for b in bins] == [(0, 0), (1, 1), (0, 0), (0, 0), (2, 1)]
        assert bins[4].hit_rate == 0.5 and bins[4].mean_confidence == pytest.approx(0.925)

    def test_a_table_a_json_and_a_png(self, tmp_path: Path) -> None:
        model, rules = self.answers()
        reports = [summarize("local/small as perception", model, rules), summarize("rules (L1)", rules)]
        lines = report_lines(reports, 60.0)
        assert "local/small as perception" in lines[0] and "rules (L1)" in lines[0]
        assert any(line.startswith("failed: invalid answer") for line in lines)
        assert report_json(reports)[0]["bins"][0]["mean_confidence"] is None  # NaN is not JSON
        reliability_png(reports, tmp_path / "r.png", "title", rising=0.6)
        assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_model_is_asked_each_state_in_turn_and_a_failure_is_an_answer_with_its_reason() -> None:
    states = [state(100.0, 101.0), state(100.0, 99.0)]
    results = [LlmResult(Judgement(action="SELL", confidence=0.8, reasoning=""), tokens=30, latency_s=1.2),
               LlmResult.failed("timeout", "no answer within the 5 s deadline", latency_s=5.0)]
    asked: list[float] = []

    async def ask(record: np.void) -> LlmResult:
        asked.append(float(record["mid"]))
        return results[len(asked) - 1]

    answers = asyncio.run(model_answers(states, ask))
    assert asked == [100.0, 100.0]
    assert answers[0].action == "SELL" and answers[0].hit == 0 and answers[0].tokens == 30
    assert answers[1].action is None and answers[1].failure == "no answer within the 5 s deadline"


def test_the_rules_answer_every_state_and_a_reduce_is_no_direction() -> None:
    answers = rules_answers([state(100.0, 101.0), state(100.0, 101.0)], lambda record: ("REDUCE", 0.8))
    assert [a.action for a in answers] == ["HOLD", "HOLD"] and all(a.hit is None for a in answers)


def test_each_scene_has_its_line_because_a_trend_flatters_a_one_sided_source() -> None:
    from sextant.swarm.evaluation import answers_json, scene_lines

    up, down = state(100.0, 101.0), state(100.0, 99.0)
    states = [MarketState("trend", 0, up.record, 101.0)] * 3 + [MarketState("crash", 0, down.record, 99.0)] * 2
    always_buy = [Answer("BUY", 0.9, 1.0, None, *score("BUY", s)) for s in states]
    lines = scene_lines(states, [("model", always_buy)])
    assert lines[1].split() == ["trend", "3", "100%", "3/3", "right", "(100%)"]
    assert lines[2].split() == ["crash", "2", "0%", "0/2", "right", "(0%)"]
    rows = answers_json(states, always_buy)
    assert rows[0] == {"scene": "trend", "ts_ns": 0, "mid": 100.0, "mid_after": 101.0, "action": "BUY",
                       "confidence": 0.9, "hit": 1, "move_bps": pytest.approx(100.0), "latency_s": 1.0,
                       "failure": None}
