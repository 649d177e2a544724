"""Where everything goes, from the window size alone. One layout from 1280×720 to 4K: every length is a 1080p
length times `scale`, so the proportions stay and text stays legible at 720p."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rect:
    """Pixels, origin bottom-left (GL and arcade convention)."""

    left: float
    bottom: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def top(self) -> float:
        return self.bottom + self.height

    @property
    def center_x(self) -> float:
        return self.left + self.width / 2

    @property
    def center_y(self) -> float:
        return self.bottom + self.height / 2

    def contains(self, x: float, y: float) -> bool:
        return self.left <= x <= self.right and self.bottom <= y <= self.top

    def inset(self, dx: float, dy: float | None = None) -> Rect:
        dy = dx if dy is None else dy
        return Rect(self.left + dx, self.bottom + dy, max(0.0, self.width - 2 * dx), max(0.0, self.height - 2 * dy))

    def shifted(self, dx: float, dy: float = 0.0) -> Rect:
        return Rect(self.left + dx, self.bottom + dy, self.width, self.height)

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.left, self.bottom, self.width, self.height)


HEADER_H = 56
CREW_BAR_H = 104
CARD_COLUMN_W = 420
DRAWER_W = 640
CARD_H = 292
MIN_TEXT_SCALE = 0.75  # text shrinks less than the layout (`Layout.text_scale`)
CARD_GAP = 12
FLEET_H = 78  # the fleet strip: three rows of text, so it grows with the text (`text_scale`), not the layout


@dataclass(frozen=True, slots=True)
class Layout:
    width: int
    height: int
    scale: float
    header: Rect
    crew_bar: Rect
    body: Rect  # between the bars (and under the fleet strip)
    cards: Rect  # the right column, used only while a card is shown (95 % silent)
    drawer: Rect
    fleet: Rect | None = None  # under the header, while the engine trades two instruments or more

    @classmethod
    def for_size(cls, width: int, height: int, *, fleet: bool = False) -> Layout:
        """`fleet`: make room for the fleet strip under the header; the body below it is shorter by as much,
        and everything in the body (chart, cards, drawers) keeps its place relative to it."""
        scale = min(width / 1920, height / 1080)
        header_h, crew_h = HEADER_H * scale, CREW_BAR_H * scale
        fleet_h = FLEET_H * max(scale, MIN_TEXT_SCALE) if fleet else 0.0
        header = Rect(0, height - header_h, width, header_h)
        fleet_strip = Rect(0, header.bottom - fleet_h, width, fleet_h) if fleet else None
        crew_bar = Rect(0, 0, width, crew_h)
        body = Rect(0, crew_h, width, height - header_h - fleet_h - crew_h)
        cards_w = max(CARD_COLUMN_W * scale, width * 0.27)  # text shrinks less than the layout (`font`)
        cards = Rect(width - cards_w, body.bottom, cards_w, body.height)
        drawer_w = min(DRAWER_W * max(scale, 0.75), width * 0.6)
        drawer = Rect(width - drawer_w, body.bottom, drawer_w, body.height)
        return cls(width, height, scale, header, crew_bar, body, cards, drawer, fleet_strip)

    def px(self, length_at_1080p: float) -> float:
        return length_at_1080p * self.scale

    @property
    def text_scale(self) -> float:
        # Text shrinks less than the rest: at 720p a 14 px body font would be 9 px, too small to read.
        return max(self.scale, MIN_TEXT_SCALE)

    def font(self, size_at_1080p: float) -> float:
        return size_at_1080p * self.text_scale

    def tx(self, length_at_1080p: float) -> float:
        """A length that sits between lines of text: it scales with the text, not the layout."""
        return length_at_1080p * self.text_scale

    def chart(self, cards_shown: bool) -> Rect:
        if cards_shown:
            return Rect(self.body.left, self.body.bottom, self.body.width - self.cards.width, self.body.height)
        return self.body
