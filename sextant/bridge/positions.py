"""Drawer rows as text, for the window's drawers and the terminal alike: the Position & Orders view from the model's
order state (bridge/blotter.py), and the crew's model spend. No GL here."""

from __future__ import annotations

from sextant.bridge import theme
from sextant.bridge.blotter import OrderState
from sextant.bridge.model import BridgeModel, mid_text, price_text
from sextant.state.context import ContextSnapshot
from sextant.state.layout import LLM_ROLES


def position_words(position: float) -> str:
    """LONG 2, SHORT 1 or FLAT: a signed size as a trader says it."""
    return "FLAT" if not position else f"{'LONG' if position > 0 else 'SHORT'} {abs(position):g}"


STATUS_COLORS = {"WORKING": theme.CYAN, "PARTIAL": theme.CYAN, "FILLED": theme.GREEN, "CANCELED": theme.TEXT_MUTED,
                 "REJECTED": theme.RED, "DENIED": theme.RED, "DRY RUN": theme.YELLOW}


def order_cells(order: OrderState, tick: float) -> tuple[str, str, str, str, str, str]:
    """One order's row: side, filled / quantity, what it is, its price, its status, and the detail."""
    quantity = f"{order.filled:g}/{order.quantity:g}" if order.status == "PARTIAL" else f"{order.quantity:g}"
    if order.filled and order.status in ("FILLED", "PARTIAL"):
        price = price_text(order.average_price, tick)  # the average fill price
    elif order.level is not None:
        price = price_text(order.level, tick)
    else:
        price = "market"
    what = order.role if order.order_type != "UNKNOWN" else "order"
    return (order.side, quantity, what, price, order.status, order.detail or order.time_in_force)


def position_lines(model: BridgeModel) -> list[tuple[str, theme.Color]]:
    """The selected instrument's position as the engine states it, and the stop that protects it (from the
    working orders)."""
    snapshot = model.snapshot
    if snapshot is None or snapshot.sequence == 0:
        return [("no engine state yet", theme.TEXT_MUTED)]
    record = snapshot.record
    size, entry = float(record["position_size"]), float(record["entry_price"])
    unrealized, realized = float(record["unrealized_pnl"]), float(record["realized_pnl"])
    if not size:
        lines = [(f"FLAT · realised {realized:+,.2f}", theme.TEXT_SECONDARY)]
    else:
        color = theme.GREEN if size > 0 else theme.RED
        mark = mid_text(float(record["mid"]), model.tick)
        lines = [(f"{position_words(size)} @ {mid_text(entry, model.tick)} · mark {mark} · uPnL {unrealized:+,.2f}"
                  f" · rPnL {realized:+,.2f}", color)]
    stops = [order for order in model.blotter.working(model.instrument_filter)
             if order.role in ("stop-loss", "trailing stop", "stop")]
    for order in stops:
        level = f" at {price_text(order.level, model.tick)}" if order.level is not None else ""
        lines.append((f"{order.role} {order.side} {order.quantity:g}{level}", theme.RED))
    if size and not stops:
        lines.append(("no stop working", theme.YELLOW))
    return lines


def llm_spend_text(snapshot: ContextSnapshot) -> str:
    """What the crew's models cost over the last hour, as the engine wrote it."""
    tokens, cost = float(snapshot["llm_tokens_hour"]), float(snapshot["llm_cost_hour"])
    spent = " · budget spent: rules only" if int(snapshot["llm_budget_exhausted"]) else ""
    return f"{tokens:,.0f} tokens · ${cost:,.4f}{spent}"


def llm_role_spend(snapshot: ContextSnapshot) -> list[tuple[str, str]]:
    """The same hour per llm.toml role that spent anything: [("perception", "18.4k tokens · $0.0184"), …]."""
    tokens, costs = snapshot["llm_role_tokens_hour"], snapshot["llm_role_cost_hour"]
    return [(role, f"{_count(float(tokens[index]))} tokens · ${float(costs[index]):,.4f}")
            for index, role in enumerate(LLM_ROLES) if tokens[index] > 0 or costs[index] > 0]


def model_record_lines(model: BridgeModel) -> list[tuple[str, str]]:
    """Each model's record in its role, as its latest scored answer said, the role as the router's layer:
    [("L2", "local/small 11/13 right (85%)"), …]."""
    layers = {"perception": "L2", "strategy": "L3"}
    return [(layers.get(role, role), f"{name} {hits}/{answers} right ({hits / answers:.0%})" if answers
             else f"{name} none scored")
            for (name, role), (answers, hits) in sorted(model.model_records.items())]


def llm_calls_text(snapshot: ContextSnapshot) -> str:
    """The crew's model calls now: being answered, and waiting for their provider."""
    return f"{int(snapshot['llm_in_flight'])} asking · {int(snapshot['llm_queue_depth'])} waiting"


def _count(value: float) -> str:
    return f"{value / 1e6:.1f}M" if value >= 1e6 else f"{value / 1e3:.1f}k" if value >= 1e4 else f"{value:,.0f}"
