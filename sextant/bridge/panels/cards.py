"""Intent cards: the crew's reports that wait for the captain. They slide in over 300 ms and carry the agent,
confidence, title, reasoning, risk bar, execution plan and a countdown, with APPROVE / MODIFY / REJECT. Where the
engine trades more than one instrument a card names its own first, and its prices take that instrument's decimals."""

from __future__ import annotations

import math
from collections.abc import Callable

from sextant.bridge import theme
from sextant.bridge.draw import Painter
from sextant.bridge.instruments import short_symbol
from sextant.bridge.layout import CARD_GAP, CARD_H, Rect
from sextant.bridge.model import RESEARCH_KIND, BridgeModel, Card, price_text
from sextant.bridge.positions import position_words
from sextant.state import messages

SLIDE_S = 0.3
FLASH_S = 1.5  # after the slide-in, a new card's glow fades over this long
EXPIRING_S = 10.0  # in its last seconds, a card waiting for the captain pulses red
REASONING_CHARS = 150
OUTCOME_COLORS = {"approved": theme.GREEN, "rejected": theme.RED, "expired": theme.TEXT_MUTED}


def ease_out(t: float) -> float:
    """The cards' ease-out (docs/bridge.md#the-look): 1 − (1 − t)³."""
    t = min(max(t, 0.0), 1.0)
    return 1 - (1 - t) ** 3


def draw_cards(p: Painter, model: BridgeModel, column: Rect, now_ns: int, *, on_approve: Callable[[str], None],
               on_modify: Callable[[str], None], on_reject: Callable[[str], None]) -> dict[str, Rect]:
    """Draw the cards; returns each shown card's rect (the view holds a countdown while the mouse is on it)."""
    p.rect(column, theme.BG_BASE)
    p.label("cards:title", "INTENTS", column.left + p.px(16), column.top - p.px(24), size=theme.SIZE_SMALL, bold=True,
            color=theme.TEXT_MUTED)
    cards = model.visible_cards()
    top = column.top - p.px(38)
    card_h, gap = p.tx(CARD_H), p.px(CARD_GAP)
    fits = max(1, int((top - column.bottom) // (card_h + gap)))
    shown: dict[str, Rect] = {}
    for index, card in enumerate(cards[:fits]):
        slide = 1 - ease_out((model.now_s - card.arrived_s) / SLIDE_S)
        rect = Rect(column.left + p.px(12) + slide * column.width, top - (index + 1) * card_h - index * gap,
                    column.width - p.px(24), card_h)
        instrument = short_symbol(card.intent.instrument) if model.fleet_shown else ""
        _draw_card(p, card, rect, index, now_ns, index == 0 and not card.outcome, model.answering, on_approve,
                   on_modify, on_reject, model.tick_of(card.intent.instrument), instrument)
        if not card.outcome and model.answering:
            _draw_attention(p, card, rect, model.now_s, now_ns)
        shown[card.intent_id] = rect
    if len(cards) > fits:
        p.label("cards:more", f"+{len(cards) - fits} more waiting", column.center_x, column.bottom + p.px(12),
                size=theme.SIZE_SMALL, color=theme.YELLOW, anchor_x="center")
    return shown


def _draw_card(p: Painter, card: Card, rect: Rect, index: int, now_ns: int, is_top: bool, answering: bool,
               on_approve: Callable[[str], None], on_modify: Callable[[str], None],
               on_reject: Callable[[str], None], tick: float, instrument: str = "") -> None:
    """`tick`: the card's instrument's price increment; `instrument`: its symbol, said on the card where the
    engine trades more than one ("" with one: the header says it)."""
    intent = card.intent
    key = f"card{index}"
    border = OUTCOME_COLORS.get(card.outcome, theme.side_color(intent.side))
    p.rect(rect, theme.BG_SURFACE if not card.outcome else theme.with_alpha(border, 40))
    p.outline(rect, border, p.px(2 if is_top else 1))
    pad = p.tx(14)
    x, right = rect.left + pad, rect.right - pad
    width = right - x
    y = rect.top - p.tx(24)
    p.label(f"{key}:confidence", f"{intent.confidence:.0%}", right, y, size=theme.SIZE_TITLE, bold=True, mono=True,
            color=theme.confidence_color(intent.confidence), anchor_x="right")
    agent_x = x
    if instrument:
        agent_x += p.label(f"{key}:instrument", p.fit(instrument, (width - p.tx(60)) * 0.6, theme.SIZE_SMALL,
                                                      bold=True), x, y, size=theme.SIZE_SMALL, bold=True,
                           color=theme.CYAN) + p.tx(8)
    p.label(f"{key}:agent", p.fit(f"{intent.agent} · {intent.intent_kind}", x + width - p.tx(60) - agent_x,
                                  theme.SIZE_SMALL), agent_x, y, size=theme.SIZE_SMALL, color=theme.TEXT_SECONDARY)
    y -= p.tx(28)
    title = intent.title or f"{intent.side or ''} {intent.quantity:g}".strip()
    p.label(f"{key}:title", p.fit(title, width, theme.SIZE_TITLE, bold=True), x, y, size=theme.SIZE_TITLE, bold=True)
    y -= p.tx(12)
    # Three lines of reasoning at most; the whole text is in the event and on the WebSocket stream.
    # (wrapping loses part of each line's end: 2.7 lines' worth fills three)
    reasoning = p.fit(intent.reasoning, width * 2.7, theme.SIZE_SMALL)
    p.label(f"{key}:reasoning", reasoning, x, y, size=theme.SIZE_SMALL, color=theme.TEXT_SECONDARY, width=width,
            anchor_y="top")
    y -= p.tx(76)
    p.label(f"{key}:risklabel", "RISK", x, y, size=theme.SIZE_SMALL, bold=True, color=theme.TEXT_MUTED)
    bar = Rect(x + p.tx(44), y, width - p.tx(90), p.tx(8))
    risk = min(max(intent.risk_score, 0.0), 1.0)
    p.rect(bar, theme.BG_ELEVATED)
    p.rect(Rect(bar.left, bar.bottom, bar.width * risk, bar.height), theme.zone_color(risk))
    p.label(f"{key}:risk", f"{risk:.0%}", right, y, size=theme.SIZE_SMALL, mono=True, color=theme.zone_color(risk),
            anchor_x="right")
    y -= p.tx(26)
    research = intent.intent_kind == RESEARCH_KIND  # a change of the agent's parameters: no order, no MODIFY
    order = "PARAMETER CHANGE · no order" if research else order_words(intent, tick)
    p.label(f"{key}:order", p.fit(order, width, theme.SIZE_BODY, mono=True, bold=True), x, y, size=theme.SIZE_BODY,
            mono=True,
            bold=True, color=theme.side_color(intent.side))
    y -= p.tx(20)
    p.label(f"{key}:plan", p.fit(intent.plan or "—", width, theme.SIZE_SMALL), x, y, size=theme.SIZE_SMALL,
            color=theme.TEXT_SECONDARY)
    y -= p.tx(26)
    _countdown(p, key, card, Rect(x, y, width, p.tx(6)), now_ns)
    buttons_y = rect.bottom + p.tx(12)
    if card.outcome:
        p.label(f"{key}:outcome", p.fit(f"{card.outcome.upper()} · {card.outcome_detail}", width, theme.SIZE_BODY,
                                        bold=True),
                x, buttons_y + p.tx(12), size=theme.SIZE_BODY, bold=True, color=border)
        return
    if not answering:  # no engine to act on it: no button that looks as if it would
        p.label(f"{key}:no-engine", p.fit("ENGINE NOT ANSWERING", width, theme.SIZE_BODY,
                                          bold=True),
                x, buttons_y + p.tx(12), size=theme.SIZE_BODY, bold=True, color=theme.YELLOW)
        return
    enabled = not card.pending_command
    button_w = (width - 2 * p.tx(8)) / 3
    height = p.tx(34)
    intent_id = intent.intent_id
    hint = is_top and button_w > p.font(theme.SIZE_SMALL) * 7
    p.button(f"{key}:approve", Rect(x, buttons_y, button_w, height), "APPROVE" + (" A" if hint else ""),
             lambda: on_approve(intent_id), color=theme.GREEN, filled=True, enabled=enabled, size=theme.SIZE_SMALL)
    p.button(f"{key}:modify", Rect(x + button_w + p.tx(8), buttons_y, button_w, height),
             "MODIFY" + (" M" if hint else ""), lambda: on_modify(intent_id), color=theme.CYAN,
             enabled=enabled and not research,
             size=theme.SIZE_SMALL)
    p.button(f"{key}:reject", Rect(x + 2 * (button_w + p.tx(8)), buttons_y, button_w, height),
             "REJECT" + (" R" if hint else ""), lambda: on_reject(intent_id), color=theme.RED, enabled=enabled,
             size=theme.SIZE_SMALL)
    if card.pending_command:
        p.label(f"{key}:pending", p.fit(f"{card.pending_command} sent, waiting for the engine…", width,
                                        theme.SIZE_SMALL), x, buttons_y + height + p.tx(6), size=theme.SIZE_SMALL,
                color=theme.YELLOW)


def order_words(intent: messages.IntentGenerated, tick: float) -> str:
    """The order in a trader's words, and the position it leads to: "SELL 2 TRAIL 50 bps → SHORT 1" says why a
    short of 1 sells 2 (it closes a long of 1 first)."""
    style: str = intent.style or ""
    if style == "TRAILING_STOP":
        style = f"TRAIL {intent.trailing_offset_bps:g} bps" if intent.trailing_offset_bps is not None else "TRAIL"
    price = f" @ {price_text(intent.price, tick)}" if intent.price is not None else ""
    target = f" → {position_words(intent.target_position)}" if intent.target_position is not None else ""
    return f"{intent.side or ''} {intent.quantity:g}{price} {style}".strip() + target


def _draw_attention(p: Painter, card: Card, rect: Rect, now_s: float, now_ns: int) -> None:
    """A glow round a card that has just come, and a red pulse round one about to expire unanswered."""
    age = now_s - card.arrived_s - SLIDE_S
    if 0 <= age < FLASH_S:
        p.outline(rect.inset(-p.px(4)), theme.with_alpha(theme.CYAN, int(220 * (1 - age / FLASH_S))), p.px(3))
        return
    expires = card.intent.expires_at_ns
    if expires is not None and card.intent.auto_approve_at_ns is None and card.held_remaining_ns is None \
            and 0 < expires - now_ns < EXPIRING_S * 1e9:
        pulse = 0.5 + 0.5 * math.cos(2 * math.pi * now_s)  # once a second, on the view's clock
        p.outline(rect.inset(-p.px(4)), theme.with_alpha(theme.RED, int(60 + 160 * pulse)), p.px(3))


def _countdown(p: Painter, key: str, card: Card, bar: Rect, now_ns: int) -> None:
    """Assisted: the auto-approve countdown (green → yellow → red). Manual: the time left before it expires."""
    intent = card.intent
    p.rect(bar, theme.BG_ELEVATED)
    if card.held_remaining_ns is not None and not card.outcome:
        total = max(1, (intent.expires_at_ns or now_ns) - card.received_ns) if card.received_ns else 1
        p.rect(Rect(bar.left, bar.bottom, bar.width * min(1.0, card.held_remaining_ns / total), bar.height),
               theme.CYAN)
        p.label(f"{key}:countdown", f"paused while you read · {card.held_remaining_ns / 1e9:.0f} s left", bar.right,
                bar.top + p.tx(5), size=theme.SIZE_SMALL - 1, color=theme.CYAN, anchor_x="right")
        return
    deadline = intent.auto_approve_at_ns if intent.auto_approve_at_ns is not None else intent.expires_at_ns
    if deadline is None or card.outcome:
        return
    total = max(1, deadline - card.received_ns) if card.received_ns else 1
    left_ns = max(0, deadline - now_ns)
    fraction = min(1.0, left_ns / total)
    if intent.auto_approve_at_ns is not None:
        color = theme.GREEN if fraction > 0.5 else theme.YELLOW if fraction > 0.2 else theme.RED
        text = f"auto-approve in {left_ns / 1e9:.0f} s"
    else:
        color = theme.TEXT_MUTED
        text = f"waits for you · expires in {left_ns / 1e9:.0f} s"
    p.rect(Rect(bar.left, bar.bottom, bar.width * fraction, bar.height), color)
    p.label(f"{key}:countdown", text, bar.right, bar.top + p.tx(5), size=theme.SIZE_SMALL - 1, color=color,
            anchor_x="right")
