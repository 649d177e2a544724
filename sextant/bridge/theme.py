"""The bridge's look: the original's palette (docs/bridge.md#the-look), fonts and sizes.

Sizes are at 1080p; `Layout.scale` multiplies them so one layout runs from 1280×720 to 4K.
"""

from __future__ import annotations

Color = tuple[int, int, int, int]


def hex_color(value: str, alpha: int = 255) -> Color:
    value = value.lstrip("#")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16), alpha)


def with_alpha(color: Color, alpha: int) -> Color:
    return (color[0], color[1], color[2], alpha)


def gl_color(color: Color) -> tuple[float, float, float, float]:
    return (color[0] / 255, color[1] / 255, color[2] / 255, color[3] / 255)


BG_DEEP = hex_color("#0f1117")
BG_BASE = hex_color("#15171f")
BG_SURFACE = hex_color("#1c1e28")
BG_ELEVATED = hex_color("#242632")
BORDER = hex_color("#323440")
CYAN = hex_color("#6bade8")
MAGENTA = hex_color("#d47b9a")
YELLOW = hex_color("#e8b85a")
GREEN = hex_color("#6ac48a")
RED = hex_color("#e86b6b")
TEXT = hex_color("#e8eaf0")
TEXT_SECONDARY = hex_color("#a8aab4")
TEXT_MUTED = hex_color("#767882")
TEXT_DISABLED = hex_color("#4e505a")
SEA_COOL = hex_color("#4a8be8")
SEA_WARM = hex_color("#e86b6b")
SEA_CURRENT = hex_color("#6bade8")
BACKDROP = hex_color("#0f1117", 0x80)

# Volatility temperature of the sea chart (docs/bridge.md#the-look): calm → storm.
HEAT_RAMP: tuple[Color, ...] = (hex_color("#0EA5E9"), hex_color("#10B981"), hex_color("#F59E0B"),
                                hex_color("#EF4444"))

# DejaVu ships with fonts-dejavu-core (a system dependency), so text renders the same on every machine.
FONT_SANS = "DejaVu Sans"
FONT_MONO = "DejaVu Sans Mono"

SIZE_SMALL = 11
SIZE_BODY = 14
SIZE_TITLE = 16
SIZE_DISPLAY = 22
SIZE_HERO = 32

# Hull gauge zones (docs/bridge.md#the-look): green below 0.6 of the limit, yellow to 0.8, red above.
ZONE_YELLOW = 0.6
ZONE_RED = 0.8


def zone_color(fraction: float) -> Color:
    if fraction >= ZONE_RED:
        return RED
    if fraction >= ZONE_YELLOW:
        return YELLOW
    return GREEN


def confidence_color(confidence: float) -> Color:
    if confidence > 0.7:
        return GREEN
    if confidence > 0.4:
        return YELLOW
    return RED


def side_color(side: str | None) -> Color:
    return GREEN if side == "BUY" else RED if side == "SELL" else CYAN
