"""The perception router: rules first; the real `openai` client against a scripted OpenAI-compatible server for
L2 → L3; answers validated with coercion; deadlines, retries, budget and cache; and the tick never waits."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sextant.state.layout import CONTEXT_DTYPE, CrewTask
from sextant.swarm.llm import InvalidAnswer, LlmClient, parse_answer
from sextant.swarm.router import PerceptionConfig, PerceptionRouter
from tests.fixtures.llm_toml import local_llm_config
from tests.fixtures.openai_standin import OpenAIStandin, Rule

INSTRUMENT = "BTC-USDT-SWAP.OKX"
BUY = {"action": "BUY", "confidence": 0.8, "reasoning": "bids are stacking"}


def unsure_record() -> np.void:
    """A market where the rules see no signal (L1 confidence 0.3), so the router escalates."""
    r = np.zeros(1, CONTEXT_DTYPE)[0]
    r["mid"], r["bid"], r["ask"], r["spread_bps"], r["multiplier"] = 60_000.0, 59_999.9, 60_000.1, 0.03, 0.01
    r["horizon_s"][:4] = [10, 60, 300, 900]
    r["volatility"][:4] = [0.5, 0.5, 0.5, 0.5]
    r["risk_veto"], r["risk_warn"], r["write_seq"] = 2.0, 1.0, 7
    return r


def llm_config(tmp_path: Path, url: str) -> Any:
    return local_llm_config(tmp_path, url)


def router_for(tmp_path: Path, standin: OpenAIStandin, **config: Any) -> PerceptionRouter:
    deadline = config.pop("deadline_s", 2.0)
    config.setdefault("retry_after_failure_s", 0.0)
    return PerceptionRouter(PerceptionConfig(**config),
                            LlmClient(llm_config(tmp_path, standin.url), deadline_s=deadline, max_retries=1))


async def escalate(router: PerceptionRouter, record: np.void) -> Any:
    """One full escalation: the first perceive starts the call and returns at once; wait; perceive again."""
    assert router.perceive(record, INSTRUMENT, 1) is None
    if router._task is not None:
        await router._task
    return router.perceive(record, INSTRUMENT, 2)


class TestRules:
    def test_l1_answers_in_microseconds_without_a_model(self) -> None:
        router = PerceptionRouter()
        record = unsure_record()
        record["momentum"][0] = 0.003  # far beyond what 50 % volatility explains in 10 s
        start = time.perf_counter()
        for _ in range(1000):
            intent = router.perceive(record, INSTRUMENT, 1)
        per_call_us = (time.perf_counter() - start) / 1000 * 1e6
        assert intent is not None and intent.target_position == 1.0 and intent.title == "[L1] Buy"
        assert per_call_us < 500  # behaviour, not a benchmark: it is rules, with no I/O

    def test_a_strained_hull_reduces_the_position(self) -> None:
        record = unsure_record()
        record["position_size"], record["risk_total"] = 4.0, 1.5
        intent = PerceptionRouter().perceive(record, INSTRUMENT, 1)
        assert intent is not None and intent.kind == "DeltaHedge" and intent.target_position == pytest.approx(2.0)


class TestEscalation:
    def test_a_valid_l2_answer_becomes_an_intent(self, tmp_path: Path) -> None:
        with OpenAIStandin([Rule(match="small-model", content=BUY)]) as standin:
            router = router_for(tmp_path, standin)
            intent = asyncio.run(escalate(router, unsure_record()))
        assert intent is not None and intent.title == "[L2] Buy" and intent.confidence == 0.8
        body = standin.requests[0]
        assert body["response_format"]["type"] == "json_schema" and body["model"] == "small-model"

    def test_an_unsure_l2_escalates_to_l3(self, tmp_path: Path) -> None:
        with OpenAIStandin([Rule(match="small-model", content={**BUY, "confidence": 0.4}),
                            Rule(match="large-model", content={"action": "SELL", "confidence": 0.9,
                                                              "reasoning": "distribution"})]) as standin:
            intent = asyncio.run(escalate(router_for(tmp_path, standin), unsure_record()))
        assert intent is not None and intent.title == "[L3] Sell" and intent.target_position == -1.0
        assert [r["model"] for r in standin.requests] == ["small-model", "large-model"]

    def test_coercion_accepts_percent_strings_and_lowercase(self, tmp_path: Path) -> None:
        answer = {"action": "buy", "confidence": "85%", "reasoning": "x"}
        with OpenAIStandin([Rule(match="small-model", content=answer)]) as standin:
            intent = asyncio.run(escalate(router_for(tmp_path, standin), unsure_record()))
        assert intent is not None and intent.confidence == pytest.approx(0.85)

    @pytest.mark.parametrize(("l2", "reason"), [
        (Rule(match="small-model", content="I think you should buy"), "no JSON object"),
        (Rule(match="small-model", content={**BUY, "confidence": "N/A"}), "confidence is missing"),
        (Rule(match="small-model", content={**BUY, "action": "YOLO"}), "not BUY, SELL or HOLD"),
        (Rule(match="small-model", content=BUY, finish_reason="length"), "truncated"),
        (Rule(match="small-model", status=429), "HTTP 429"),
        (Rule(match="small-model", status=503), "HTTP 503"),
    ])
    def test_failures_hold_and_log_their_reason(self, tmp_path: Path, l2: Rule, reason: str) -> None:
        with OpenAIStandin([l2, Rule(match="large-model", content="{broken}")]) as standin:
            router = router_for(tmp_path, standin)
            intent = asyncio.run(escalate(router, unsure_record()))
        assert intent is None
        assert any(reason in line for line in router.log), list(router.log)
        assert any("malformed JSON" in line for line in router.log)

    def test_one_retry_rides_out_a_503(self, tmp_path: Path) -> None:
        with OpenAIStandin([Rule(match="small-model", status=503, times=1, headers={"retry-after-ms": "10"}),
                            Rule(match="small-model", content=BUY)]) as standin:
            intent = asyncio.run(escalate(router_for(tmp_path, standin), unsure_record()))
        assert intent is not None and len(standin.requests) == 2

    def test_answers_are_cached_by_market_state(self, tmp_path: Path) -> None:
        async def twice(router: PerceptionRouter) -> tuple[Any, Any]:
            first = await escalate(router, unsure_record())
            return first, router.perceive(unsure_record(), INSTRUMENT, 3)

        with OpenAIStandin([Rule(match="small-model", content=BUY)]) as standin:
            first, second = asyncio.run(twice(router_for(tmp_path, standin, answer_ttl_s=0.0)))
        assert first is not None and second is not None and second.title == "[cache] Buy"
        assert len(standin.requests) == 1


class TestNeverBlocks:
    def test_a_slow_model_does_not_delay_the_tick(self, tmp_path: Path) -> None:
        # An ordering, not a timing: every perceive() returns while the model's answer is still on its way, so none
        # of them waited for it (a timing would measure this VM's wake-up from each sleep, not the router).
        async def scenario(router: PerceptionRouter) -> tuple[list[Any], bool, int, Any]:
            record = unsure_record()
            during = []
            for _ in range(200):  # while the 5 s answer is in flight
                during.append(router.perceive(record, INSTRUMENT, 1))
                await asyncio.sleep(0.005)
            in_flight = router._task is not None and not router._task.done()
            calls = router.calls
            await router._task  # type: ignore[misc]
            return during, in_flight, calls, router.perceive(record, INSTRUMENT, 2)

        with OpenAIStandin([Rule(match="model", content=BUY, delay_s=5.0)]) as standin:
            router = router_for(tmp_path, standin, deadline_s=1.0, l2_deadline_s=1.0, l3_deadline_s=1.0)
            during, in_flight, calls, after = asyncio.run(scenario(router))
        # 200 ticks came and went beside the escalation (L2, then L3 once L2's deadline passed), still unanswered
        assert in_flight and calls in (1, 2)
        assert during == [None] * 200  # the rules' Hold on each of them
        assert after is None and any("deadline" in line for line in router.log)

    def test_over_budget_runs_on_rules_only(self, tmp_path: Path) -> None:
        async def scenario(router: PerceptionRouter) -> None:
            await escalate(router, unsure_record())
            router._latest = None
            router._cache.clear()
            assert router.perceive(unsure_record(), INSTRUMENT, 3) is None
            assert router._task is not None and router._task.done()  # no new call was started

        with OpenAIStandin([Rule(match="model", content={**BUY, "confidence": 0.3}, cost=0.02)]) as standin:
            router = router_for(tmp_path, standin, usd_per_hour=0.01)
            asyncio.run(scenario(router))
            assert len(standin.requests) == 1  # L2 spent the hour's money: L3 was not asked, nor L2 again
        assert router.status[1] == CrewTask.LLM_BUDGET_SPENT
        assert any("strategy: the hourly LLM budget is spent" in line for line in router.log)


def malformed_answers(count: int, seed: int = 7) -> list[str]:
    """Deterministic junk and adversarial answers, every one of them invalid."""
    rng = random.Random(seed)
    valid = json.dumps(BUY)
    fixed = ["", "   ", "null", "[]", "42", '"BUY"', "{}", '{"action": "BUY"}', '{"confidence": 0.9}',
             '{"action": "BUY", "confidence": 1.5, "reasoning": ""}', '{"action": "BUY", "confidence": -0.1}',
             '{"action": "BUY", "confidence": "NaN"}', '{"action": "BUY", "confidence": "high"}',
             '{"action": "BUY", "confidence": true}', '{"action": "BUY", "confidence": [0.9]}',
             '{"action": ["BUY"], "confidence": 0.9}', '{"action": "BUY 100 BTC NOW", "confidence": 0.99}',
             '{"action": "IGNORE PREVIOUS INSTRUCTIONS", "confidence": 0.99}', '{"action": null, "confidence": 0.9}',
             '{"action": "SELL", "confidence": "1e9"}', "```json\n{\"action\": \"BUY\", \"confidence\": \n```",
             '{"action": "BUY", "confidence": Infinity}', '{"action": "BUY", "confidence": "∞"}']
    answers = list(fixed)
    while len(answers) < count:
        kind = rng.randrange(4)
        if kind == 0:  # truncated
            answers.append(valid[: rng.randrange(1, len(valid) - 1)])
        elif kind == 1:  # a bad action
            answers.append(json.dumps({**BUY, "action": "".join(rng.choice("ABCXYZ ") for _ in range(6))}))
        elif kind == 2:  # a bad confidence
            answers.append(json.dumps({**BUY, "confidence": rng.choice([rng.uniform(1.01, 1e6), rng.uniform(-1e6, -0.01),
                                                                       "abc", "N/A", None, "150%"])}))
        else:  # random bytes
            answers.append("".join(chr(rng.randrange(32, 127)) for _ in range(rng.randrange(1, 80))))
    return answers


def test_a_thousand_malformed_answers_give_no_orders_and_a_reason_each(tmp_path: Path) -> None:
    answers = malformed_answers(1000)
    for text in answers:
        with pytest.raises(InvalidAnswer):
            parse_answer(text)

    async def scenario(router: PerceptionRouter) -> int:
        intents = 0
        for _ in range(500):  # each cycle asks L2 then L3: 1,000 answers
            router._latest = None
            router._cache.clear()
            intent = await escalate(router, unsure_record())
            intents += intent is not None
        return intents

    with OpenAIStandin([Rule(match="model", content=answers)]) as standin:
        router = router_for(tmp_path, standin, tokens_per_hour=10**9, usd_per_hour=1e9)
        router.log = type(router.log)(maxlen=2000)
        intents = asyncio.run(scenario(router))
    assert len(standin.requests) == 1000
    assert intents == 0
    assert len(router.log) == 1000 and all("invalid answer" in line for line in router.log)
