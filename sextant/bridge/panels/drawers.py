"""Drawers over the right of the body: [1] Orders, [2] Research, [3] Memory, [4] Hull Integrity. [Esc] closes."""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from sextant.bridge import theme
from sextant.bridge.draw import Painter
from sextant.bridge.instruments import short_symbol
from sextant.bridge.layout import Rect
from sextant.bridge.link import LinkStats
from sextant.bridge.model import BridgeModel
from sextant.bridge.panels.hull import draw_hull_drawer
from sextant.bridge.positions import (
    STATUS_COLORS,
    llm_calls_text,
    llm_role_spend,
    llm_spend_text,
    model_record_lines,
    order_cells,
    position_lines,
)
from sextant.bridge.render.gl import GpuLayers
from sextant.state.layout import CONTEXT_FILE_SIZE, CONTEXT_RECORD_SIZE, LAYOUT_VERSION


class Drawer(IntEnum):
    ORDERS = 1
    RESEARCH = 2
    MEMORY = 3
    HULL = 4


TITLES = {Drawer.ORDERS: "POSITION & ORDERS", Drawer.RESEARCH: "RESEARCH", Drawer.MEMORY: "MEMORY",
          Drawer.HULL: "HULL INTEGRITY"}


def draw_drawer(p: Painter, gpu: GpuLayers, model: BridgeModel, stats: LinkStats, drawer: Drawer,
                volatile: list[Rect]) -> Rect:
    """Draw the open drawer; returns its rect (clicks outside it close it). Rects whose content is a live
    measurement (not a function of the engine's data) are added to `volatile`, for golden-image tests."""
    layout = p.layout
    p.rect(layout.body, theme.BACKDROP)
    area = layout.drawer
    p.rect(area, theme.BG_SURFACE)
    p.rect(Rect(area.left, area.bottom, p.px(1), area.height), theme.BORDER)
    p.label("drawer:title", f"[{int(drawer)}] {TITLES[drawer]}", area.left + p.px(18), area.top - p.px(30),
            size=theme.SIZE_TITLE, bold=True, color=theme.CYAN)
    p.label("drawer:close", "[Esc] close", area.right - p.px(18), area.top - p.px(30), size=theme.SIZE_SMALL,
            color=theme.TEXT_MUTED, anchor_x="right")
    content = Rect(area.left + p.px(18), area.bottom + p.px(14), area.width - p.px(36), area.height - p.px(64))
    if drawer == Drawer.ORDERS:
        _orders(p, model, content)
    elif drawer == Drawer.RESEARCH:
        _research(p, gpu, model, content)
    elif drawer == Drawer.MEMORY:
        _memory(p, gpu, model, stats, content, volatile)
    else:
        draw_hull_drawer(p, gpu, model, content)
    return area


ORDER_COLUMNS = (("SIDE", 0.0), ("QTY", 0.09), ("WHAT", 0.19), ("PRICE", 0.45), ("STATUS", 0.62),
                 ("DETAIL", 0.79))


def _orders(p: Painter, model: BridgeModel, area: Rect) -> None:
    row_h = p.tx(24)
    y = area.top - p.px(10)
    instrument = model.instrument_filter  # with several instruments, the selected one's position and orders
    title = f"POSITION · {short_symbol(instrument)}" if instrument is not None else "POSITION"
    p.label("orders:position-title", title, area.left, y, size=theme.SIZE_SMALL, bold=True, color=theme.TEXT_MUTED)
    for index, (text, color) in enumerate(position_lines(model)[:4]):
        y -= row_h
        p.label(f"orders:position{index}", p.fit(text, area.width, theme.SIZE_SMALL, mono=True), area.left, y,
                size=theme.SIZE_SMALL, mono=True, color=color)
    working = model.blotter.working(instrument)
    sections = (("WORKING", working), ("RECENT", [o for o in model.blotter.recent(40, instrument) if not o.working]))
    footer_h = p.tx(52)
    for name, orders in sections:
        y -= row_h * 1.6
        if y < area.bottom + footer_h + 2 * row_h:
            break
        p.label(f"orders:{name}:title", name, area.left, y, size=theme.SIZE_SMALL, bold=True, color=theme.CYAN)
        y -= row_h
        for column, (heading, at) in enumerate(ORDER_COLUMNS):
            p.label(f"orders:{name}:head{column}", heading, area.left + at * area.width, y, size=theme.SIZE_SMALL - 1,
                    bold=True, color=theme.TEXT_MUTED)
        if not orders:
            y -= row_h
            p.label(f"orders:{name}:none", "none" if name == "WORKING" else "No orders yet this session.", area.left,
                    y, size=theme.SIZE_SMALL, color=theme.TEXT_MUTED)
        for index, order in enumerate(orders):
            if y - row_h < area.bottom + footer_h:
                break
            y -= row_h
            cells = order_cells(order, model.tick)
            for column, (text, (_, at)) in enumerate(zip(cells, ORDER_COLUMNS, strict=True)):
                width = (ORDER_COLUMNS[column + 1][1] - at) * area.width - p.px(8) if column < 5 else \
                    (1 - at) * area.width
                color = theme.side_color(text) if column == 0 else STATUS_COLORS.get(order.status, theme.TEXT) \
                    if column == 4 else theme.TEXT if column < 4 else theme.TEXT_SECONDARY
                p.label(f"orders:{name}:r{index}c{column}", p.fit(text, width, theme.SIZE_SMALL, mono=True),
                        area.left + at * area.width, y, size=theme.SIZE_SMALL, mono=True, color=color)
    counts = model.event_counts
    snapshot = model.snapshot
    footer = (f"submitted {counts['OrderSubmitted']} · filled {counts['OrderFilled']} · rejected "
              f"{counts['OrderRejected']} · canceled {counts['OrderCanceled']}")
    p.label("orders:footer", footer, area.left, area.bottom + p.tx(24), size=theme.SIZE_SMALL, mono=True,
            color=theme.TEXT_SECONDARY)
    if snapshot is not None:
        p.label("orders:engine", f"engine: {int(snapshot['orders_open'])} open · {int(snapshot['fills'])} fills · "
                f"{int(snapshot['orders_submitted'])} submitted", area.left, area.bottom + p.tx(4),
                size=theme.SIZE_SMALL, mono=True, color=theme.TEXT_SECONDARY)


def _research(p: Painter, gpu: GpuLayers, model: BridgeModel, area: Rect) -> None:
    results = list(model.research)
    accepted = [r for r in results if r.accepted]
    p.label("research:summary", f"hypotheses {len(results)}   accepted {len(accepted)}   rejected "
            f"{len(results) - len(accepted)}", area.left, area.top - p.px(10), size=theme.SIZE_BODY, mono=True,
            color=theme.TEXT_SECONDARY)
    if not results:
        p.label("research:empty", "No autoresearch results this session. `sextant research` runs the ratchet; each "
                "hypothesis it evaluates and every accepted change appear here.", area.left, area.top - p.px(40),
                size=theme.SIZE_BODY, color=theme.TEXT_MUTED, width=area.width, anchor_y="top")
        return
    chart = Rect(area.left, area.top - p.px(230), area.width, p.px(180))
    p.rect(chart, theme.BG_DEEP)
    p.label("research:chart", "IR evolution (best after each hypothesis)", chart.left + p.px(8),
            chart.top - p.px(18), size=theme.SIZE_SMALL, color=theme.TEXT_MUTED)
    best = np.maximum.accumulate(np.array([r.ir_after if r.accepted else r.ir_before for r in results], float))
    tried = np.array([r.ir_after for r in results], float)
    low, high = float(min(best.min(), tried.min())), float(max(best.max(), tried.max()))
    span = max(high - low, 1e-6)
    xs = chart.left + p.px(10) + np.linspace(0, chart.width - p.px(20), max(len(results), 2))[: len(results)]

    def y_of(values: np.ndarray) -> np.ndarray:
        return chart.bottom + p.px(10) + (values - low) / span * (chart.height - p.px(40))

    with gpu.drawing():
        if len(results) >= 2:
            gpu.polyline(np.stack([xs, y_of(tried)], axis=1), p.px(1), theme.TEXT_MUTED)
            gpu.polyline(np.stack([xs, y_of(best)], axis=1), p.px(2.5), theme.GREEN)
    p.label("research:best", f"best IR {best[-1]:.2f}", chart.right - p.px(8), chart.top - p.px(18),
            size=theme.SIZE_SMALL, mono=True, color=theme.GREEN, anchor_x="right")
    y = chart.bottom - p.px(28)
    for index, result in enumerate(reversed(results[-12:])):
        color = theme.GREEN if result.accepted else theme.TEXT_MUTED
        params = " ".join(f"{k}={v:g}" for k, v in list(result.params.items())[:3])
        # ids begin with their family (research/hypothesis.py), so the family is not repeated
        name = result.hypothesis_id if result.hypothesis_id.startswith(result.family) else \
            f"{result.family} {result.hypothesis_id}"
        line = (f"{name:<26} IR {result.ir_before:+.2f} → {result.ir_after:+.2f} "
                f"{'ACCEPTED' if result.accepted else 'rejected'}  {params}")
        p.label(f"research:h{index}", p.fit(line, area.width, theme.SIZE_SMALL, mono=True), area.left,
                y - index * p.px(22), size=theme.SIZE_SMALL, mono=True, color=color)


def _memory(p: Painter, gpu: GpuLayers, model: BridgeModel, stats: LinkStats, area: Rect,
            volatile: list[Rect]) -> None:
    snapshot = model.snapshot
    latencies = stats.read_latencies()
    rows: list[tuple[str, str, bool]] = [
        ("layout", f"v{LAYOUT_VERSION} · {CONTEXT_RECORD_SIZE} B × 2 · {CONTEXT_FILE_SIZE:,} B", False),
    ]
    if snapshot is not None:
        rows += [("sequence", f"{snapshot.sequence:,}", False),
                 ("quotes", f"{int(snapshot['quote_count']):,}", False),
                 ("trace", (f"{min(int(snapshot['trace_count']), 64)}/64 slots, "
                           f"{int(snapshot['trace_count']):,} events"), False)]
    rows += [
        ("heartbeat age", f"{model.heartbeat_age_s * 1e3:,.0f} ms" if np.isfinite(model.heartbeat_age_s) else "—",
         True),
        ("snapshot read", (f"median {np.median(latencies) / 1e3:.1f} µs · p99 "
                           f"{np.percentile(latencies, 99) / 1e3:.1f} µs") if len(latencies) else "—", True),
        ("events", f"{stats.events_received:,} received · {model.events_lost:,} lost", False),
        ("damaged", f"{stats.events_truncated} truncated · {stats.events_undecodable} undecodable", False),
        ("attached", f"{stats.attachments}×" + (f" · {stats.last_error}" if stats.last_error else ""), False),
    ]
    if snapshot is not None:
        rows += [("LLM, last hour", llm_spend_text(snapshot), False),
                 *((f"  {role}", spend, False) for role, spend in llm_role_spend(snapshot)),
                 ("LLM calls", llm_calls_text(snapshot), False),
                 *((f"  {layer} record", record, False) for layer, record in model_record_lines(model))]
    y = area.top - p.px(10)
    for index, (name, value, is_volatile) in enumerate(rows):
        row_y = y - index * p.px(30)
        p.label(f"memory:name{index}", name, area.left, row_y, size=theme.SIZE_BODY, color=theme.TEXT_MUTED)
        value_x = area.left + area.width * 0.3
        p.label(f"memory:value{index}", p.fit(value, area.right - value_x, theme.SIZE_BODY, mono=True), value_x,
                row_y, size=theme.SIZE_BODY, mono=True)
        if is_volatile:
            volatile.append(Rect(value_x, row_y - p.tx(8), area.right - value_x, p.tx(26)))
    kinds = sorted(model.event_counts.items(), key=lambda item: (-item[1], item[0]))
    y_kinds = y - len(rows) * p.px(30) - p.px(20)
    p.label("memory:kinds", "events by kind", area.left, y_kinds, size=theme.SIZE_SMALL, bold=True,
            color=theme.TEXT_MUTED)
    for index, (kind, count) in enumerate(kinds[:10]):
        column, row = index % 2, index // 2
        p.label(f"memory:kind{index}", f"{kind:<18}{count:>7,}", area.left + column * area.width / 2,
                y_kinds - p.px(24) * (row + 1), size=theme.SIZE_SMALL, mono=True, color=theme.TEXT_SECONDARY)
    spark = Rect(area.left, area.bottom + p.px(10), area.width, p.px(90))
    p.rect(spark, theme.BG_DEEP)
    p.label("memory:spark", "snapshot read latency, last 600 frames", spark.left + p.px(8), spark.top - p.px(16),
            size=theme.SIZE_SMALL, color=theme.TEXT_MUTED)
    volatile.append(spark)
    if len(latencies) >= 2:
        ordered = np.roll(stats.read_latency_ns, -(stats.reads % len(stats.read_latency_ns)))[-len(latencies):] \
            if stats.reads > len(latencies) else latencies
        top = max(float(np.percentile(ordered, 99)), 1.0)
        xs = spark.left + np.linspace(p.px(6), spark.width - p.px(6), len(ordered))
        ys = spark.bottom + p.px(6) + np.clip(ordered / top, 0, 1) * (spark.height - p.px(30))
        with gpu.drawing():
            gpu.polyline(np.stack([xs, ys], axis=1), p.px(1.2), theme.CYAN)
