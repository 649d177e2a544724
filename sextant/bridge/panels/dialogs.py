"""Modal dialogs: the E-STOP confirmation and the MODIFY editor (quantity, price, style), plus toasts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from sextant.bridge import theme
from sextant.bridge.draw import Painter
from sextant.bridge.layout import Rect
from sextant.bridge.model import BridgeModel

STYLES = ("MARKET", "LIMIT", "TRAILING_STOP", "TWAP", "IOC", "FOK")


@dataclass(slots=True)
class EStopConfirm:
    engage: bool  # False: the dialog releases an engaged E-stop


PRICED_STYLES = ("LIMIT", "IOC", "FOK")
MAX_OFFSET_BPS = 1000.0


@dataclass(slots=True)
class ModifyEditor:
    """What the captain is typing. Local until SEND: the engine gets one Modify command with the changed fields.
    The fields follow the style: a limit price for LIMIT, IOC and FOK, the trailing offset in basis points for a
    trailing stop, the quantity alone for MARKET and TWAP."""

    intent_id: str
    title: str
    quantity: str
    price: str
    style: str
    offset_bps: str = ""
    original: tuple[str, str, str, str] = ("", "", "", "")  # quantity, price, style, offset_bps
    focus: int = 0  # an index into fields()
    error: str = ""

    def fields(self) -> list[tuple[str, str]]:
        """(label, attribute) of each field this style has."""
        out = [("QUANTITY", "quantity")]
        if self.style in PRICED_STYLES:
            out.append(("LIMIT PRICE", "price"))
        elif self.style == "TRAILING_STOP":
            out.append(("OFFSET BPS", "offset_bps"))
        return out

    def type_char(self, char: str) -> None:
        if char in "0123456789." and len(self._current()) < 16:
            self._set(self._current() + char)
            self.error = ""

    def backspace(self) -> None:
        self._set(self._current()[:-1])

    def next_field(self) -> None:
        self.focus = (self.focus + 1) % len(self.fields())

    def cycle_style(self, step: int) -> None:
        index = STYLES.index(self.style) if self.style in STYLES else 0
        self.set_style(STYLES[(index + step) % len(STYLES)])

    def set_style(self, style: str) -> None:
        self.style = style
        self.focus = min(self.focus, len(self.fields()) - 1)

    def _current(self) -> str:
        return str(getattr(self, self.fields()[self.focus][1]))

    def _set(self, value: str) -> None:
        setattr(self, self.fields()[self.focus][1], value)

    def changes(self) -> dict[str, object]:
        """The fields that differ from the intent, parsed; raises ValueError with a message for bad input."""
        out: dict[str, object] = {}
        if self.quantity != self.original[0]:
            quantity = _number(self.quantity, "quantity")
            if not quantity > 0:
                raise ValueError("quantity must be a number above 0")
            out["quantity"] = quantity
        if self.style in PRICED_STYLES and self.price and self.price != self.original[1]:
            price = _number(self.price, "price")
            if not price > 0:
                raise ValueError("price must be above 0")
            out["price"] = price
        if self.style == "TRAILING_STOP" and self.offset_bps and self.offset_bps != self.original[3]:
            offset = _number(self.offset_bps, "offset")
            if not 0 < offset <= MAX_OFFSET_BPS:
                raise ValueError(f"the offset must be above 0 and at most {MAX_OFFSET_BPS:g} bps")
            out["trailing_offset_bps"] = offset
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
    p.label("modify:title", p.fit(f"MODIFY · {editor.title}", box.width - p.px(56), theme.SIZE_TITLE, bold=True),
            box.left + p.px(28), box.top - p.px(42),
            size=theme.SIZE_TITLE, bold=True, color=theme.CYAN)
    y = box.top - p.px(100)
    fields = editor.fields()
    for index, (name, attribute) in enumerate(fields):
        field_rect = Rect(box.left + p.px(200), y - p.px(12) - index * p.px(56), p.px(260), p.px(40))
        p.label(f"modify:label{index}", name, box.left + p.px(28), field_rect.center_y, size=theme.SIZE_BODY,
                color=theme.TEXT_MUTED, anchor_y="center")
        focused = editor.focus == index
        p.button(f"modify:field{index}", field_rect, str(getattr(editor, attribute)) + ("▏" if focused else ""),
                 partial(on_focus, index), color=theme.CYAN if focused else theme.TEXT_SECONDARY,
                 size=theme.SIZE_TITLE)
    if len(fields) == 1:
        p.label("modify:noprice", f"a {editor.style.replace('_', ' ').lower()} order takes no price",
                box.left + p.px(200), y - p.px(12) - p.px(56) + p.px(20), size=theme.SIZE_SMALL,
                color=theme.TEXT_MUTED, anchor_y="center")
    style_y = y - p.px(140)
    p.label("modify:stylelabel", "STYLE", box.left + p.px(28), style_y + p.px(18), size=theme.SIZE_BODY,
            color=theme.TEXT_MUTED, anchor_y="center")
    style_w = (box.width - p.px(200) - p.px(28) - 5 * p.px(6)) / 6
    for index, style in enumerate(STYLES):
        p.button(f"modify:style{style}", Rect(box.left + p.px(200) + index * (style_w + p.px(6)), style_y, style_w,
                                              p.px(36)),
                 p.fit(style.replace("TRAILING_STOP", "TRAIL"), style_w - p.px(6), theme.SIZE_SMALL, bold=True),
                 partial(on_style, style), color=theme.CYAN,
                 active=editor.style == style, size=theme.SIZE_SMALL)
    if editor.error:
        p.label("modify:error", p.fit(editor.error, box.width - p.px(56), theme.SIZE_BODY), box.left + p.px(28),
                box.bottom + p.px(108), size=theme.SIZE_BODY, color=theme.RED)
    p.label("modify:keys", p.fit("[Tab] next field  [←/→] style  [Enter] send  [Esc] cancel", box.width - p.px(56),
                                 theme.SIZE_SMALL), box.left + p.px(28), box.bottom + p.px(76), size=theme.SIZE_SMALL,
            color=theme.TEXT_MUTED)
    p.button("modify:send", Rect(box.right - p.px(330), box.bottom + p.px(16), p.px(150), p.px(44)), "SEND",
             on_send, color=theme.CYAN, filled=True)
    p.button("modify:cancel", Rect(box.right - p.px(170), box.bottom + p.px(16), p.px(150), p.px(44)), "CANCEL",
             on_cancel, color=theme.TEXT_SECONDARY)


TOAST_W = 640


def draw_toasts(p: Painter, model: BridgeModel, area: Rect) -> None:
    """The latest toasts at the top left of `area` (the chart: clear of its axes and of the cards), newest on top,
    each on as many lines as its words need (two at most)."""
    width = min(p.px(TOAST_W) * max(1.0, p.layout.text_scale / p.layout.scale), area.width - p.px(32))
    size = theme.SIZE_SMALL
    line = p.font(size) * 1.45
    top = area.top - p.px(48)
    for index, toast in enumerate(reversed(model.toasts)):
        first, rest = _split_line(p, toast.text, width - p.px(24), size)
        lines = [first] + ([p.fit(rest, width - p.px(24), size)] if rest else [])
        height = line * len(lines) + p.px(12)
        rect = Rect(area.left + p.px(16), top - height, width, height)
        if rect.bottom < area.bottom:
            break
        color = theme.GREEN if toast.good else theme.RED
        p.rect(rect, theme.with_alpha(theme.BG_ELEVATED, 240))
        p.rect(Rect(rect.left, rect.bottom, p.px(4), rect.height), color)
        for number, text in enumerate(lines):
            p.label(f"toast{index}:{number}", text, rect.left + p.px(14), rect.top - p.px(6) - line * (number + 0.75),
                    size=size, color=color)
        top = rect.bottom - p.px(6)


def _split_line(p: Painter, text: str, width: float, size: float) -> tuple[str, str]:
    """The words of `text` that fit on one line of `width`, and the rest."""
    if p.measure(text, size) <= width:
        return text, ""
    words = text.split(" ")
    for count in range(len(words) - 1, 0, -1):
        first = " ".join(words[:count])
        if p.measure(first, size) <= width:
            return first, " ".join(words[count:])
    return p.fit(text, width, size), ""


# Every key the bridge takes and what it does: the help overlay shows exactly this list (docs/bridge.md too).
KEYS_HELP: tuple[tuple[str, str], ...] = (
    ("A  R  M", "approve, reject or modify the top card"),
    ("Space", "E-STOP, confirmed by Space or Enter; when engaged, RELEASE"),
    ("1  2  3  4", "drawers: orders, research, memory, hull integrity"),
    ("Tab  Shift+Tab", "next / previous instrument; PgDn / PgUp too; or click its fleet cell"),
    ("F1 … F8", "show instrument 1 … 8 of the fleet"),
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
