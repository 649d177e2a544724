"""A scene keeps the ContextWindow record each intent was decided on, whole: the deciding agent re-run on it gives
the same intent (what a validator of the decision's record does, issue #21)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from eth_utils import keccak

from sextant.engine.config import EngineConfig
from sextant.engine.node import default_crews
from sextant.replay.format import read_decisions, read_metadata, read_table
from sextant.state import messages
from sextant.state.layout import instrument_view_dtype
from tests.conftest import REPO_ROOT


def test_each_decision_is_recorded_on_its_own_record_and_the_agent_rerun_on_it_decides_the_same(
        tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "sextant.cli", "sim", "--quotes", "6000", "--out", str(tmp_path)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    scene = tmp_path / "scene"
    decisions = read_decisions(scene)
    events = read_table(scene, "events")
    generated = {m.intent_id: m for m in (messages.decode(kind, payload) for kind, payload in zip(
        events.column("kind").to_pylist(), events.column("payload").to_pylist(), strict=True))
        if isinstance(m, messages.IntentGenerated)}
    assert len(decisions) >= 2 and {intent for intent, _ in decisions.values()} == set(generated)
    settings = read_metadata(scene)["config"]
    config = EngineConfig(base_size=settings["base_size"])
    (crew,) = default_crews(config, [config.base_size])
    agents = {agent.agent_id: agent for agent in crew}
    for context_hash, (intent_id, record) in decisions.items():
        assert keccak(record) == context_hash
        intent = generated[intent_id]
        again = agents[intent.agent].perceive(np.frombuffer(record, instrument_view_dtype(0))[0], intent.instrument,
                                              0)
        assert again is not None, intent_id
        assert (again.kind, again.target_position, again.confidence, again.reasoning) == (
            intent.intent_kind, intent.target_position, intent.confidence, intent.reasoning)
