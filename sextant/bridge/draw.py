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

_ADVANCES: dict[tuple[str, float, bool], dict[str, float]] = {}


def text_width(text: str, font_size: float, *, mono: bool = False, bold: bool = False) -> float:
    """How wide, in pixels, `text` is drawn at `font_size` (what TextLayer passes arcade), from the font's glyph
    advances, cached per font and size."""
    font_name = theme.FONT_MONO if mono else theme.FONT_SANS
    key = (font_name, round(font_size, 2), bold)
    advances = _ADVANCES.get(key)
    if advances is None:
        advances = _ADVANCES[key] = {}
    missing = [c for c in set(text) if c not in advances]
    if missing:
        font = pyglet.font.load(font_name, font_size, weight="bold" if bold else "normal")
        glyphs, _ = font.get_glyphs("".join(missing))
        for character, glyph in zip(missing, glyphs, strict=False):
            advances[character] = float(glyph.advance)
    return sum(advances.get(c, 0.0) for c in text)


Region = tuple[str, Rect]  # a panel: its name and where it is


@dataclass(frozen=True, slots=True)
class TextBox:
    key: str
    text: str
    box: Rect
    region: str
    region_rect: Rect | None


class TextLayer:
    """Texts drawn together, over everything drawn before the layer's `draw()`."""

    def __init__(self) -> None:
        self._batch = pyglet.graphics.Batch()
        self._texts: dict[str, arcade.Text] = {}
        self._params: dict[str, tuple] = {}
        self._used: set[str] = set()
        self._regions: dict[str, Region] = {}  # the panel each text was drawn for (the layout test checks it)

    def put(self, key: str, text: str, x: float, y: float, *, size: float, color: theme.Color = theme.TEXT,
            mono: bool = False, bold: bool = False, anchor_x: str = "left", anchor_y: str = "baseline",
            width: float | None = None, region: Region | None = None) -> float:
        """Show `text` this frame under a stable `key`; returns its width in pixels. `width` wraps it."""
        font = theme.FONT_MONO if mono else theme.FONT_SANS
        params = (text, round(x, 1), round(y, 1), round(size, 2), color, font, bold, anchor_x, anchor_y,
                  None if width is None else int(width))
        self._used.add(key)
        if region is not None:
            self._regions[key] = region
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

    def boxes(self) -> list[TextBox]:
        """Each text the last drawn frame showed, with the box its glyphs take (the line's leading trimmed) and
        the panel it was drawn for."""
        out = []
        for key, text in self._texts.items():
            if not text.visible or not text.text.strip():
                continue
            leading = (text.top - text.bottom) * 0.12
            name, rect = self._regions.get(key, ("window", None))
            out.append(TextBox(key, text.text, Rect(text.left, text.bottom + leading, text.right - text.left,
                                                    max(0.0, text.top - text.bottom - 2 * leading)), name, rect))
        return out

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
    region: Region | None = None  # the panel being drawn: each text is meant to stay inside it

    def px(self, value: float) -> float:
        return self.layout.px(value)

    def font(self, size: float) -> float:
        return self.layout.font(size)

    def tx(self, value: float) -> float:
        return self.layout.tx(value)

    def measure(self, text: str, size: float, *, mono: bool = False, bold: bool = False) -> float:
        """The width `text` takes at `size` (1080p), in pixels: the font's own glyph advances."""
        return text_width(text, self.font(size), mono=mono, bold=bold)

    def fit(self, text: str, width: float, size: float, mono: bool = False, bold: bool = False) -> str:
        """`text`, cut at a word where it can (else mid-word) with an ellipsis, to fit `width` pixels at `size`."""
        if self.measure(text, size, mono=mono, bold=bold) <= width:
            return text
        low, high = 0, len(text)  # the longest prefix that fits with its ellipsis
        while low < high:
            middle = (low + high + 1) // 2
            if self.measure(text[:middle].rstrip() + "…", size, mono=mono, bold=bold) <= width:
                low = middle
            else:
                high = middle - 1
        cut = text[:low]
        space = cut.rfind(" ")
        if space >= max(1, low * 2 // 3):  # a word boundary not far back reads better than a cut word
            cut = cut[:space]
        return cut.rstrip(" ·,;:-") + "…" if cut else "…"

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
                         anchor_y=anchor_y, width=width, region=self.region)

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
        panel, self.region = self.region, (f"button {key}", rect)  # its label must stay inside the button
        self.label(f"button:{key}", label, rect.center_x, rect.center_y, size=size, color=text_color, bold=True,
                   anchor_x="center", anchor_y="center")
        self.region = panel
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
