"""A change of a crew member's parameters that research accepted: the payload of a research card, which the gate
holds until it is decided (research/link.py makes them from the ledger)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import msgspec

RESEARCH_CARD_TTL_S = 600.0


@dataclass(frozen=True, slots=True)
class ResearchChange:
    hypothesis_id: str
    parent_id: str | None
    family: str
    agent_id: str
    params: dict[str, float]
    previous: dict[str, float]
    integer_params: frozenset[str]
    ir_before: float
    ir_after: float
    dsr: float
    ttl_s: float = RESEARCH_CARD_TTL_S

    @property
    def plan(self) -> str:
        changed = [f"{name} {self.previous.get(name, math.nan):g} → {value:g}" for name, value in self.params.items()
                   if self.previous.get(name) != value]
        return "set " + (", ".join(changed) if changed else "the same parameters")

    @property
    def title(self) -> str:
        return f"Research: retune {self.agent_id}"

    @property
    def reasoning(self) -> str:
        return (f"selection IR {self.ir_before:.2f} → {self.ir_after:.2f}; sealed holdout deflated Sharpe "
                f"{self.dsr:.3f} ({self.hypothesis_id})")

    @property
    def confidence(self) -> float:
        return max(0.0, min(1.0, self.dsr))

    def applied_to(self, config: Any) -> Any:
        """`config` (a frozen msgspec struct) with these parameters; ValueError if it lacks one of them."""
        missing = [name for name in self.params if name not in config.__struct_fields__]
        if missing:
            raise ValueError(f"no field {', '.join(missing)}")
        values = {name: round(value) if name in self.integer_params else float(value)
                  for name, value in self.params.items()}
        return msgspec.structs.replace(config, **values)


class ResearchCardClosed(msgspec.Struct, frozen=True):
    """What became of a research card (a message on the engine's bus, state/bus.py): `decision` is "applied",
    "rejected", "expired" or "dropped" (an E-stop, or a change that no longer fits), `by` who decided."""

    change: ResearchChange
    decision: str
    by: str
