"""What the crew's models are and cost: the engine says at start which model answers each layer, and the spend
reaches the ContextWindow (llm_tokens_hour, llm_cost_hour, llm_budget_exhausted): the strategy writes what each crew
member that asks models says it spent over the last hour, at every timer tick."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.engine.conftest import engine_config, run_engine


class Spender:
    """A crew member that proposes nothing and has spent what a test says."""

    def __init__(self, agent_id: str, tokens: int, cost: float, exhausted: bool) -> None:
        self.agent_id = agent_id
        self.spend = (tokens, cost, exhausted)

    def perceive(self, record: np.void, instrument: str, now_ns: int) -> None:
        return None

    def llm_spend(self) -> tuple[int, float, bool]:
        return self.spend


@pytest.mark.slow
def test_the_crews_spend_over_the_last_hour_is_in_the_context_window(tmp_path: Path) -> None:
    crew = [Spender("perception-01", 1_200, 0.0042, False), Spender("perception-02", 300, 0.0008, True)]
    seen: list[tuple[float, float, int]] = []

    def schedule(parts: Any, loop: Any) -> None:
        def look() -> None:
            fields = parts.context.fields
            seen.append((fields.llm_tokens_hour.item(), fields.llm_cost_hour.item(),
                         int(fields.llm_budget_exhausted.item())))
        loop.call_later(1.5, look)

    run_engine(engine_config(tmp_path, duration_s=2.0), schedule, crew)
    assert seen == [(1_500.0, pytest.approx(0.005), 1)]


def test_the_engine_says_at_start_which_model_answers_each_layer(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from sextant.engine.node import perception_llm
    from tests.fixtures.llm_toml import local_llm_config

    local_llm_config(tmp_path, "http://127.0.0.1:9/v1")  # writes tmp_path/llm.toml
    client, _ = perception_llm(engine_config(tmp_path, llm_config=str(tmp_path / "llm.toml")))
    assert client is not None
    assert ("perception: rules first, then L2 perception = local/small-model, L3 strategy = local/large-model"
            in capsys.readouterr().out)
