"""Axis ticks at round values (sextant/bridge/axes.py): what a trader reads off a chart."""

from __future__ import annotations

import pytest

from sextant.bridge.axes import format_ago, format_price, nice_step, price_ticks, time_ticks_ago


@pytest.mark.parametrize(("span", "ticks", "step"), [(355.0, 5, 100.0), (20.5, 6, 5.0), (0.00086, 5, 0.0002),
                                                      (1.0, 1, 1.0), (0.0, 5, 1.0)])
def test_steps_are_one_two_or_five_times_a_power_of_ten(span: float, ticks: int, step: float) -> None:
    assert nice_step(span, ticks) == pytest.approx(step)


def test_price_ticks_are_round_and_inside_the_range() -> None:
    ticks, step = price_ticks(91_114.6, 91_437.1, 5)
    assert (ticks, step) == ([91_200.0, 91_300.0, 91_400.0], 100.0)
    assert [format_price(t, step) for t in ticks] == ["91,200", "91,300", "91,400"]


def test_an_fx_price_keeps_the_decimals_its_step_needs() -> None:
    ticks, step = price_ticks(1.08213, 1.08299, 5)
    assert [format_price(t, step) for t in ticks] == ["1.0822", "1.0824", "1.0826", "1.0828"]


def test_time_ticks_fall_on_whole_seconds_and_minutes_before_now() -> None:
    assert time_ticks_ago(120, 5) == [120, 90, 60, 30]
    assert [format_ago(s) for s in time_ticks_ago(300, 6)] == ["-5m", "-4m", "-3m", "-2m", "-1m"]
    assert [format_ago(s) for s in (45, 90, 3600)] == ["-45s", "-1m30s", "-1h"]
