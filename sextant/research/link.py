"""Research into the live crew: the ledger's accepted changes become research cards, and approved ones change the
crew member's parameters in the running engine.

`sextant research` (research/ratchet.py) writes the ledger; this link reads it on the engine's timer (a small
SQLite query every POLL_INTERVAL, new rows only). Every judged hypothesis becomes an AutoresearchResult event (the
bridge's Research drawer). The latest accepted change of a family that a crew member runs (momentum,
mean reversion) becomes a research card through the strategy's gate: applied at once in AUTO, otherwise it waits
for Approve / Reject. What was decided goes back into the ledger's `applications`, so an engine that restarts
starts with the changes approved before and never asks twice about a rejected one (an expired card is offered
again at the next start).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sextant.research.change import ResearchCardClosed, ResearchChange
from sextant.state import messages
from sextant.state.bus import Bus, TimerTick

if TYPE_CHECKING:
    from sextant.research.ledger import Ledger, Row

POLL_INTERVAL_NS = 2_000_000_000
STARTUP_EVENTS = 50  # the latest judged hypotheses shown when the engine starts on an existing ledger


class CrewMember(Protocol):
    agent_id: str


class Clock(Protocol):
    def timestamp_ns(self) -> int: ...


class ResearchTarget(Protocol):
    """What the link uses of the trading strategy (engine/strategy.py), so that research does not import the engine."""

    @property
    def crew(self) -> Sequence[CrewMember]: ...

    @property
    def clock(self) -> Clock: ...

    def propose_research(self, change: ResearchChange) -> None: ...


class ResearchLink:
    def __init__(self, ledger_path: Path, strategy: ResearchTarget, sink: messages.EventPublisher, bus: Bus) -> None:
        self._path = ledger_path
        self._strategy = strategy
        self._sink = sink
        self._ledger: Ledger | None = None
        self._last_seq = 0
        self._next_poll_ns = 0
        self._offered: set[str] = set()
        bus.subscribe(TimerTick, self.on_timer)
        bus.subscribe(ResearchCardClosed, self.on_decided)

    def _agent_id(self, family: str) -> str | None:
        from sextant.research.families import FAMILIES

        prefix = FAMILIES[family].live_agent if family in FAMILIES else None
        if prefix is None:
            return None
        return next((agent.agent_id for agent in self._strategy.crew
                     if agent.agent_id.startswith(prefix + "-")), None)

    def _open(self) -> Ledger | None:
        if self._ledger is None and self._path.exists():
            from sextant.research.ledger import Ledger

            self._ledger = Ledger(self._path)
            self._restore(self._ledger)
        return self._ledger

    def _restore(self, ledger: Ledger) -> None:
        """Re-apply what was approved before (the latest per family), without asking again."""
        decisions = ledger.applications()
        latest: dict[str, Row] = {}
        for row in ledger.rows():
            if decisions.get(row.id) == "applied":
                latest[row.family] = row
        for row in latest.values():
            agent_id = self._agent_id(row.family)
            agent = next((a for a in self._strategy.crew if a.agent_id == agent_id), None)
            if agent is not None:
                agent.config = self._change(row, agent_id or "").applied_to(agent.config)  # type: ignore[attr-defined]
        self._offered = {hypothesis for hypothesis, decision in decisions.items() if decision != "expired"}
        rows = [row for row in ledger.rows() if row.judged and row.verdict != "baseline" and not row.screened_out]
        for row in rows[-STARTUP_EVENTS:]:
            self._publish(row)
        self._last_seq = _contiguous_judged(ledger.rows(), 0)

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    # ------------------------------------------------------------------------------------------------ engine thread

    def on_timer(self, tick: TimerTick) -> None:
        now_ns = tick.now_ns
        if now_ns < self._next_poll_ns:
            return
        self._next_poll_ns = now_ns + POLL_INTERVAL_NS
        ledger = self._open()
        if ledger is None:
            return
        rows = ledger.rows(after_seq=self._last_seq)
        for row in rows:
            if not row.judged:
                break  # the research run is still on it: the next poll takes it up
            self._last_seq = row.seq
            if row.verdict == "baseline" or row.screened_out:  # the drawer shows what Nautilus judged
                continue
            self._publish(row)
        self._offer_latest(ledger)

    def _offer_latest(self, ledger: Ledger) -> None:
        """A card for each family's latest accepted change that nobody has decided on yet."""
        for family in {row.family for row in ledger.rows() if row.accepted}:
            best = ledger.best(family)
            agent_id = self._agent_id(family)
            if best is None or not best.accepted or agent_id is None or best.id in self._offered:
                continue
            self._offered.add(best.id)
            self._strategy.propose_research(self._change(best, agent_id))

    def _change(self, row: Row, agent_id: str) -> ResearchChange:
        from sextant.research.families import FAMILIES

        family = FAMILIES[row.family]
        agent = next((a for a in self._strategy.crew if a.agent_id == agent_id), None)
        current = getattr(agent, "config", None)
        previous = {name: float(getattr(current, name)) for name in row.params if hasattr(current, name)}
        return ResearchChange(hypothesis_id=row.id, parent_id=row.parent_id, family=row.family, agent_id=agent_id,
                              params=row.params, previous=previous,
                              integer_params=frozenset(spec.name for spec in family.params if spec.integer),
                              ir_before=row.best_ir_before or 0.0, ir_after=row.selection_ir or 0.0,
                              dsr=row.dsr or 0.0)

    def _publish(self, row: Row) -> None:
        self._sink.publish(messages.AutoresearchResult(
            hypothesis_id=row.id, family=row.family, params=row.params, parent_id=row.parent_id,
            ir_before=row.best_ir_before or 0.0, ir_after=row.selection_ir or 0.0, accepted=row.accepted,
            verdict=row.verdict or ""), self._strategy.clock.timestamp_ns())

    def on_decided(self, closed: ResearchCardClosed) -> None:
        change, decision, by = closed.change, closed.decision, closed.by
        ledger = self._open()
        if ledger is None:
            return
        # "expired" and "dropped" (E-stop, or a change that no longer fits) are not final: offered again at the next
        # start, not again in this session
        ledger.record_application(change.hypothesis_id, "expired" if decision == "dropped" else decision,
                                  json.dumps({"by": by, "agent": change.agent_id}))


def _contiguous_judged(rows: list[Row], after: int) -> int:
    last = after
    for row in rows:
        if not row.judged:
            break
        last = row.seq
    return last
