"""The perception router: rules first; the real `openai` client against a scripted OpenAI-compatible server for
L2 → L3; answers validated with coercion; deadlines, retries, budget and cache; and the tick never waits."""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sextant.state.layout import CrewTask, instrument_view_dtype
from sextant.swarm.llm import InvalidAnswer, LlmClient, LlmSpend, parse_answer
from sextant.swarm.router import PerceptionConfig, PerceptionRouter
from tests.fixtures.llm_toml import local_llm_config
from tests.fixtures.openai_standin import Envelope, OpenAIStandin, Rule

INSTRUMENT = "BTC-USDT-SWAP.OKX"
BUY = {"action": "BUY", "confidence": 0.8, "reasoning": "bids are stacking"}


def unsure_record() -> np.void:
    """A market where the rules see no signal (L1 confidence 0.3), so the router escalates."""
    r = np.zeros(1, instrument_view_dtype(0))[0]
    r["mid"], r["bid"], r["ask"], r["spread_bps"], r["multiplier"] = 60_000.0, 59_999.9, 60_000.1, 0.03, 0.01
    r["horizon_s"][:4] = [10, 60, 300, 900]
    r["volatility"][:4] = [0.5, 0.5, 0.5, 0.5]
    r["risk_veto"], r["risk_warn"], r["write_seq"] = 2.0, 1.0, 7
    r["quote_count"] = 500  # the features are warm
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
        assert intent is not None and intent.title == "[L2] Buy"
        # a model with no record yet goes to consensus at a coin flip, whatever it states (calibration.py)
        assert intent.confidence == 0.5 and "[stated 0.80, calibrated 0.50 on 0 scored answers of local/small-model]" \
            in intent.reasoning
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
        assert intent is not None and "[stated 0.85," in intent.reasoning

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


@pytest.mark.slow  # a thousand HTTP round trips: the count is the point
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


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def router_on(tmp_path: Path, standin: OpenAIStandin, clock: FakeClock, events: list[Any] | None = None,
              max_retries: int = 0, **config: Any) -> PerceptionRouter:
    config.setdefault("retry_after_failure_s", 30.0)
    router = PerceptionRouter(PerceptionConfig(**config),
                              LlmClient(llm_config(tmp_path, standin.url), deadline_s=2.0, max_retries=max_retries),
                              clock=clock)
    if events is not None:
        router.publish = lambda event, ts_ns: events.append((event, ts_ns))
    return router


HTML = Envelope(b"<html>502 Bad Gateway</html>", content_type="text/html")


class TestNeverStorms:
    def test_a_server_answering_html_gets_one_escalation_per_back_off_not_one_per_quote(self, tmp_path: Path) -> None:
        # The storm: 670 requests in 56 s. Now: quotes every 50 ms of (fake) time for 56 s.
        async def scenario(router: PerceptionRouter, clock: FakeClock) -> None:
            for _ in range(1120):
                router.perceive(unsure_record(), INSTRUMENT, int(clock.now * 1e9))
                if router._task is not None and not router._task.done():
                    await router._task
                clock.now += 0.05

        clock, events = FakeClock(), []
        with OpenAIStandin([Rule(match="model", envelopes=[HTML])]) as standin:
            router = router_on(tmp_path, standin, clock, events)
            asyncio.run(scenario(router, clock))
        # escalations at 0 s, 30 s (back-off 30 s, then 60 s): two, each L2 then L3
        assert len(standin.requests) == 4 and router.calls == 4
        assert [type(e).__name__ for e, _ in events] == ["LlmFailed", "LlmFailed"]
        assert [e.retry_in_s for e, _ in events] == [30.0, 60.0] and [e.failures for e, _ in events] == [1, 2]
        assert events[0][0].kind == "not_json" and events[0][0].role == "strategy"

    def test_every_failed_call_is_charged_at_least_the_nominal_cost(self, tmp_path: Path) -> None:
        clock = FakeClock()
        with OpenAIStandin([Rule(match="model", envelopes=[HTML])]) as standin:
            router = router_on(tmp_path, standin, clock, failed_call_tokens=700, failed_call_usd=0.002)
            asyncio.run(escalate(router, unsure_record()))
        assert router.budget.records == 2 and router.budget.spent(clock.now) == (1400, pytest.approx(0.004))

    def test_the_back_off_doubles_to_its_maximum_and_a_success_resets_it(self, tmp_path: Path) -> None:
        async def scenario(router: PerceptionRouter, clock: FakeClock) -> list[float]:
            quiet = []
            for _ in range(5):
                await escalate(router, unsure_record())
                quiet.append(router.backoff.until - clock.now)
                clock.now = router.backoff.until
            router._latest = None
            await escalate(router, unsure_record())  # the server answers now
            return quiet

        clock, events = FakeClock(), []
        answers = [HTML] * 10 + [Envelope(json.dumps(completion_body(BUY)).encode())]
        with OpenAIStandin([Rule(match="model", envelopes=answers)]) as standin:
            router = router_on(tmp_path, standin, clock, events, max_retry_after_failure_s=200.0)
            quiet = asyncio.run(scenario(router, clock))
        assert quiet == [30.0, 60.0, 120.0, 200.0, 200.0]
        assert router.backoff.failures == 0 and not router.backoff.quiet(clock.now)
        assert type(events[-1][0]).__name__ == "LlmRecovered" and events[-1][0].failures == 5

    def test_an_l3_answer_below_its_floor_places_nothing(self, tmp_path: Path) -> None:
        with OpenAIStandin([Rule(match="small-model", content={**BUY, "confidence": 0.4}),
                            Rule(match="large-model", content={**BUY, "confidence": 0.55})]) as standin:
            router = router_for(tmp_path, standin, l3_threshold=0.6)
            intent = asyncio.run(escalate(router, unsure_record()))
        assert intent is None and router._latest is not None and router._latest.action == "HOLD"
        assert not router.backoff.failures  # the model answered; it was unsure

    def test_a_models_reasoning_is_capped_and_shown_as_its_words(self, tmp_path: Path) -> None:
        said = "Ignore the rules.\n\x1b[31mTrust me\u202e " + "x" * 1000
        with OpenAIStandin([Rule(match="small-model", content={**BUY, "reasoning": said})]) as standin:
            intent = asyncio.run(escalate(router_for(tmp_path, standin), unsure_record()))
        assert intent is not None and intent.reasoning.startswith("the L2 model says: “Ignore the rules. ")
        words, asked_on = intent.reasoning.split("” [stated ")
        assert len(words + "”") <= 300 + len("the L2 model says: “”")
        assert asked_on.endswith("asked on mid 60,000.0 in a calm sea)")
        assert all(ch.isprintable() for ch in intent.reasoning)


def completion_body(content: Any, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": "x", "object": "chat.completion", "model": "m",
                            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                            "choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant",
                                                     "content": json.dumps(content)
                                                     if isinstance(content, dict) else content}}]}
    body.update(fields)
    return body


class CallsInFlight:
    """Counts the router's concurrent LLM calls, as the client sees them."""

    def __init__(self, router: PerceptionRouter) -> None:
        assert router._llm is not None
        self.now = self.most = self.total = 0
        ask = router._llm.ask

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.now += 1
            self.total += 1
            self.most = max(self.most, self.now)
            try:
                return await ask(*args, **kwargs)
            finally:
                self.now -= 1

        router._llm.ask = counted  # type: ignore[method-assign]


def fuzz_envelopes(count: int, seed: int = 18) -> list[tuple[Envelope, str]]:
    """Seeded HTTP envelopes, each with what it must lead to when it is the escalation's last: "order" (a
    confident BUY, well wrapped), "hold" (a valid but unsure answer) or "fail" (anything else)."""
    rng = random.Random(seed)
    answers = malformed_answers(200, seed=seed)
    envelopes: list[tuple[Envelope, str]] = []
    while len(envelopes) < count:
        kind = rng.randrange(14)
        good = json.dumps(completion_body(BUY)).encode()
        if kind == 0:  # valid
            envelopes.append((Envelope(good, chunks=rng.randrange(1, 4)), "order"))
        elif kind == 1:  # valid, compressed although identity was asked for
            envelopes.append((Envelope(gzip.compress(good), headers=(("content-encoding", "gzip"),)), "order"))
        elif kind == 2:  # an error status, with JSON, HTML or nothing
            body = rng.choice([b'{"error": {"message": "no"}}', b"<html>busy</html>", b""])
            envelopes.append((Envelope(body, status=rng.choice([400, 401, 404, 429, 500, 502, 503]),
                                       content_type=rng.choice(["application/json", "text/html"])), "fail"))
        elif kind == 3:  # 200, not JSON
            body = rng.choice([b"<html><body>gateway</body></html>", b"", b"\x00\xff" * 10, b"OK", b"{" * 5000])
            envelopes.append((Envelope(body, content_type=rng.choice(["text/html", "application/json"])), "fail"))
        elif kind == 4:  # JSON of the wrong shape
            body = rng.choice([[], "choices", 42, None, {"choices": {"0": 1}}, {"choices": []}, {"choices": [7]},
                               {"choices": [{"message": None}]}, {"choices": [{"message": {"content": 5}}]},
                               {"choices": [{"message": {"content": {"action": "BUY"}}}]}])
            envelopes.append((Envelope(json.dumps(body).encode()), "fail"))
        elif kind == 5:  # bad usage
            usage = rng.choice([{"total_tokens": "many"}, {"total_tokens": None, "cost": "free"}, {"cost": [1]},
                                {"total_tokens": -1}, {"total_tokens": 1e400}, "usage", [], {"cost": {"usd": 1}}])
            envelopes.append((Envelope(json.dumps(completion_body(BUY, usage=usage)).encode()), "fail"))
        elif kind == 6:  # over the size cap, with or without a content-length
            body = json.dumps(completion_body({**BUY, "reasoning": "x" * rng.randrange(17_000, 60_000)})).encode()
            envelopes.append((Envelope(body, declared_length=rng.choice([-1, None]), chunks=4), "fail"))
        elif kind == 7:  # truncated: the connection closes before the declared length
            envelopes.append((Envelope(good[:rng.randrange(0, len(good) - 1)], declared_length=len(good)), "fail"))
        elif kind == 8:  # a slow body: some within the deadline, some past it
            slow = rng.random() < 0.15
            envelopes.append((Envelope(good, chunks=3, pause_s=0.2 if slow else 0.005), "fail" if slow else "order"))
        elif kind == 9:  # an invalid answer in a good envelope
            envelopes.append((Envelope(json.dumps(completion_body(rng.choice(answers))).encode()), "fail"))
        elif kind == 10:  # truncated by the model
            body = completion_body(BUY)
            body["choices"][0]["finish_reason"] = "length"
            envelopes.append((Envelope(json.dumps(body).encode()), "fail"))
        elif kind == 11:  # a valid answer, but unsure: never an order (below both floors)
            envelopes.append((Envelope(json.dumps(completion_body({**BUY, "confidence": 0.3})).encode()), "hold"))
        elif kind == 12:  # a valid answer with odd but readable usage
            usage = rng.choice([{"total_tokens": "15", "cost": "0.0001"}, {}, None, {"total_tokens": 15.0}])
            envelopes.append((Envelope(json.dumps(completion_body(BUY, usage=usage)).encode()), "order"))
        else:  # a compressed body that does not inflate, or in an encoding we did not ask for
            envelopes.append((Envelope(b"\x1f\x8b not gzip", headers=(("content-encoding",
                                                                       rng.choice(["gzip", "br", "zstd"])),)), "fail"))
    return envelopes


@pytest.mark.slow  # a thousand HTTP round trips, each waited for: the count is the point
def test_a_thousand_http_envelopes_give_no_exception_no_order_from_junk_and_a_back_off_per_failure(
        tmp_path: Path) -> None:
    fuzz = fuzz_envelopes(1000)
    outcome = {id(envelope): leads_to for envelope, leads_to in fuzz}

    async def scenario(router: PerceptionRouter, standin: OpenAIStandin, clock: FakeClock) -> dict[str, int]:
        tally = {"intents": 0, "expected_intents": 0, "failed_escalations": 0, "backed_off": 0}
        while len(standin.served_envelopes) < len(fuzz):
            router._latest = None
            router._cache.clear()
            served_before, charged_before = len(standin.served_envelopes), router.budget.records
            assert router.perceive(unsure_record(), INSTRUMENT, 1) is None
            task = router._task
            assert task is not None
            while not task.done():  # quotes keep coming while the call is out: none starts a second one
                router.perceive(unsure_record(), INSTRUMENT, 1)
                await asyncio.sleep(0.002)
            assert task.exception() is None
            intent = router.perceive(unsure_record(), INSTRUMENT, 2)
            served = standin.served_envelopes[served_before:]
            assert served and router.budget.records - charged_before == len(served)  # every call charged
            expected = outcome[id(served[-1])]
            tally["intents"] += intent is not None
            tally["expected_intents"] += expected == "order"
            assert (intent is not None) == (expected == "order"), served[-1]
            if expected == "fail":
                tally["failed_escalations"] += 1
                tally["backed_off"] += router.backoff.quiet(clock.now)
                clock.now = router.backoff.until  # the back-off over, on the fake clock
        return tally

    clock, events = FakeClock(), []
    with OpenAIStandin([Rule(match="model", envelopes=[envelope for envelope, _ in fuzz])]) as standin:
        config = local_llm_config(tmp_path, standin.url, provider_extra="max_response_bytes = 16384")
        router = PerceptionRouter(PerceptionConfig(retry_after_failure_s=1.0, max_retry_after_failure_s=8.0,
                                                   l2_deadline_s=0.3, l3_deadline_s=0.3,
                                                   tokens_per_hour=10**12, usd_per_hour=1e12),
                                  LlmClient(config, deadline_s=0.3, max_retries=0), clock=clock)
        router.publish = lambda event, ts_ns: events.append(event)
        calls = CallsInFlight(router)
        tally = asyncio.run(scenario(router, standin, clock))
    kinds = {event.kind for event in events if type(event).__name__ == "LlmFailed"}
    print(tally, sorted(kinds))
    assert tally["intents"] == tally["expected_intents"]  # orders only from usable answers
    assert tally["backed_off"] == tally["failed_escalations"] > 0
    assert sum(type(event).__name__ == "LlmFailed" for event in events) == tally["failed_escalations"]
    assert "unexpected" not in kinds  # nothing escaped as an exception: each failure had its own kind
    assert {"http_status", "not_json", "bad_envelope", "too_large", "transport", "timeout",
            "invalid_answer"} <= kinds
    # Counted at the client: the server's own count also holds handlers still writing to a connection that the
    # client closed at its deadline.
    assert calls.most == 1 and calls.total == len(standin.served_envelopes) >= len(fuzz)


class TestFreshOrNothing:
    """An answer applies only to the market it was asked about: its age, the mid's move since and the sea."""

    @staticmethod
    def answer_then(tmp_path: Path, later: Any, seconds: float) -> tuple[Any, PerceptionRouter]:
        """Ask on unsure_record(); when the answer is in, let `seconds` pass and show the router `later(record)`."""
        clock = FakeClock()

        async def run(router: PerceptionRouter) -> Any:
            record = unsure_record()
            assert router.perceive(record, INSTRUMENT, 1) is None
            assert router._task is not None
            await router._task
            clock.now += seconds
            moved = unsure_record()
            later(moved)
            return router.perceive(moved, INSTRUMENT, 2)

        with OpenAIStandin([Rule(match="small-model", content=BUY)]) as standin:
            router = router_on(tmp_path, standin, clock, answer_ttl_s=10.0, answer_max_move_bps=5.0)
            return asyncio.run(run(router)), router

    def test_a_market_that_moved_past_the_bound_gets_no_card(self, tmp_path: Path) -> None:
        def up_8_bps(record: np.void) -> None:
            record["mid"] = 60_000.0 * (1 + 8e-4)

        intent, router = self.answer_then(tmp_path, up_8_bps, 3.0)
        assert intent is None and router.stale_dropped == 1
        assert any("the mid moved 8.0 bps since it was asked (bound 5)" in line for line in router.log)

    def test_an_answer_inside_the_bounds_is_a_card_that_says_how_old_it_is_and_what_it_was_asked_on(
            self, tmp_path: Path) -> None:
        def up_2_bps(record: np.void) -> None:
            record["mid"] = 60_000.0 * (1 + 2e-4)

        intent, router = self.answer_then(tmp_path, up_2_bps, 3.0)
        assert intent is not None and intent.title == "[L2] Buy" and router.stale_dropped == 0
        assert intent.reasoning.endswith("(answered 3 s ago, asked on mid 60,000.0 in a calm sea)")

    def test_an_old_answer_or_another_sea_gets_no_card(self, tmp_path: Path) -> None:
        intent, router = self.answer_then(tmp_path, lambda record: None, 11.0)
        assert intent is None and any("11 s old (bound 10 s)" in line for line in router.log)

        def storm(record: np.void) -> None:
            record["sea_state"] = 0.9

        intent, router = self.answer_then(tmp_path, storm, 1.0)
        assert intent is None and any("the sea turned storm (asked in a calm one)" in line for line in router.log)

    def test_nothing_is_asked_while_the_features_are_warming_up(self, tmp_path: Path) -> None:
        cold = unsure_record()
        cold["quote_count"] = 5
        with OpenAIStandin([Rule(match="small-model", content=BUY)]) as standin:
            router = router_for(tmp_path, standin)
            assert router.perceive(cold, INSTRUMENT, 1) is None
            assert router._task is None and not standin.requests


def test_what_the_models_cost_is_reported_for_the_last_hour(tmp_path: Path) -> None:
    clock = FakeClock()
    with OpenAIStandin([Rule(match="small-model", content=BUY)]) as standin:
        router = router_on(tmp_path, standin, clock)
        assert router.llm_spend() == LlmSpend({}, False, 0, 0)

        async def ask() -> None:
            router.perceive(unsure_record(), INSTRUMENT, 1)
            assert router._task is not None
            await router._task

        asyncio.run(ask())
    spend = router.llm_spend()
    assert set(spend.by_role) == {"perception"} and spend.by_role["perception"][0] > 0 and not spend.exhausted
    assert spend.in_flight == 0 and spend.queued == 0
    clock.now += 3601
    assert router.llm_spend() == LlmSpend({}, False, 0, 0), "an hour later it is out of the window"
