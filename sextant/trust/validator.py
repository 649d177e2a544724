"""Re-running a decision: what an ERC-8004 validator checks before it answers a validation request (issue #21).

A decision record (trust/records.py) names the ContextWindow record its agent decided on by hash, the agent's kind
and config at that moment, its intent, orders and fills. The session's scene keeps every decided-on record whole
(`decisions.arrow`) and every engine event (docs/scene-format.md). `validate` finds the context in the scene by the
record's hash, re-runs the agent on it, and checks that the same intent follows and that each order and fill of the
record is one the scene saw for that intent. The answer is the Validation Registry's: 100 reproduced, 0 not, with
the reason. A model's decision (the perception router) is not re-run: a model need not answer twice alike.

Pure: the scene and the record in, the answer out; posting it on chain is the validator process's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from sextant.replay.format import SceneError, read_decisions, read_metadata, read_table
from sextant.state import messages
from sextant.state.layout import instrument_view_dtype
from sextant.swarm.agents.delta_hedge import DeltaHedgeAgent, DeltaHedgeConfig
from sextant.swarm.agents.mean_reversion import MeanReversionAgent, MeanReversionConfig
from sextant.swarm.agents.momentum import MomentumAgent, MomentumConfig
from sextant.swarm.agents.risk import RiskAgent, RiskAgentConfig

REPRODUCED, NOT_REPRODUCED = 100, 0
RERUNNABLE: dict[str, tuple[type, type]] = {
    "MomentumAgent": (MomentumAgent, MomentumConfig), "MeanReversionAgent": (MeanReversionAgent, MeanReversionConfig),
    "DeltaHedgeAgent": (DeltaHedgeAgent, DeltaHedgeConfig), "RiskAgent": (RiskAgent, RiskAgentConfig)}
# what of an intent the agent decides (the rest, ids and times, the engine adds)
DECIDED = (("kind", "intent_kind"), ("target_position", "target_position"), ("confidence", "confidence"),
           ("reasoning", "reasoning"))


@dataclass(frozen=True, slots=True)
class Validation:
    response: int  # REPRODUCED or NOT_REPRODUCED, as validationResponse takes it
    reason: str
    # False while the scene is still being recorded and what was not found in it may yet come (its writer flushes
    # every second): the validator asks again later instead of answering 0
    final: bool = True


def validate(record: dict[str, Any], scene: Path) -> Validation:
    """Re-run `record`'s decision on `scene`'s context; 100 with what matched, or 0 with the first thing that did
    not."""
    deciding = record.get("deciding_agent") or {}
    kind = deciding.get("kind")
    if kind not in RERUNNABLE:
        return _not(f"{record.get('agent')} is {kind or 'not named'}: only a rule agent is re-run "
                    f"({', '.join(RERUNNABLE)})")
    try:
        metadata = read_metadata(scene)
    except SceneError as error:
        return _not(f"the scene cannot be read: {error}")
    recording = "stopped_ns" not in metadata  # the recorder writes it when its session ends
    try:
        contexts = read_decisions(scene)
    except SceneError as error:
        return _not(f"the scene cannot be read: {error}", final=not recording)
    context_hash = str(record.get("context_hash", ""))
    found = contexts.get(bytes.fromhex(context_hash.removeprefix("0x"))) if context_hash else None
    intent = record.get("intent") or {}
    if found is None:
        return _not(f"the scene holds no ContextWindow record hashing to {context_hash or '(none)'}: not the context "
                    f"the decision was made on", final=not recording or not context_hash)
    intent_id, raw = found
    if intent_id != intent.get("intent_id"):
        return _not(f"the context hashing to {context_hash} was {intent_id}'s, not {intent.get('intent_id')}'s")
    agent_class, config_class = RERUNNABLE[kind]
    try:
        agent = agent_class(msgspec.convert(deciding.get("config") or {}, config_class))
    except msgspec.ValidationError as error:
        return _not(f"the record's {kind} config does not build one: {error}")
    instrument = str(record.get("instrument", ""))
    instruments = list(metadata.get("instruments") or [metadata.get("instrument")])
    slot = instruments.index(instrument) if instrument in instruments else 0
    again = agent.perceive(np.frombuffer(raw, instrument_view_dtype(slot))[0], instrument, 0)
    if again is None:
        return _not(f"re-run on its context, {kind} proposes nothing; the record says "
                    f"{intent.get('intent_kind')} to {intent.get('target_position')}")
    for ours, theirs in DECIDED:
        if getattr(again, ours) != intent.get(theirs):
            return _not(f"re-run on its context, {kind} decides {ours} {getattr(again, ours)!r}; the record says "
                        f"{intent.get(theirs)!r}")
    try:
        seen = _scene_orders_and_fills(scene, str(intent_id))
    except SceneError as error:
        return _not(f"the scene's events cannot be read: {error}", final=not recording)
    for key in ("orders", "fills"):
        for entry in record.get(key) or []:
            if entry not in seen[key]:
                return _not(f"{key[:-1]} {entry.get('client_order_id')} at {entry.get('ts_ns')} is not one the "
                            f"scene saw for {intent_id}: {_differs(entry, seen[key])}", final=not recording)
    return Validation(REPRODUCED, f"reproduced: {kind} re-run on its context decides {intent.get('intent_kind')} to "
                                  f"{intent.get('target_position')}; {len(record.get('orders') or [])} orders and "
                                  f"{len(record.get('fills') or [])} fills as the scene saw them")


def _not(reason: str, *, final: bool = True) -> Validation:
    return Validation(NOT_REPRODUCED, reason, final)


def _scene_orders_and_fills(scene: Path, intent_id: str) -> dict[str, list[dict[str, Any]]]:
    """The scene's OrderSubmitted and OrderFilled events of one intent, as a decision record holds them."""
    table = read_table(scene, "events")
    seen: dict[str, list[dict[str, Any]]] = {"orders": [], "fills": []}
    wanted = {messages.OrderSubmitted.KIND: "orders", messages.OrderFilled.KIND: "fills"}
    for kind, ts_ns, payload in zip(table.column("kind").to_pylist(), table.column("ts_ns").to_pylist(),
                                    table.column("payload").to_pylist(), strict=True):
        if kind in wanted:
            event = messages.decode(kind, payload)
            if getattr(event, "intent_id", None) == intent_id:
                seen[wanted[kind]].append(msgspec.to_builtins(event) | {"ts_ns": ts_ns})
    return seen


def _differs(entry: dict[str, Any], seen: list[dict[str, Any]]) -> str:
    """How the record's entry differs from the scene's of the same order (or that the order is unknown)."""
    same_order = [each for each in seen if each.get("client_order_id") == entry.get("client_order_id")
                  and each.get("ts_ns") == entry.get("ts_ns")]
    if not same_order:
        return "no such order at that time"
    fields = [f"{name} {entry.get(name)!r} (scene {same_order[0].get(name)!r})" for name in sorted(entry)
              if entry.get(name) != same_order[0].get(name)]
    return "; ".join(fields)
