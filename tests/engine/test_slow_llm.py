"""A slow LLM does not delay the tick: quote → decision latency in the running engine is the same whether or not a
5-second perception call is in flight. A broken one is reported on the event stream, once per back-off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sextant.state import messages
from sextant.swarm.agents.risk import RiskAgent
from sextant.swarm.llm import LlmClient
from sextant.swarm.router import PerceptionConfig, PerceptionRouter
from tests.engine.conftest import engine_config, run_engine
from tests.fixtures.openai_standin import Envelope, OpenAIStandin, Rule
from tests.swarm.test_router import BUY, llm_config


def decision_latency_us(tmp_path: Path, llm: LlmClient | None) -> tuple[float, PerceptionRouter, bool]:
    # An unsure rule set (huge momentum threshold) so the router escalates on every quote it is allowed to.
    router = PerceptionRouter(PerceptionConfig(momentum_z=1e9, retry_after_failure_s=0.0, l2_deadline_s=6.0,
                                               l3_deadline_s=6.0), llm)
    samples: dict[str, Any] = {}

    def schedule(parts: Any, loop: Any) -> None:
        loop.call_later(3.5, lambda: samples.update(latencies=parts.strategy.decision_latencies.last(200),
                                                    in_flight=router._task is not None and not router._task.done()))

    run_engine(engine_config(tmp_path, autonomy="AUTO", duration_s=4.0, speed=10.0), schedule,
               agents=[RiskAgent(), router])
    return float(np.median(samples["latencies"])) / 1e3, router, bool(samples["in_flight"])


@pytest.mark.slow
def test_a_five_second_llm_call_leaves_the_tick_alone(tmp_path: Path) -> None:
    rules_only, _, _ = decision_latency_us(tmp_path / "rules", None)
    with OpenAIStandin([Rule(match="model", content=BUY, delay_s=5.0)]) as standin:
        client = LlmClient(llm_config(tmp_path, standin.url), deadline_s=6.0, max_retries=0)
        with_llm, router, in_flight = decision_latency_us(tmp_path / "llm", client)
    print(f"quote → decision median: {rules_only:.0f} µs rules only, {with_llm:.0f} µs with a 5 s LLM call in flight")
    assert in_flight and router.calls == 1  # one call, still waiting 3.5 s later; the tick went on
    assert len(standin.requests) == 1
    assert with_llm <= 2 * rules_only + 300


@pytest.mark.slow
def test_a_broken_llm_server_is_one_llm_failed_event_on_the_stream_per_back_off(tmp_path: Path) -> None:
    html = Envelope(b"<html>502 Bad Gateway</html>", content_type="text/html")
    router = PerceptionRouter(PerceptionConfig(momentum_z=1e9, retry_after_failure_s=30.0), None)
    with OpenAIStandin([Rule(match="model", envelopes=[html])]) as standin:
        router._llm = LlmClient(llm_config(tmp_path, standin.url), deadline_s=2.0, max_retries=0)
        _, collected = run_engine(engine_config(tmp_path, autonomy="AUTO", duration_s=3.0, speed=10.0),
                                  agents=[RiskAgent(), router])
    failed = [m.message for m in collected if isinstance(m.message, messages.LlmFailed)]
    assert len(standin.requests) == 2  # L2 and L3 once; then the 30 s back-off, while quotes kept coming
    assert len(failed) == 1 and failed[0].kind == "not_json" and failed[0].retry_in_s == 30.0
