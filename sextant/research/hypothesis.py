"""Hypotheses: a family's parameter set, with its parent and where it came from, and how new ones are proposed.

A hypothesis' id is a hash of its family and parameters, so the same parameters are the same hypothesis, whoever
proposes them, and the ledger never evaluates one twice.

Proposals mutate the family's current best: one or two parameters move (a float by a normal step of a sixth of its
range, an index or window by one step or a tenth of its range), within bounds and the family's constraints. The
random stream is derived from the run's seed and the proposal's place in the order, so a resumed run proposes
what the uninterrupted one would have. An LLM may propose instead (research/llm_proposals.py); what it proposes
passes the same validation.
"""

from __future__ import annotations

import hashlib
import json

import msgspec
import numpy as np

from sextant.research.families import FAMILIES, Family

MAX_TRIES = 50


class Hypothesis(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: str
    family: str
    params: dict[str, float]
    parent_id: str | None = None
    origin: str = "mutation"  # baseline | mutation | llm
    rationale: str = ""


def hypothesis_id(family: str, params: dict[str, float]) -> str:
    text = json.dumps({"family": family, "params": params}, sort_keys=True)
    return f"{family}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def make(family: str, params: dict[str, float], *, parent_id: str | None, origin: str,
         rationale: str = "") -> Hypothesis:
    """A validated hypothesis (ValueError, naming the problem, for parameters the family does not accept)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r} (known: {', '.join(FAMILIES)})")
    checked = FAMILIES[family].validate(params)
    return Hypothesis(id=hypothesis_id(family, checked), family=family, params=checked, parent_id=parent_id,
                      origin=origin, rationale=rationale)


def baseline(family: str) -> Hypothesis:
    """The family's starting point: its defaults, which for the live families are the crew's own settings."""
    spec = FAMILIES[family]
    return make(family, dict(spec.defaults), parent_id=None, origin="baseline", rationale="the current settings")


def proposal_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index])


def mutate(parent: Hypothesis, rng: np.random.Generator) -> Hypothesis:
    """A valid neighbour of `parent` with other parameters (ValueError if none is found in MAX_TRIES draws)."""
    family: Family = FAMILIES[parent.family]
    for _ in range(MAX_TRIES):
        params = dict(parent.params)
        changed = rng.choice(len(family.params), size=min(len(family.params), int(rng.integers(1, 3))),
                             replace=False)
        for index in changed:
            spec = family.params[int(index)]
            span = spec.high - spec.low
            if spec.integer:
                step = max(1.0, round(span / 10))
                params[spec.name] = spec.clip(params[spec.name] + step * (1 if rng.random() < 0.5 else -1))
            else:
                params[spec.name] = spec.clip(params[spec.name] + rng.normal(0.0, span / 6))
        try:
            child = make(parent.family, params, parent_id=parent.id, origin="mutation",
                         rationale=", ".join(f"{spec.name} {parent.params[spec.name]:g}→{params[spec.name]:g}"
                                             for spec in family.params if params[spec.name] !=
                                             parent.params[spec.name]))
        except ValueError:
            continue
        if child.id != parent.id:
            return child
    raise ValueError(f"no valid mutation of {parent.id} found in {MAX_TRIES} draws")
