"""A model earns its vote (sextant/swarm/calibration.py): its directional answers are scored against the mid over
their horizon and kept; consensus sees the hit rate it has shown at the confidence it states, so a confident model
with a bad record loses to the rules, and one with a good record beats them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sextant.state import messages
from sextant.swarm.calibration import PRIOR_HIT_RATE, AnswerRecord
from sextant.swarm.consensus import resolve
from sextant.swarm.intent import AgentIntent, RiskBudget
from tests.fixtures.openai_standin import OpenAIStandin, Rule
from tests.swarm.test_router import INSTRUMENT, FakeClock, router_on, unsure_record

MODEL = "local/small-model"
S = 1_000_000_000


class TestTheRecord:
    def test_an_answer_is_scored_by_the_mids_direction_once_its_horizon_has_passed(self) -> None:
        record = AnswerRecord()
        record.asked(MODEL, "perception", "BUY", 0.9, 60_000.0, 0, 60.0)
        record.asked(MODEL, "perception", "SELL", 0.9, 60_000.0, 0, 60.0)
        record.asked(MODEL, "perception", "HOLD", 0.9, 60_000.0, 0, 60.0)  # no direction: never on the record
        assert record.score_due(60_060.0, 59 * S) == [], "not before its horizon"
        scored = record.score_due(60_060.0, 60 * S)
        assert [(a.action, a.hit, round(a.move_bps, 2)) for a in scored] == [("BUY", 1, 10.0), ("SELL", 0, -10.0)]
        score = record.score(MODEL, "perception")
        assert (score.answers, score.hits) == (2, 1)

    def test_a_mid_that_did_not_move_scores_nothing(self) -> None:
        record = AnswerRecord()
        record.asked(MODEL, "perception", "BUY", 0.9, 60_000.0, 0, 60.0)
        assert record.score_due(60_000.5, 60 * S) == []
        assert record.score(MODEL, "perception").answers == 0

    def test_no_record_is_a_coin_flip_and_each_stated_confidence_has_its_own(self) -> None:
        record = AnswerRecord()
        assert record.calibrated(MODEL, "perception", 1.0) == PRIOR_HIT_RATE
        for n in range(40):  # sure of itself and always wrong; unsure and always right
            record.asked(MODEL, "perception", "BUY", 1.0, 60_000.0, n, 60.0)
            record.asked(MODEL, "perception", "SELL", 0.3, 60_000.0, n, 60.0)
        record.score_due(59_000.0, 100 * S)
        assert record.calibrated(MODEL, "perception", 0.95) == pytest.approx(10 / 60)
        assert record.calibrated(MODEL, "perception", 0.25) == pytest.approx(50 / 60)
        assert record.calibrated(MODEL, "strategy", 0.95) == PRIOR_HIT_RATE, "per role"

    def test_the_record_outlives_the_run(self, tmp_path: Path) -> None:
        path = tmp_path / "record.sqlite"
        first = AnswerRecord(path)
        first.asked(MODEL, "perception", "BUY", 0.8, 60_000.0, 0, 60.0)
        first.score_due(60_100.0, 60 * S)
        first.close()
        assert AnswerRecord(path).score(MODEL, "perception").hits == 1


def with_record(hits: int, misses: int) -> AnswerRecord:
    """A record of local/small-model in the perception role, all at stated confidence 1.0."""
    record = AnswerRecord()
    for n in range(hits + misses):
        record.asked(MODEL, "perception", "BUY" if n < hits else "SELL", 1.0, 60_000.0, n, 60.0)
    record.score_due(60_600.0, 1_000 * S)  # the mid rose 1 %: the BUYs were right
    return record


def rules_intent() -> AgentIntent:
    return AgentIntent(id="momentum-01-000001", agent="momentum-01", kind="TrendFollow", instrument=INSTRUMENT,
                       target_position=-1.0, confidence=0.75, budget=RiskBudget(max_loss=50.0, max_position=1.0))


def model_intent(tmp_path: Path, record: AnswerRecord) -> AgentIntent:
    """The model answers BUY at confidence 1.0: the intent the router makes of it."""
    clock = FakeClock()
    with OpenAIStandin([Rule(match="small-model", content={"action": "BUY", "confidence": 1.0,
                                                             "reasoning": "certain"})]) as standin:
        router = router_on(tmp_path, standin, clock)
        router.record = record

        async def ask() -> AgentIntent | None:
            assert router.perceive(unsure_record(), INSTRUMENT, 1) is None
            assert router._task is not None
            await router._task
            return router.perceive(unsure_record(), INSTRUMENT, 2)

        intent = asyncio.run(ask())
    assert intent is not None
    return intent


def test_a_model_with_a_bad_record_at_confidence_one_loses_to_the_rules_at_three_quarters(tmp_path: Path) -> None:
    model = model_intent(tmp_path, with_record(hits=5, misses=35))
    assert model.confidence == pytest.approx((5 + 10) / (40 + 20))
    assert "[stated 1.00, calibrated 0.25 on 40 scored answers of local/small-model]" in model.reasoning
    assert resolve([rules_intent(), model]).decision == rules_intent()


def test_a_model_with_no_record_cannot_outrank_the_rules(tmp_path: Path) -> None:
    model = model_intent(tmp_path, AnswerRecord())
    assert model.confidence == PRIOR_HIT_RATE
    assert resolve([model, rules_intent()]).decision == rules_intent()


def test_a_model_with_a_good_record_wins(tmp_path: Path) -> None:
    model = model_intent(tmp_path, with_record(hits=38, misses=2))
    assert model.confidence == pytest.approx((38 + 10) / (40 + 20))  # 0.8
    decision = resolve([rules_intent(), model]).decision
    assert decision is not None and decision.agent == "perception-01"


def test_every_directional_answer_goes_on_the_record(tmp_path: Path) -> None:
    record = AnswerRecord()
    model_intent(tmp_path, record)
    record.score_due(60_100.0, 61 * S)
    assert record.score(MODEL, "perception").answers == 1


def test_each_call_is_kept_with_its_cost_latency_and_failure(tmp_path: Path) -> None:
    from sextant.swarm.calibration import records_table

    path = tmp_path / "record.sqlite"
    record = AnswerRecord(path)
    now = 10_000 * S
    for latency in (0.2, 0.3, 0.4):
        record.called(MODEL, "perception", now - S, 120, 0.0001, latency, None)
    record.called(MODEL, "perception", now - S, 1_000, 0.001, 5.0, "timeout")
    record.called(MODEL, "perception", now - 7_200 * S, 99, 1.0, 0.1, None)  # two hours ago: not in the hour
    stats = record.calls(MODEL, "perception", now - 3_600 * S)
    assert (stats.calls, stats.answered, stats.tokens) == (4, 3, 1_360)
    assert stats.cost_usd == pytest.approx(0.0013) and stats.latency_median_s == 0.3
    record.close()
    assert records_table(path, now)[0] == ("local/small-model as perception, last hour: 4 calls, 3 answered, 1,360 "
                                           "tokens, $0.0013, latency median 0.30 s, p99 0.40 s")


def test_the_router_keeps_every_call(tmp_path: Path) -> None:
    record = AnswerRecord()
    model_intent(tmp_path, record)
    stats = record.calls(MODEL, "perception", 0)
    assert stats.calls == 1 and stats.answered == 1


def test_a_scored_answer_goes_on_the_stream_with_the_models_record_after_it(tmp_path: Path) -> None:
    """What the bridge shows of a model's record and what the trust layer attests as its feedback."""
    record = AnswerRecord()
    published: list[tuple[object, int]] = []
    clock = FakeClock()
    with OpenAIStandin([Rule(match="small-model", content={"action": "BUY", "confidence": 1.0,
                                                             "reasoning": "certain"})]) as standin:
        router = router_on(tmp_path, standin, clock)
        router.record = record
        router.publish = lambda event, ts_ns: published.append((event, ts_ns))

        async def ask() -> None:
            router.perceive(unsure_record(), INSTRUMENT, 1)
            assert router._task is not None
            await router._task
            router.perceive(unsure_record(), INSTRUMENT, 2)
            risen = unsure_record()
            risen["mid"] = 60_060.0
            router.perceive(risen, INSTRUMENT, 61 * S)  # past the 60 s horizon: scored (and asked again)
            if router._task is not None:
                router._task.cancel()

        asyncio.run(ask())
    scored = [(event, ts) for event, ts in published if isinstance(event, messages.LlmAnswerScored)]
    assert len(scored) == 1
    event, ts_ns = scored[0]
    assert (event.model, event.role, event.action, event.hit, event.answers, event.hits) == (
        MODEL, "perception", "BUY", 1, 1, 1)
    assert event.asked_mid == 60_000.0 and event.mid == 60_060.0 and ts_ns == 61 * S
    assert router.model_agents() == ["local/large-model@strategy", "local/small-model@perception"]
