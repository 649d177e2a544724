"""The risk field: a log barrier, monotone in each |xᵢ|, infinite at the limit, with an exact gradient."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sextant.risk.field import DIMENSIONS, gradient, potentials, size_factor

LIMITS = np.array([10.0, 1.0, 1.0, 25.0, 0.5, 5.0, 0.2])
ALL = np.ones(DIMENSIONS, np.uint8)

ratios = st.lists(st.floats(min_value=-0.95, max_value=0.95), min_size=DIMENSIONS, max_size=DIMENSIONS)


def total(x: np.ndarray, applicable: np.ndarray = ALL) -> float:
    return potentials(x, LIMITS, applicable, np.empty(DIMENSIONS))


@settings(deadline=None)  # the first example pays numba's compile (or cache load)
@given(ratios)
def test_the_potential_is_the_log_barrier(r: list[float]) -> None:
    x = np.array(r) * LIMITS
    expected = -sum(math.log(1 - abs(v) / limit) for v, limit in zip(x, LIMITS, strict=True))
    assert math.isclose(total(x), expected, rel_tol=1e-12, abs_tol=1e-12)


@settings(deadline=None)
@given(ratios, st.integers(0, DIMENSIONS - 1), st.floats(min_value=1e-6, max_value=0.04))
def test_monotone_in_each_absolute_reading(r: list[float], dim: int, step: float) -> None:
    x = np.array(r) * LIMITS
    further = x.copy()
    further[dim] += math.copysign(step * LIMITS[dim], x[dim] if x[dim] != 0 else 1.0)
    assert total(further) >= total(x)


@settings(deadline=None)
@given(ratios, st.integers(0, DIMENSIONS - 1), st.floats(min_value=1.0, max_value=3.0))
def test_infinite_at_and_past_the_limit(r: list[float], dim: int, beyond: float) -> None:
    x = np.array(r) * LIMITS
    x[dim] = -beyond * LIMITS[dim] if dim % 2 else beyond * LIMITS[dim]
    assert total(x) == math.inf
    assert size_factor(x, LIMITS, ALL, np.zeros(DIMENSIONS)) == 0.0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(min_value=-0.9, max_value=0.9).filter(lambda v: abs(v) > 1e-3), min_size=DIMENSIONS,
                max_size=DIMENSIONS))
def test_the_gradient_matches_finite_differences(r: list[float]) -> None:
    x = np.array(r) * LIMITS
    analytic = np.empty(DIMENSIONS)
    gradient(x, LIMITS, ALL, analytic)
    for i in range(DIMENSIONS):
        h = 1e-6 * LIMITS[i]
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        numeric = (total(up) - total(down)) / (2 * h)
        assert abs(analytic[i] - numeric) <= 1e-6 * max(1.0, abs(numeric))


def test_dimensions_that_do_not_apply_contribute_nothing() -> None:
    x = np.array([5.0, 0.99, 0.99, 0.0, 0.0, 0.0, 0.0])
    linear_perp = np.array([1, 0, 0, 1, 1, 1, 1], np.uint8)
    assert math.isclose(total(x, linear_perp), -math.log(0.5))
    g = np.empty(DIMENSIONS)
    gradient(x, LIMITS, linear_perp, g)
    assert g[1] == 0.0 and g[2] == 0.0


def test_sizes_shrink_with_the_field_and_only_along_risky_directions() -> None:
    calm, strained = np.zeros(DIMENSIONS), np.array([6.0, 0, 0, 0, 0, 0, 0])
    more_delta, less_delta = np.array([1.0, 0, 0, 0, 0, 0, 0]), np.array([-1.0, 0, 0, 0, 0, 0, 0])
    assert size_factor(calm, LIMITS, ALL, more_delta) == 1.0
    adding = size_factor(strained, LIMITS, ALL, more_delta)
    reducing = size_factor(strained, LIMITS, ALL, less_delta)
    assert 0 < adding < math.exp(-total(strained)) < 1.0
    assert reducing == 1.0  # an exit or a hedge is never shrunk


@settings(deadline=None)
@given(ratios, st.integers(0, DIMENSIONS - 1), st.floats(min_value=1.0, max_value=3.0),
       st.floats(min_value=1e-3, max_value=2.0))
def test_past_a_limit_a_change_that_relieves_it_goes_through_whole_and_any_other_not_at_all(
        r: list[float], dim: int, beyond: float, step: float) -> None:
    """An exit or a hedge is never blocked by the strain it relieves, even at U = ∞."""
    x = np.array(r) * LIMITS
    x[dim] = -beyond * LIMITS[dim] if dim % 2 else beyond * LIMITS[dim]
    toward_zero, away = np.zeros(DIMENSIONS), np.zeros(DIMENSIONS)
    toward_zero[dim] = -math.copysign(step * LIMITS[dim], x[dim])
    away[dim] = -toward_zero[dim]
    assert size_factor(x, LIMITS, ALL, toward_zero) == 1.0
    assert size_factor(x, LIMITS, ALL, away) == 0.0
