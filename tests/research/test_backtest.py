"""The micro-backtests: one BacktestEngine a window, reused for every hypothesis without growing."""

from __future__ import annotations

import numpy as np

from sextant.research.backtest import WindowBacktester
from sextant.research.data import model_quotes


def test_a_reused_window_keeps_one_strategy_on_the_bus_however_many_hypotheses_ran() -> None:
    window = WindowBacktester(model_quotes(6_000, seed=7))
    targets = np.where(np.arange(len(window.features.close)) // 50 % 2 == 0, 1.0, -1.0)
    first = window.run(targets, 1.0)
    assert window._engine is not None
    subscriptions = len(window._engine.kernel.msgbus.subscriptions())
    for _ in range(40):
        again = window.run(targets, 1.0)
    assert len(window._engine.kernel.msgbus.subscriptions()) == subscriptions  # not one more per run
    assert np.array_equal(again.price, first.price) and np.array_equal(again.quantity, first.quantity)
    window.dispose()
