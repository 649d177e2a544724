"""The hull gauges' words (sextant/bridge/panels/hull.py): the portfolio's hull, each reading in its own unit. With
two instruments or more DELTA is the net delta in the account's currency and says so; with one, CONCENTRATION is
not applicable (it would repeat the leverage) and is shown as gamma and vega are."""

from __future__ import annotations

from pathlib import Path

from sextant.bridge.panels.hull import gauge_details, gauge_name, gauge_readings
from sextant.state.layout import HullDimension
from tests.bridge.fleet_feed import model_of, portfolio


def test_a_fleets_gauges_read_net_delta_in_usdt_leverage_and_the_largest_instruments_concentration(
        tmp_path: Path) -> None:
    writer = portfolio(tmp_path / "c.mmap")
    model = model_of(tmp_path / "c.mmap")
    assert [name for name, _, _ in gauge_readings(model)] == [
        "NET DELTA", "GAMMA", "VEGA", "LIQUIDITY", "CONCENTRATION", "LEVERAGE"]
    assert gauge_name(HullDimension.DELTA, model.fleet_shown, short=True) == "NET Δ"
    assert gauge_details(model, HullDimension.DELTA, True) == ("net Δ +889 USDT", "of 91,250 · U 0.000")
    assert gauge_details(model, HullDimension.LEVERAGE, True)[0] == "lev 0.03×"
    assert gauge_details(model, HullDimension.CONCENTRATION, True)[0] == "conc 2% BTC"
    model.select(2)
    assert gauge_details(model, HullDimension.CONCENTRATION, True)[0] == "conc 2% BTC", "the account's, whichever shown"
    writer.close()


def test_one_instruments_delta_keeps_its_name_and_its_concentration_is_not_applicable(tmp_path: Path) -> None:
    writer = portfolio(tmp_path / "c.mmap", count=1)
    model = model_of(tmp_path / "c.mmap")
    readings = {name: applicable for name, _, applicable in gauge_readings(model)}
    assert "DELTA" in readings and not readings["CONCENTRATION"] and not readings["GAMMA"]
    assert gauge_name(HullDimension.DELTA, model.fleet_shown, short=True) == "DELTA"
    assert gauge_details(model, HullDimension.DELTA, True)[0] == "Δ +889 USDT"
    assert gauge_details(model, HullDimension.CONCENTRATION, False) == ("not applicable", "one instrument")
    assert gauge_details(model, HullDimension.GAMMA, False) == ("not applicable", "to a linear perp")
    writer.close()
