"""Hypotheses proposed by an LLM (llm.toml, role `research`), as structured, validated JSON.

The model sees the family, its parameters with their bounds, the current best with its selection IR, and the
latest verdicts; it answers {"params": {...}, "rationale": "..."}. The answer passes the same validation as a
mutation (research/families.py): unknown names, non-numbers, values out of bounds or against the family's
constraints make it invalid, with the reason. An invalid or missing answer costs nothing but the call: the ratchet
says why and a mutation takes the slot. The model proposes; only the backtests and the ratchet decide.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sextant.config import LlmConfig
from sextant.research.families import FAMILIES
from sextant.research.hypothesis import Hypothesis, make
from sextant.research.ledger import Row
from sextant.swarm.llm import LlmClient, json_object

SYSTEM_PROMPT = ("You are the research officer of a trading crew. You propose one parameter set for a strategy "
                 "family, to be backtested. Answer only with JSON: {\"params\": {name: number, ...}, "
                 "\"rationale\": one sentence}.")
DEADLINE_S = 60.0


def answer_schema(family: str) -> dict[str, Any]:
    specs = FAMILIES[family].params
    return {
        "type": "object",
        "properties": {
            "params": {"type": "object", "additionalProperties": False,
                       "properties": {spec.name: {"type": "number", "minimum": spec.low, "maximum": spec.high}
                                      for spec in specs},
                       "required": [spec.name for spec in specs]},
            "rationale": {"type": "string", "maxLength": 300},
        },
        "required": ["params", "rationale"],
        "additionalProperties": False,
    }


def prompt_for(parent: Hypothesis, parent_ir: float | None, recent: list[Row]) -> str:
    family = FAMILIES[parent.family]
    lines = [f"Family: {family.name} ({family.summary}).", "Parameters:"]
    lines += [f"- {spec.name}: {'integer' if spec.integer else 'number'} in [{spec.low:g}, {spec.high:g}]; {spec.doc}"
              for spec in family.params]
    if family.constraint_doc:
        lines.append(f"Constraint: {family.constraint_doc}.")
    ir = f"{parent_ir:.2f}" if parent_ir is not None else "not measured"
    lines.append(f"Current best: {json.dumps(parent.params, sort_keys=True)} with selection IR {ir}.")
    same = [row for row in recent if row.family == parent.family and row.verdict][-8:]
    if same:
        lines.append("Latest verdicts in this family:")
        lines += [f"- {json.dumps(row.params, sort_keys=True)}: {row.verdict}" for row in same]
    lines.append("Propose one new parameter set likely to raise the out-of-sample information ratio.")
    return "\n".join(lines)


def parse_proposal(text: str | None, parent: Hypothesis) -> Hypothesis:
    """A validated hypothesis from the model's answer, or ValueError saying what is wrong with it."""
    data = json_object(text)  # InvalidAnswer is a ValueError
    if not isinstance(data.get("params"), dict):
        raise ValueError("the answer has no params object")  # one error type for a bad answer
    family = data.get("family", parent.family)
    if family != parent.family:
        raise ValueError(f"asked for {parent.family}, got a {family!r} proposal")
    rationale = data.get("rationale", "")
    rationale = rationale.strip()[:300] if isinstance(rationale, str) else ""
    params = {**parent.params, **data["params"]}
    return make(parent.family, params, parent_id=parent.id, origin="llm", rationale=rationale or "(no rationale)")


class LlmProposer:
    """Callable as the ratchet's `llm_proposer`: (parent, recent rows) → Hypothesis, or ValueError with why not."""

    def __init__(self, config: LlmConfig, best_ir: Any) -> None:
        self._client = LlmClient(config, deadline_s=DEADLINE_S)
        self._best_ir = best_ir  # family → the best's selection IR (the ledger's view, read when asked)
        self.tokens = 0
        self.cost_usd = 0.0

    def __call__(self, parent: Hypothesis, recent: list[Row]) -> Hypothesis:
        answer = asyncio.run(self._client.complete("research", SYSTEM_PROMPT,
                                                   prompt_for(parent, self._best_ir(parent.family), recent),
                                                   answer_schema(parent.family), "proposal"))
        self.tokens += answer.tokens
        self.cost_usd += answer.cost_usd
        if answer.text is None:
            raise ValueError(f"no proposal from the model: {answer.reason}")
        return parse_proposal(answer.text, parent)
