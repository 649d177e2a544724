"""What the crew's models are and cost: the engine says at start which model answers each layer, and the spend
reaches the ContextWindow (in all, per role, the budget's state, the calls in flight and queued): the strategy writes
what each crew member that asks models says it spent over the last hour, at every timer tick."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sextant.engine.strategy import write_llm_spend
from sextant.state.context import RecordFields
from sextant.state.layout import LLM_ROLES, instrument_view_dtype
from sextant.swarm.llm import LlmSpend
from tests.engine.conftest import engine_config, run_engine


class Spender:
    """A crew member that proposes nothing and has spent what a test says."""

    def __init__(self, agent_id: str, spend: LlmSpend) -> None:
        self.agent_id = agent_id
        self.spend = spend

    def perceive(self, record: np.void, instrument: str, now_ns: int) -> None:
        return None

    def llm_spend(self) -> LlmSpend:
        return self.spend


@pytest.mark.slow
def test_the_crews_spend_over_the_last_hour_is_in_the_context_window(tmp_path: Path) -> None:
    crew = [Spender("perception-01", LlmSpend({"perception": (1_000, 0.004), "strategy": (200, 0.0002)}, False, 1)),
            Spender("perception-02", LlmSpend({"perception": (300, 0.0008)}, True, 1, 2))]
    seen: list[tuple[float, float, int]] = []

    def schedule(parts: Any, loop: Any) -> None:
        def look() -> None:
            fields = parts.context.fields
            seen.append((fields.llm_tokens_hour.item(), fields.llm_cost_hour.item(),
                         int(fields.llm_budget_exhausted.item())))
        loop.call_later(1.5, look)

    run_engine(engine_config(tmp_path, duration_s=2.0), schedule, crew)
    assert seen == [(1_500.0, pytest.approx(0.005), 1)]


def test_the_spend_is_written_per_role_with_the_calls_in_flight_and_queued() -> None:
    fields = RecordFields(np.zeros(1, instrument_view_dtype(0)))
    write_llm_spend(fields, [LlmSpend({"perception": (1_000, 0.004), "strategy": (200, 0.0002)}, False, 1),
                             LlmSpend({"perception": (300, 0.0008), "research": (50, 0.0)}, True, 1, 2)])
    by_role = dict(zip(LLM_ROLES, fields.llm_role_tokens_hour.tolist(), strict=True))
    assert by_role == {"perception": 1_300, "strategy": 200, "risk": 0, "fallback": 0, "research": 50}
    assert fields.llm_role_cost_hour.tolist()[:2] == [pytest.approx(0.0048), pytest.approx(0.0002)]
    assert fields.llm_tokens_hour.item() == 1_550 and fields.llm_budget_exhausted.item() == 1
    assert fields.llm_in_flight.item() == 2 and fields.llm_queue_depth.item() == 2


def test_the_context_windows_roles_are_llm_tomls() -> None:
    from sextant.config import RolesConfig

    assert RolesConfig.__struct_fields__ == LLM_ROLES


def test_the_engine_says_at_start_which_model_answers_each_layer(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from sextant.engine.node import perception_llm
    from tests.fixtures.llm_toml import local_llm_config

    local_llm_config(tmp_path, "http://127.0.0.1:9/v1")  # writes tmp_path/llm.toml
    client, _ = perception_llm(engine_config(tmp_path, llm_config=str(tmp_path / "llm.toml")))
    assert client is not None
    assert ("perception: rules first, then L2 perception = local/small-model, L3 strategy = local/large-model"
            in capsys.readouterr().out)
