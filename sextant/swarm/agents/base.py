"""What every crew member shares: its id, its status for the ContextWindow, and deterministic intent ids."""

from __future__ import annotations

from typing import Any

import numpy as np

from sextant.state.context import RecordFields
from sextant.state.layout import CrewState, CrewTask


class CrewMember:
    """Subclasses set `config` (with an `agent_id`) and implement `perceive(record, instrument, now_ns)`."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.agent_id: str = config.agent_id
        # (state, task, value) for the crew bar; updated on every perceive
        self.status: tuple[CrewState, CrewTask, float] = (CrewState.IDLE, CrewTask.IDLE, 0.0)
        self._count = 0
        self._record: np.void | None = None
        self._fields: RecordFields | None = None

    def fields(self, record: np.void) -> RecordFields:
        """Views of `record`'s fields, made once for the record the strategy passes on every quote (its writer's
        pending record, always the same object) and again only when a different record comes."""
        if record is not self._record:
            self._record, self._fields = record, RecordFields(record)
        return self._fields  # type: ignore[return-value]

    def _next_id(self) -> str:
        # Deterministic ids: the same seed and scene give the same event log.
        self._count += 1
        return f"{self.agent_id}-{self._count:06d}"
