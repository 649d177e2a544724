"""Text lines for a bridge without a screen to look at (`--headless`, CI logs): a status line per second and one
line per notable event, from the same model the panels draw."""

from __future__ import annotations

import msgspec

from sextant.bridge.link import LinkStatus
from sextant.bridge.model import BridgeModel, mid_text
from sextant.state import messages
from sextant.state.context import crew_lines

NOTABLE = (messages.IntentGenerated, messages.IntentApproved, messages.IntentRejected, messages.IntentExpired,
           messages.OrderSubmitted, messages.OrderFilled, messages.OrderRejected, messages.OrderCanceled,
           messages.EStopChanged, messages.AutonomyChanged, messages.CommandResult, messages.RiskAlert,
           messages.Veto, messages.AutoresearchResult, messages.AttestationMined, messages.AttestorDown,
           messages.AttestorUp, messages.LlmFailed, messages.LlmRecovered)


def describe_event(event: messages.Event) -> str:
    """One human line per event."""
    if isinstance(event, messages.IntentGenerated):
        wait = "waits for approval" if event.requires_approval else "auto"
        return f"intent {event.intent_id} by {event.agent}: {event.title} — {event.plan} ({wait})"
    if isinstance(event, messages.OrderSubmitted):
        price = f" @ {event.price:.1f}" if event.price is not None else ""
        dry = " [dry run]" if event.dry_run else ""
        return f"order {event.side} {event.quantity:g} {event.order_type} {event.time_in_force}{price}{dry}"
    if isinstance(event, messages.OrderFilled):
        return (f"fill {event.side} {event.fill_quantity:g} @ {event.fill_price:.1f} {event.liquidity} "
                f"slippage {event.slippage_bps:+.1f} bps, position {event.position_after:+g}")
    fields = " ".join(f"{k}={v}" for k, v in msgspec.structs.asdict(event).items() if v not in (None, ""))
    return f"{type(event).__name__} {fields}"


def status_line(model: BridgeModel, now_ns: int) -> str:
    down = model.engine_down(now_ns)
    if down:
        return f"[{model.status.value}] {down}"
    snapshot = model.snapshot
    if model.status == LinkStatus.STARTING:
        return f"[{model.status.value}] the engine is starting: no market data yet"
    if snapshot is None or snapshot.sequence == 0:
        return f"[{model.status.value}] waiting for the engine's shared memory"
    record = snapshot.record
    position = float(record["position_size"])
    crew = "; ".join(f"{agent.lower()}: {task}" for agent, _, task in crew_lines(snapshot))
    which = f" ({model.selected + 1}/{model.instrument_count})" if model.fleet_shown else ""
    return (f"[{model.status.value}] {snapshot.instrument}{which} mid {mid_text(float(record['mid']), model.tick)} "
            f"spread {float(record['spread_bps']):.2f}bps sea {float(record['sea_state']):.2f} | pos {position:+g} "
            f"uPnL {float(record['unrealized_pnl']):+.2f} rPnL {float(record['realized_pnl']):+.2f} equity "
            f"{float(record['equity']):,.2f} | cards {len(model.cards)} | {crew}")
