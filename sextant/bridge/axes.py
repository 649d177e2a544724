"""Axis ticks at round values, as a trader reads a chart: prices on steps of 1, 2 or 5 times a power of ten, times
on whole seconds and minutes. Pure functions of the range and the room, so the chart's axes are tested without
a frame."""

from __future__ import annotations

import math

TIME_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 21_600, 43_200, 86_400)


def nice_step(span: float, max_ticks: int) -> float:
    """The smallest step of 1, 2 or 5 × 10^k that puts at most `max_ticks` ticks on `span`."""
    if not math.isfinite(span) or span <= 0 or max_ticks < 1:
        return 1.0
    rough = span / max_ticks
    power = 10.0 ** math.floor(math.log10(rough))
    for multiple in (1.0, 2.0, 5.0, 10.0):
        if multiple * power >= rough * (1 - 1e-9):
            return multiple * power
    return 10.0 * power


def price_ticks(low: float, high: float, max_ticks: int) -> tuple[list[float], float]:
    """Round prices within [low, high] (at most `max_ticks`), and their step."""
    step = nice_step(high - low, max_ticks)
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)], step


def price_decimals(step: float) -> int:
    """Enough decimals to tell two ticks `step` apart, no more."""
    return max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 2


def format_price(value: float, step: float) -> str:
    return f"{value:,.{price_decimals(step)}f}"


def time_step_s(span_s: float, max_ticks: int) -> int:
    """A whole number of seconds or minutes between time ticks: at most `max_ticks` on `span_s`."""
    for step in TIME_STEPS_S:
        if span_s / step <= max_ticks:
            return step
    return TIME_STEPS_S[-1]


def time_ticks_ago(span_s: float, max_ticks: int) -> list[int]:
    """Seconds before now at round steps, oldest first, within the span and not at now itself."""
    step = time_step_s(span_s, max_ticks)
    return [ago for ago in range(int(span_s // step) * step, 0, -step)]


def format_ago(seconds: int) -> str:
    """-45s, -2m, -1m30s, -1h."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"-{seconds // 3600}h"
    if seconds >= 60:
        minutes, rest = divmod(seconds, 60)
        return f"-{minutes}m{rest:02d}s" if rest else f"-{minutes}m"
    return f"-{seconds}s"
