"""The risk potential U(x) = −Σᵢ ln(1 − |xᵢ|/Lᵢ) and its analytic gradient, in numba.

Each dimension i has a reading xᵢ and a limit Lᵢ > 0. The potential is 0 at xᵢ = 0, grows without bound as |xᵢ|
approaches Lᵢ, and is +∞ at or past it: a barrier, not a penalty. ∂U/∂xᵢ = sign(xᵢ)/(Lᵢ − |xᵢ|) (0 at xᵢ = 0, by
the subgradient's midpoint). A dimension that does not apply (gamma and vega on a linear perpetual) has an
`applicable` flag of 0 and contributes nothing: it is reported as not applicable, never as a fake zero reading.

`size_factor` shrinks an intent along the field: exp(−U) for the hull as it is, times 1/(1 + D) where D is the
directional derivative of U along the change the intent would make. A change that does not raise U (D ≤ 0: an exit,
a hedge) keeps its full size: shrinking a reduction would leave the hull more strained, not less. At or past a
limit (U = ∞) a change goes through whole if it takes every reading at or past its limit back toward zero, and not
at all otherwise.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sextant.state.layout import HullDimension

DIMENSIONS = len(HullDimension)


@njit(cache=True, nogil=True)
def potentials(x: np.ndarray, limits: np.ndarray, applicable: np.ndarray, out: np.ndarray) -> float:
    """Each dimension's potential into `out`; returns the total (+inf when any applicable |x| ≥ L)."""
    total = 0.0
    for i in range(x.shape[0]):
        if not applicable[i]:
            out[i] = 0.0
            continue
        ratio = abs(x[i]) / limits[i]
        if ratio >= 1.0 or not math.isfinite(ratio):
            out[i] = math.inf
        else:
            out[i] = -math.log1p(-ratio)
        total += out[i]
    return total


@njit(cache=True, nogil=True)
def gradient(x: np.ndarray, limits: np.ndarray, applicable: np.ndarray, out: np.ndarray) -> None:
    """∂U/∂xᵢ into `out` (±inf at or past a limit, 0 where not applicable)."""
    for i in range(x.shape[0]):
        if not applicable[i] or x[i] == 0.0:
            out[i] = 0.0
            continue
        slack = limits[i] - abs(x[i])
        sign = 1.0 if x[i] > 0 else -1.0
        out[i] = sign * math.inf if slack <= 0.0 else sign / slack


@njit(cache=True, nogil=True)
def slope_along(x: np.ndarray, limits: np.ndarray, applicable: np.ndarray, change: np.ndarray) -> float:
    """U's directional derivative along `change` (Δx per unit size): below 0 the change relieves the field (an exit,
    a hedge). At or past a limit (U = ∞) it is −∞ when the change takes every reading at or past its limit back
    toward zero, and +∞ otherwise."""
    scratch = np.empty(x.shape[0])
    if not math.isfinite(potentials(x, limits, applicable, scratch)):
        for i in range(x.shape[0]):
            if applicable[i] and not abs(x[i]) < limits[i] and not x[i] * change[i] < 0.0:
                return math.inf
        return -math.inf
    gradient(x, limits, applicable, scratch)
    slope = 0.0
    for i in range(x.shape[0]):
        if applicable[i]:
            slope += scratch[i] * change[i]
    return slope


@njit(cache=True, nogil=True)
def size_factor(x: np.ndarray, limits: np.ndarray, applicable: np.ndarray, change: np.ndarray) -> float:
    """How much of an intent's size survives: falls with U and with U's slope along `change` (Δx per unit size);
    a change that relieves the field keeps its full size, also past a limit, so an exit or a hedge is never blocked
    by the very strain it relieves."""
    slope = slope_along(x, limits, applicable, change)
    if slope <= 0.0:
        return 1.0
    total = potentials(x, limits, applicable, np.empty(x.shape[0]))
    if not math.isfinite(total):
        return 0.0
    return math.exp(-total) / (1.0 + slope)
