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
        # A live engine's instance tag ("mi8f2k1a-"), so that no two engines ever give two intents one id; empty in
        # `sextant sim`, whose ids, like its whole event log, depend on the seed and scene alone.
        self.id_prefix = ""
        self._record: np.void | None = None
        self._fields: RecordFields | None = None

    def fields(self, record: np.void) -> RecordFields:
        """Views of `record`'s fields, made once for the record the strategy passes on every quote (its writer's
        pending record, always the same object) and again only when a different record comes."""
        if record is not self._record:
            self._record, self._fields = record, RecordFields(record)
        return self._fields  # type: ignore[return-value]

    def _next_id(self) -> str:
        self._count += 1
        return f"{self.agent_id}-{self.id_prefix}{self._count:06d}"


_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def instance_tag(created_ns: int) -> str:
    """An engine instance's short name, from when it made its ContextWindow (the header's created_ns): base 36 of
    the millisecond, so two engines started a millisecond apart have different ones."""
    value, digits = created_ns // 1_000_000, []
    while value:
        value, digit = divmod(value, 36)
        digits.append(_DIGITS[digit])
    return "".join(reversed(digits)) or "0"
