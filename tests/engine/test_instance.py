"""Each engine run is an instance of its own: the ContextWindow header names it, and its crew's intent ids carry
it, so no intent id of one run is ever another run's (a card or a command can never be mistaken across runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sextant.engine.node import default_crew
from sextant.swarm.agents.base import CrewMember, instance_tag
from tests.engine.conftest import engine_config, run_engine


@pytest.mark.slow
def test_two_runs_of_the_engine_never_share_an_intent_id(tmp_path: Path) -> None:
    first_ids: list[set[str]] = []
    tags = []
    for run in ("a", "b"):
        config = engine_config(tmp_path / run, duration_s=0.5)
        parts, _ = run_engine(config, agents=default_crew(config))
        crew = [agent for agent in parts.strategy.crew if isinstance(agent, CrewMember)]
        tag = instance_tag(parts.context.created_ns)
        assert crew and all(agent.id_prefix == f"{tag}-" for agent in crew)
        first_ids.append({agent._next_id() for agent in crew})
        tags.append(tag)
    assert tags[0] != tags[1]
    assert not first_ids[0] & first_ids[1]
    assert all(intent_id.endswith(f"-{tags[0]}-" + intent_id[-6:]) for intent_id in first_ids[0])


def test_the_tag_is_the_millisecond_the_engine_made_its_files_in_base_36() -> None:
    assert instance_tag(0) == "0"
    assert instance_tag(36_000_000) == "10"
    assert instance_tag(1_764_950_000_123_456_789) != instance_tag(1_764_950_000_124_456_789)
