"""The instruments as the bridge names them, and the fleet: one cell per instrument with its price at its own
decimals, its signed position, its unrealized PnL and its heat, |delta| / delta_limit, in the hull's zone colours
(sextant/bridge/instruments.py). The portfolio is written through a ContextWriter and read back as the bridge
reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sextant.bridge import theme
from sextant.bridge.instruments import (
    account_currency,
    base_asset,
    fleet_cells,
    fleet_line,
    short_symbol,
)
from sextant.bridge.model import BridgeModel
from tests.bridge.fleet_feed import model_of, portfolio


@pytest.mark.parametrize(("instrument_id", "symbol"), [
    ("BTC-USDT-SWAP.OKX", "BTC-USDT-SWAP"), ("EUR/USD.SIM", "EUR/USD"), ("AAPL.XNAS", "AAPL"), ("NOVENUE", "NOVENUE"),
])
def test_an_instrument_is_named_without_its_venue(instrument_id: str, symbol: str) -> None:
    assert short_symbol(instrument_id) == symbol


def test_what_an_instrument_trades_and_the_accounts_currency_are_what_the_engine_wrote(tmp_path: Path) -> None:
    """Read from the record (the engine writes them from Nautilus' instruments), never guessed from an id."""
    writer = portfolio(tmp_path / "c.mmap")
    model = model_of(tmp_path / "c.mmap")
    assert [base_asset(model, slot) for slot in range(3)] == ["BTC", "ETH", "SOL"]
    assert account_currency(model) == "USDT"
    writer.close()


def test_the_fleet_has_one_cell_per_instrument_with_its_own_decimals_position_pnl_and_heat(tmp_path: Path) -> None:
    writer = portfolio(tmp_path / "c.mmap")
    model = model_of(tmp_path / "c.mmap")
    cells = fleet_cells(model)
    assert [(c.symbol, c.price, c.position, c.pnl, c.heat_text) for c in cells] == [
        ("BTC-USDT-SWAP", "91,250.35", "+2", "+12.50", "Δ 20%"),
        ("ETH-USDT-SWAP", "3,120.555", "-3", "-4.25", "Δ 75%"),
        ("SOL-USDT-SWAP", "142.1235", "flat", "+0.00", "Δ 0%"),
    ]
    assert [c.selected for c in cells] == [True, False, False]
    assert [c.heat_color for c in cells] == [theme.GREEN, theme.YELLOW, theme.GREEN], "the gauges' zones"
    assert [c.position_color for c in cells] == [theme.GREEN, theme.RED, theme.TEXT_MUTED]
    writer.close()


def test_heat_is_the_delta_against_its_own_limit_capped_at_the_limit_and_unknown_without_one(tmp_path: Path) -> None:
    writer = portfolio(tmp_path / "c.mmap")
    writer.slot(1)["delta"] = -0.9  # past its 0.4 limit
    writer.slot(2)["delta_limit"] = 0.0
    writer.commit(2_000_000_000)
    cells = fleet_cells(model_of(tmp_path / "c.mmap"))
    assert (cells[1].heat, cells[1].heat_text, cells[1].heat_color) == (1.0, "Δ 100%", theme.RED)
    assert (cells[2].heat, cells[2].heat_text, cells[2].heat_color) == (0.0, "Δ —", theme.TEXT_MUTED)
    writer.close()


def test_the_terminals_fleet_line_marks_the_instrument_shown(tmp_path: Path) -> None:
    writer = portfolio(tmp_path / "c.mmap")
    model = model_of(tmp_path / "c.mmap")
    model.select(1)
    assert fleet_line(model) == (" 1 BTC-USDT-SWAP 91,250.35 +2 uPnL +12.50 Δ 20%  "
                                 "▸2 ETH-USDT-SWAP 3,120.555 -3 uPnL -4.25 Δ 75%  "
                                 " 3 SOL-USDT-SWAP 142.1235 flat uPnL +0.00 Δ 0%")
    writer.close()


def test_no_fleet_before_the_engines_first_record() -> None:
    assert fleet_cells(BridgeModel()) == [] and fleet_line(BridgeModel()) == ""
