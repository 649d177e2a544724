"""Engine fixtures: a real TradingNode (sim data client + Sandbox) run in-process on temporary files."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sextant.engine.config import EngineConfig, EngineSecrets
from sextant.engine.node import EngineParts, run_engine_async
from sextant.state.bus import EventPublished
from sextant.state.ring import EventRingReader, RingMessage
from sextant.swarm.intent import AgentIntent, RiskBudget
from tests.conftest import RAN_NODES


def engine_config(tmp_path: Path, **overrides: Any) -> EngineConfig:
    values: dict[str, Any] = {"context_path": str(tmp_path / "context.mmap"),
                              "events_path": str(tmp_path / "events.mmap"),
                              "commands_path": str(tmp_path / "commands.mmap"), "speed": 10.0, "cooldown_secs": 0.0,
                              "duration_s": 10.0, "ws_port": 0,
                              "sl_pct": 0.0}  # protective stops are tested on their own (test_limits.py)
    values.update(overrides)
    return EngineConfig(**values)


def run_engine(config: EngineConfig, schedule: Callable[[EngineParts, asyncio.AbstractEventLoop], None] | None = None,
               agents: list[Any] | None = None, secrets: EngineSecrets | None = None,
               stop: asyncio.Event | None = None,
               crews: list[list[Any]] | None = None) -> tuple[EngineParts, list[RingMessage]]:
    """Run the engine for config.duration_s, or until `stop` is set, calling `schedule(parts, loop)` once it is
    built; return its events. The node stays undisposed, its cache readable, until the test module ends."""
    collected: list[RingMessage] = []

    def ready(parts: EngineParts) -> None:
        parts.bus.subscribe(EventPublished, lambda published: collected.append(
            RingMessage(published.seq, published.event.KIND, published.ts_ns, False, published.event)))
        if schedule is not None:
            schedule(parts, asyncio.get_running_loop())

    crew = agents if agents is not None else []  # no crew unless given: the test proposes
    crews = crews or ([list(crew) for _ in config.portfolio] if config.portfolio else [crew])
    parts = asyncio.run(run_engine_async(config, stop, on_ready=ready, crews=crews, secrets=secrets))
    RAN_NODES.append(parts.node)
    return parts, collected


def intent(intent_id: str, kind: str, target: float, **fields: Any) -> AgentIntent:
    return AgentIntent(id=intent_id, agent="test-agent", kind=kind, instrument="BTC-USDT-SWAP.OKX",  # type: ignore
                       target_position=target, confidence=fields.pop("confidence", 0.8),
                       budget=RiskBudget(max_loss=10_000.0, max_position=20.0), **fields)


@pytest.fixture
def events_of() -> Callable[[list[RingMessage], type], list[Any]]:
    return lambda collected, kind: [m.message for m in collected if isinstance(m.message, kind)]


__all__ = ["engine_config", "run_engine", "intent", "EventRingReader"]
