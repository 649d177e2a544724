"""Immediate-mode drawing for the panels: flat shapes, pooled text, and buttons that are clickable because they
were drawn this frame.

Each frame the panels describe what they show; nothing keeps widget objects between frames except the text pool,
which reuses pyglet layouts (re-laid out only when a string actually changes) and draws each layer in one batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import arcade
import pyglet

from sextant.bridge import theme
from sextant.bridge.layout import Layout, Rect
from sextant.bridge.render.gl import GpuLayers


class TextLayer:
    """Texts drawn together, over everything drawn before the layer's `draw()`."""

    def __init__(self) -> None:
        self._batch = pyglet.graphics.Batch()
        self._texts: dict[str, arcade.Text] = {}
        self._params: dict[str, tuple] = {}
        self._used: set[str] = set()

    def put(self, key: str, text: str, x: float, y: float, *, size: float, color: theme.Color = theme.TEXT,
            mono: bool = False, bold: bool = False, anchor_x: str = "left", anchor_y: str = "baseline",
            width: float | None = None) -> float:
        """Show `text` this frame under a stable `key`; returns its width in pixels. `width` wraps it."""
        font = theme.FONT_MONO if mono else theme.FONT_SANS
        params = (text, round(x, 1), round(y, 1), round(size, 2), color, font, bold, anchor_x, anchor_y,
                  None if width is None else int(width))
        self._used.add(key)
        current = self._texts.get(key)
        if current is not None and self._params[key] == params:
            current.visible = True
            return float(current.content_width)
        if current is not None and self._params[key][3:] == params[3:]:  # same style: move or re-text it
            if current.text != text:
                current.text = text
            current.position = (params[1], params[2])
            current.visible = True
            self._params[key] = params
            return float(current.content_width)
        if current is not None:
            current.visible = False
            current._label.delete()  # free its vertices in the batch before replacing it
        self._texts[key] = arcade.Text(text, params[1], params[2], color, size, width=params[9],
                                       multiline=width is not None, font_name=font, bold=bold, anchor_x=anchor_x,
                                       anchor_y=anchor_y, batch=self._batch)
        self._params[key] = params
        return float(self._texts[key].content_width)

    def draw(self) -> None:
        for key, text in self._texts.items():
            if key not in self._used and text.visible:
                text.visible = False
        self._used.clear()
        self._batch.draw()

    def shown(self) -> dict[str, str]:
        """The texts the last drawn frame showed, by key (what a test reads back of a frame)."""
        return {key: text.text for key, text in self._texts.items() if text.visible}

    def content_height(self, key: str) -> float:
        text = self._texts.get(key)
        return float(text.content_height) if text is not None else 0.0


@dataclass(slots=True)
class Button:
    key: str
    rect: Rect
    action: Callable[[], None]
    enabled: bool = True


@dataclass(slots=True)
class Painter:
    """What a panel draws with: the layout, two text layers (base and overlay) and this frame's buttons."""

    layout: Layout
    text: TextLayer
    overlay_text: TextLayer
    gpu: GpuLayers
    mouse: tuple[float, float] = (-1.0, -1.0)
    buttons: list[Button] = field(default_factory=list)
    overlay: bool = False  # while True, texts and buttons go to the overlay (drawers, dialogs)

    def px(self, value: float) -> float:
        return self.layout.px(value)

    def font(self, size: float) -> float:
        return self.layout.font(size)

    def tx(self, value: float) -> float:
        return self.layout.tx(value)

    def fit(self, text: str, width: float, size: float, mono: bool = False) -> str:
        """`text`, cut with an ellipsis to about `width` pixels at `size` (average glyph widths of DejaVu)."""
        per_char = self.font(size) * (0.61 if mono else 0.58)
        limit = max(2, int(width / per_char))
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def rect(self, rect: Rect, color: theme.Color) -> None:
        if rect.width > 0 and rect.height > 0:
            self.gpu.queue_rect(rect.left, rect.bottom, rect.width, rect.height, color)

    def outline(self, rect: Rect, color: theme.Color, width: float = 1.0) -> None:
        if rect.width > 0 and rect.height > 0:
            queue = self.gpu.queue_rect
            queue(rect.left, rect.bottom, rect.width, width, color)
            queue(rect.left, rect.top - width, rect.width, width, color)
            queue(rect.left, rect.bottom + width, width, rect.height - 2 * width, color)
            queue(rect.right - width, rect.bottom + width, width, rect.height - 2 * width, color)

    def vline(self, x: float, y0: float, y1: float, color: theme.Color, width: float = 1.0) -> None:
        self.gpu.queue_rect(x - width / 2, min(y0, y1), width, abs(y1 - y0), color)

    def label(self, key: str, text: str, x: float, y: float, *, size: float = theme.SIZE_BODY,
              color: theme.Color = theme.TEXT, mono: bool = False, bold: bool = False, anchor_x: str = "left",
              anchor_y: str = "baseline", width: float | None = None) -> float:
        """Show a text this frame; returns its width in pixels, so a row can be laid out by what it holds."""
        layer = self.overlay_text if self.overlay else self.text
        return layer.put(key, text, x, y, size=self.font(size), color=color, mono=mono, bold=bold, anchor_x=anchor_x,
                  anchor_y=anchor_y, width=width)

    def hovered(self, rect: Rect) -> bool:
        return rect.contains(*self.mouse)

    def button(self, key: str, rect: Rect, label: str, action: Callable[[], None], *, color: theme.Color = theme.CYAN,
               filled: bool = False, enabled: bool = True, active: bool = False, size: float = theme.SIZE_BODY) -> None:
        """A button, clickable this frame. `filled` for the primary action; `active` for a selected option."""
        hover = enabled and self.hovered(rect)
        if active:
            self.rect(rect, theme.with_alpha(color, 205))
            text_color = theme.BG_DEEP
        elif filled:
            self.rect(rect, theme.with_alpha(color, 235 if hover else 205) if enabled else theme.BG_ELEVATED)
            text_color = theme.BG_DEEP if enabled else theme.TEXT_DISABLED
        else:
            self.rect(rect, theme.with_alpha(color, 48) if hover else theme.BG_ELEVATED)
            self.outline(rect, color if enabled else theme.BORDER, self.px(1.5))
            text_color = color if enabled else theme.TEXT_DISABLED
        self.label(f"button:{key}", label, rect.center_x, rect.center_y, size=size, color=text_color, bold=True,
                   anchor_x="center", anchor_y="center")
        self.buttons.append(Button(key, rect, action, enabled))

    def click(self, x: float, y: float) -> str | None:
        """Run the topmost enabled button under (x, y); its key, or None."""
        for button in reversed(self.buttons):
            if button.rect.contains(x, y):
                if button.enabled:
                    button.action()
                    return button.key
                return None
        return None

    def button_rect(self, key: str) -> Rect | None:
        for button in self.buttons:
            if button.key == key:
                return button.rect
        return None
