"""The engine's side of the trust layer (SPEC §7, §8): closed decisions go to the attestor, and the crew's
on-chain reputation comes back as autonomy ceilings and consensus weights.

Threads: the attestor's worker talks to the chain; everything that touches the engine (events on the EventRing,
the strategy's gate) happens on the engine thread, in the strategy's timer, from two hand-over queues. Trading
never waits for the chain.
"""

from __future__ import annotations

import dataclasses
import queue
from pathlib import Path
from typing import Any

from sextant.engine.events import EventSink
from sextant.engine.strategy import SwarmStrategy
from sextant.state import messages
from sextant.state.layout import Autonomy
from sextant.trust.attestor import Attestor
from sextant.trust.chain import Chain

AUTO_SCORE = 0.9  # SPEC §7
ASSISTED_SCORE = 0.5


def ceiling_for(score: float | None) -> Autonomy:
    """Auto needs ≥ 0.9, Assisted ≥ 0.5, otherwise Manual; an agent with no rated decision yet has no score, and
    earns its autonomy like any newcomer: Manual."""
    if score is None:
        return Autonomy.MANUAL
    if score >= AUTO_SCORE:
        return Autonomy.AUTO
    if score >= ASSISTED_SCORE:
        return Autonomy.ASSISTED
    return Autonomy.MANUAL


class TrustLink:
    def __init__(self, directory: Path, *, rpc_url: str, key: str, seed: int, instrument: str, multiplier: float,
                 strategy: SwarmStrategy, sink: EventSink, agents: list[str]) -> None:
        self._events: queue.SimpleQueue[messages.Event] = queue.SimpleQueue()
        self._scores: queue.SimpleQueue[dict[str, float | None]] = queue.SimpleQueue()
        self.attestor = Attestor(directory, lambda: Chain.connect(rpc_url, key, seed=seed), publish=self._events.put,
                                 on_reputation=self._scores.put)
        self._instrument = instrument
        self._multiplier = multiplier
        self._strategy = strategy
        self._sink = sink
        self._agents = agents
        strategy.outcome_listeners.append(self.on_outcome)
        strategy.timer_listeners.append(self.on_timer)

    def start(self) -> dict[str, int]:
        """Register the crew (once, ever), read its reputation, start the worker. Before the node starts."""
        ids = self.attestor.setup(self._agents)
        self._strategy.apply_reputation(self.attestor.scores())
        self.attestor.start()
        return ids

    def on_outcome(self, outcome: Any) -> None:
        if not outcome.agent:
            return  # a position no crew decision opened (a manual close): nothing to rate
        values = dataclasses.asdict(outcome)
        values["closed_at_ns"] = values.pop("ts_closed")
        values["multiplier"] = self._multiplier
        self.attestor.attest(outcome.agent, values, instrument=self._instrument,
                             strategy=outcome.agent.rsplit("-", 1)[0])

    def on_timer(self, now: int) -> None:
        while True:
            try:
                self._sink.publish(self._events.get_nowait(), now)
            except queue.Empty:
                break
        latest = None
        while True:
            try:
                latest = self._scores.get_nowait()
            except queue.Empty:
                break
        if latest is not None:
            self._strategy.apply_reputation(latest)

    def stop(self) -> None:
        self.attestor.flush(5.0)
        self.attestor.close()
