"""The backtest venue shared by the sim, research and benchmarks."""

from __future__ import annotations

import subprocess
import sys

import pytest

RUN_ONE_BACKTEST = """
from sextant.engine.sim import model_quotes
from sextant.engine.config import EngineConfig
from sextant.market.instrument import okx_linear_swap
from sextant.market.simulated_venue import backtest_engine

config = EngineConfig()
engine = backtest_engine(okx_linear_swap(config.instrument), model_quotes(config, 200),
                         trader_id="VENUE-001", starting_balance=10_000, leverage=2)
engine.run()
engine.dispose()
print("ran")
"""


@pytest.mark.slow  # a backtest in a fresh interpreter
def test_a_run_writes_no_library_warning_into_the_output() -> None:
    # A fresh interpreter: pytest's own warning filters would hide what a user's terminal shows.
    completed = subprocess.run([sys.executable, "-c", RUN_ONE_BACKTEST], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ran"
    assert completed.stderr == ""
