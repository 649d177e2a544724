"""Order sizes on an instrument the crew does not know the contracts of. No Nautilus here: the engine's settings
import it, and `sextant run` must start (and take a Ctrl-C) before Nautilus is loaded."""

from __future__ import annotations


def base_size_worth(notional: float, price: float, lot: float, multiplier: float) -> float:
    """The order size worth `notional` at `price`, in whole lots, at least one: how the crew and research size an
    instrument whose contracts they do not know."""
    return max(1, round(notional / (price * multiplier * lot))) * lot
