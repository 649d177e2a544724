"""Modal dialogs: the E-STOP confirmation and the MODIFY editor (quantity, price, style), plus toasts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from sextant.bridge import theme
from sextant.bridge.draw import Painter
from sextant.bridge.layout import Rect
from sextant.bridge.model import BridgeModel

STYLES = ("MARKET", "LIMIT", "TRAILING_STOP", "TWAP", "IOC", "FOK")


@dataclass(slots=True)
class EStopConfirm:
    engage: bool  # False: the dialog releases an engaged E-stop


@dataclass(slots=True)
class ModifyEditor:
    """What the captain is typing. Local until SEND: the engine gets one Modify command with the changed fields."""

    intent_id: str
    title: str
    quantity: str
    price: str
    style: str
    original: tuple[str, str, str] = ("", "", "")
    focus: int = 0  # 0 quantity, 1 price
    error: str = ""
    fields: tuple[str, ...] = field(default=("quantity", "price"))

    def type_char(self, char: str) -> None:
        if char in "0123456789." and len(self._current()) < 16:
            self._set(self._current() + char)
            self.error = ""

    def backspace(self) -> None:
        self._set(self._current()[:-1])

    def next_field(self) -> None:
        self.focus = (self.focus + 1) % 2

    def cycle_style(self, step: int) -> None:
        index = STYLES.index(self.style) if self.style in STYLES else 0
        self.style = STYLES[(index + step) % len(STYLES)]

    def _current(self) -> str:
        return self.quantity if self.focus == 0 else self.price

    def _set(self, value: str) -> None:
        if self.focus == 0:
            self.quantity = value
        else:
            self.price = value

    def changes(self) -> dict[str, object]:
        """The fields that differ from the intent, parsed; raises ValueError with a message for bad input."""
        out: dict[str, object] = {}
        if self.quantity != self.original[0]:
            quantity = _number(self.quantity, "quantity")
            if not quantity > 0:
                raise ValueError("quantity must be a number above 0")
            out["quantity"] = quantity
        if self.price != self.original[1] and self.price:
            price = _number(self.price, "price")
            if not price > 0:
                raise ValueError("price must be above 0")
            out["price"] = price
        if self.style != self.original[2]:
            out["style"] = self.style
        return out


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number") from None


def _modal(p: Painter, width: float, height: float) -> Rect:
    layout = p.layout
    p.rect(Rect(0, 0, layout.width, layout.height), theme.with_alpha(theme.BG_DEEP, 170))
    box = Rect((layout.width - p.px(width)) / 2, (layout.height - p.px(height)) / 2, p.px(width), p.px(height))
    p.rect(box, theme.BG_ELEVATED)
    return box


def draw_estop_confirm(p: Painter, dialog: EStopConfirm, *, on_confirm: Callable[[], None],
                       on_cancel: Callable[[], None]) -> None:
    box = _modal(p, 620, 250)
    color = theme.RED if dialog.engage else theme.YELLOW
    p.outline(box, color, p.px(2))
    title = "ENGAGE E-STOP?" if dialog.engage else "RELEASE E-STOP?"
    body = ("Cancels every open order, closes the position and halts trading, through Nautilus' RiskEngine."
            if dialog.engage else "Trading returns to ACTIVE. The crew may raise intents again.")
    p.label("estop:title", title, box.center_x, box.top - p.px(50), size=theme.SIZE_DISPLAY, bold=True, color=color,
            anchor_x="center")
    p.label("estop:body", body, box.left + p.px(30), box.top - p.px(80), size=theme.SIZE_BODY,
            width=box.width - p.px(60), anchor_y="top", color=theme.TEXT_SECONDARY)
    button_w, button_h = p.px(220), p.px(48)
    p.button("estop:confirm", Rect(box.center_x - button_w - p.px(10), box.bottom + p.px(24), button_w, button_h),
             "CONFIRM [Space]", on_confirm, color=color, filled=True)
    p.button("estop:cancel", Rect(box.center_x + p.px(10), box.bottom + p.px(24), button_w, button_h),
             "CANCEL [Esc]", on_cancel, color=theme.TEXT_SECONDARY)


def draw_modify_editor(p: Painter, editor: ModifyEditor, *, on_send: Callable[[], None],
                       on_cancel: Callable[[], None], on_focus: Callable[[int], None],
                       on_style: Callable[[str], None]) -> None:
    box = _modal(p, 700, 380)
    p.outline(box, theme.CYAN, p.px(2))
    p.label("modify:title", f"MODIFY · {editor.title}"[:60], box.left + p.px(28), box.top - p.px(42),
            size=theme.SIZE_TITLE, bold=True, color=theme.CYAN)
    y = box.top - p.px(100)
    for index, (name, value) in enumerate((("QUANTITY", editor.quantity), ("PRICE", editor.price or "none"))):
        field_rect = Rect(box.left + p.px(180), y - p.px(12) - index * p.px(56), p.px(260), p.px(40))
        p.label(f"modify:label{index}", name, box.left + p.px(28), field_rect.center_y, size=theme.SIZE_BODY,
                color=theme.TEXT_MUTED, anchor_y="center")
        focused = editor.focus == index
        p.button(f"modify:field{index}", field_rect, value + ("▏" if focused else ""),
                 partial(on_focus, index), color=theme.CYAN if focused else theme.TEXT_SECONDARY,
                 size=theme.SIZE_TITLE)
    style_y = y - p.px(140)
    p.label("modify:stylelabel", "STYLE", box.left + p.px(28), style_y + p.px(18), size=theme.SIZE_BODY,
            color=theme.TEXT_MUTED, anchor_y="center")
    style_w = (box.width - p.px(180) - p.px(28) - 5 * p.px(6)) / 6
    for index, style in enumerate(STYLES):
        p.button(f"modify:style{style}", Rect(box.left + p.px(180) + index * (style_w + p.px(6)), style_y, style_w,
                                              p.px(36)),
                 style.replace("TRAILING_STOP", "TRAIL"), partial(on_style, style), color=theme.CYAN,
                 active=editor.style == style, size=theme.SIZE_SMALL)
    if editor.error:
        p.label("modify:error", editor.error, box.left + p.px(28), box.bottom + p.px(88), size=theme.SIZE_BODY,
                color=theme.RED)
    p.label("modify:keys", "[Tab] next field  [←/→] style  [Enter] send  [Esc] cancel", box.left + p.px(28),
            box.bottom + p.px(24), size=theme.SIZE_SMALL, color=theme.TEXT_MUTED)
    p.button("modify:send", Rect(box.right - p.px(330), box.bottom + p.px(16), p.px(150), p.px(44)), "SEND",
             on_send, color=theme.CYAN, filled=True)
    p.button("modify:cancel", Rect(box.right - p.px(170), box.bottom + p.px(16), p.px(150), p.px(44)), "CANCEL",
             on_cancel, color=theme.TEXT_SECONDARY)


def draw_toasts(p: Painter, model: BridgeModel) -> None:
    body = p.layout.body
    for index, toast in enumerate(reversed(model.toasts)):
        rect = Rect(body.left + p.px(16), body.bottom + p.px(40) + index * p.px(40), p.px(620), p.px(32))
        color = theme.GREEN if toast.good else theme.RED
        p.rect(rect, theme.with_alpha(theme.BG_ELEVATED, 235))
        p.rect(Rect(rect.left, rect.bottom, p.px(4), rect.height), color)
        p.label(f"toast{index}", toast.text[:80], rect.left + p.px(14), rect.center_y, size=theme.SIZE_SMALL,
                color=color, anchor_y="center")


# Every key the bridge takes and what it does: the help overlay shows exactly this list (docs/bridge.md too).
KEYS_HELP: tuple[tuple[str, str], ...] = (
    ("A  R  M", "approve, reject or modify the top card"),
    ("Space", "E-STOP, confirmed by Space or Enter; when engaged, RELEASE"),
    ("1  2  3  4", "drawers: orders, research, memory, hull integrity"),
    ("Esc", "close a drawer, a dialog or this help"),
    ("F11", "full screen on or off"),
    ("?", "this help, on or off"),
    ("in MODIFY", "type digits and .; Tab: quantity / price; ← →: style; Enter sends"),
    ("in a replay", "Space: pause / play; ← →: step; [ ]: slower / faster"),
)


def draw_help(p: Painter, *, on_close: Callable[[], None]) -> None:
    box = _modal(p, 1140, 120 + 44 * len(KEYS_HELP))
    p.outline(box, theme.CYAN, p.px(2))
    p.label("help:title", "KEYS", box.left + p.px(30), box.top - p.px(48), size=theme.SIZE_TITLE, bold=True,
            color=theme.CYAN)
    y = box.top - p.px(96)
    for index, (keys, action) in enumerate(KEYS_HELP):
        p.label(f"help:key{index}", keys, box.left + p.px(30), y, size=theme.SIZE_BODY, bold=True, mono=True)
        p.label(f"help:action{index}", p.fit(action, box.width - p.px(300), theme.SIZE_BODY), box.left + p.px(250),
                y, size=theme.SIZE_BODY, color=theme.TEXT_SECONDARY)
        y -= p.px(44)
    p.button("help:close", Rect(box.right - p.px(200), box.top - p.px(66), p.px(170), p.px(44)), "CLOSE [Esc]",
             on_close, color=theme.TEXT_SECONDARY, size=theme.SIZE_SMALL)
