"""The bridge shows the fleet (sextant/bridge/panels/fleet.py and the view's keys): with two instruments or more, a
strip under the header has one cell per instrument (symbol, price at its own decimals, signed position, uPnL,
heat), the one shown highlighted; Tab / Shift+Tab (and PgDn / PgUp) cycle round, F1-F8 pick, a click on a cell
shows it; the chart, header, crew and cards follow. With one instrument the bridge looks as it did: no strip.

Frames are rendered headless from a portfolio engine stood in for in this process (tests/bridge/fleet_feed.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from arcade import key

from sextant.bridge.link import LinkStatus
from sextant.bridge.model import mid_text
from sextant.state import messages
from tests.bridge.conftest import click, emit, frame, press
from tests.bridge.fleet_feed import IDS, FleetFeed
from tests.bridge.golden import grab
from tests.bridge.test_layout import SIZES, layout_defects, run_probe
from tests.fixtures.bridge_feed import STEP_NS, Feed


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[FleetFeed]:
    feed = FleetFeed("calm", tmp_path / "context.mmap", tmp_path / "events.mmap")
    yield feed
    feed.close()


def frames(window, view, feed: Feed, count: int) -> None:
    for _ in range(count):
        feed.step()
        frame(window, view)


def shown_mid(view, slot: int) -> str:
    """The instrument's mid as the engine wrote it, at its own decimals."""
    fields = view.model.slots()[slot]
    return mid_text(float(fields["mid"]), float(fields["price_increment"]))


def test_a_fleet_frame_has_one_cell_per_instrument_saying_its_price_position_pnl_and_heat(
        window, fleet: FleetFeed, bridge_factory) -> None:
    view = bridge_factory(fleet.clock)
    frames(window, view, fleet, 12)
    assert view.model.status == LinkStatus.LIVE and view.painter.layout.fleet is not None
    shown = view.text.shown()
    assert [shown[f"fleet{slot}:symbol"] for slot in range(3)] == ["BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP"]
    assert [shown[f"fleet{slot}:price"] for slot in range(3)] == [shown_mid(view, slot) for slot in range(3)]
    decimals = [len(shown[f"fleet{slot}:price"].split(".")[1]) for slot in range(3)]
    assert decimals == [2, 3, 4], "each at its own tick's decimals and one more: 0.1, 0.01, 0.001"
    assert [shown[f"fleet{slot}:position"] for slot in range(3)] == ["+2", "-3", "flat"]
    assert [shown[f"fleet{slot}:heat"] for slot in range(3)] == ["Δ 20%", "Δ 75%", "Δ 0%"]
    assert shown["fleet2:pnl"] == "+0.00" and shown["fleet1:pnl"].startswith(("+", "-"))
    assert {f"fleet:{slot}" for slot in range(3)} <= {b.key for b in view.painter.buttons}
    assert shown["header:instrument"] == "BTC-USDT-SWAP.OKX" and shown["hullstrip:DELTA"] == "NET Δ"
    strip = view.painter.layout.fleet
    image = grab(window)
    rows = image[int(window.height - strip.top) + 2:int(window.height - strip.bottom) - 2]
    assert rows.reshape(-1, 3).std(axis=0).max() > 10, "the strip is drawn, not blank"


def test_tab_cycles_round_the_fleet_shift_tab_goes_back_and_f_keys_pick(window, fleet: FleetFeed,
                                                                          bridge_factory) -> None:
    view = bridge_factory(fleet.clock)
    frames(window, view, fleet, 3)
    seen = []
    for _ in range(4):
        press(window, key.TAB)
        seen.append(view.model.selected)
    assert seen == [1, 2, 0, 1]
    emit(window, "on_key_press", key.TAB, key.MOD_SHIFT)
    assert view.model.selected == 0
    press(window, key.PAGEUP)
    assert view.model.selected == 2, "PgUp: the previous, round from the first to the last"
    press(window, key.PAGEDOWN)
    assert view.model.selected == 0
    press(window, key.F2)
    frames(window, view, fleet, 1)
    shown = view.text.shown()
    assert view.model.selected == 1 and shown["header:instrument"] == "ETH-USDT-SWAP.OKX"
    assert shown["header:price"] == shown["fleet1:price"] == shown_mid(view, 1)
    assert shown["chart:last"] == shown_mid(view, 1), "the sea chart is ETH's"
    assert "thinking" in shown["crew:role0"], "the crew's states on ETH"
    press(window, key.F5)
    assert view.model.selected == 1 and view.model.toasts[-1].text == "no instrument 5: the engine trades 3"
    assert not view.sent, "which instrument is shown is no command to the engine"


def test_a_click_on_a_fleet_cell_shows_that_instrument(window, fleet: FleetFeed, bridge_factory) -> None:
    view = bridge_factory(fleet.clock)
    frames(window, view, fleet, 3)
    click(window, view, "fleet:2")
    frames(window, view, fleet, 1)
    assert view.model.selected == 2 and view.text.shown()["header:instrument"] == "SOL-USDT-SWAP.OKX"


def test_the_chart_shows_the_selected_instruments_history_at_once_and_its_orders_alone(
        window, fleet: FleetFeed, bridge_factory) -> None:
    view = bridge_factory(fleet.clock)
    frames(window, view, fleet, 70)  # the scene's BTC orders: an entry, its stop, a resting limit
    assert any(k.startswith("chart:level:") for k in view.text.shown())
    press(window, key.TAB)
    frame(window, view)
    shown = view.text.shown()
    assert not any(k.startswith(("chart:level:O-", "chart:levelText:O-")) for k in shown), "BTC's orders stay BTC's"
    assert "chart:empty" not in shown, "ETH's past was kept while BTC was shown"
    assert shown["chart:levelText:entry"].startswith("ENTRY SHORT 3 @ 3,120.55")
    ts, mids, _, _ = view.model.history.ordered(1)
    assert len(ts) >= 60 and np.all(mids > 3_000) and np.all(mids < 3_300)


def test_cards_say_their_instrument_and_take_its_decimals(window, fleet: FleetFeed, bridge_factory) -> None:
    view = bridge_factory(fleet.clock)
    frames(window, view, fleet, 3)
    now = fleet.clock()
    fleet.events.publish(messages.IntentGenerated(
        intent_id="int-eth", agent="mean_reversion-01", intent_kind="Fade", instrument=IDS[1], side="BUY",
        quantity=3.0, price=3_101.25, style="LIMIT", target_position=0.0, confidence=0.64, title="Fade the drop",
        reasoning="z = -2.6", plan="LIMIT at 3,101.25", requires_approval=True,
        expires_at_ns=now + 30 * STEP_NS), ts_ns=now)
    frames(window, view, fleet, 2)
    shown = view.text.shown()
    assert shown["card0:instrument"] == "ETH-USDT-SWAP" and shown["card0:agent"] == "mean_reversion-01 · Fade"
    assert shown["card0:order"] == "BUY 3 @ 3,101.25 LIMIT → FLAT", "ETH's tick (0.01), whichever is shown"


def test_with_one_instrument_there_is_no_fleet_strip_and_cards_do_not_name_it(window, tmp_path: Path,
                                                                             bridge_factory) -> None:
    feed = Feed("calm", str(tmp_path / "context.mmap"), str(tmp_path / "events.mmap"))
    try:
        view = bridge_factory(lambda: feed.base_ns + feed.step_number * STEP_NS + 1_000_000)
        frames(window, view, feed, 3)
        now = feed.base_ns + feed.step_number * STEP_NS
        feed.events.publish(messages.IntentGenerated(
            intent_id="int-btc", agent="momentum-01", intent_kind="TrendFollow", instrument=IDS[0], side="BUY",
            quantity=2.0, requires_approval=True, expires_at_ns=now + 30 * STEP_NS), ts_ns=now)
        frames(window, view, feed, 2)
        shown = view.text.shown()
        assert view.painter.layout.fleet is None and not view.model.fleet_shown
        assert not any(k.startswith("fleet") for k in shown) and not any(b.key.startswith("fleet")
                                                                          for b in view.painter.buttons)
        assert "card0:instrument" not in shown and shown["card0:agent"] == "momentum-01 · TrendFollow"
        assert shown["hullstrip:DELTA"] == "DELTA"
        press(window, key.TAB)
        assert view.model.selected == 0
    finally:
        feed.close()


@pytest.fixture(scope="module", params=SIZES)
def fleet_laid_out(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    size = request.param
    out = tmp_path_factory.mktemp(f"fleet-{size}")
    run_probe("tests.bridge.fleet_probe", size, out)
    return size, out


@pytest.mark.slow
def test_no_fleet_text_overlaps_another_or_leaves_its_panel(fleet_laid_out: tuple[str, Path]) -> None:
    size, out = fleet_laid_out
    states = json.loads((out / "boxes.json").read_text())
    assert len(states) == 6 and all(states.values())
    assert any(text["key"] == "fleet7:symbol" for text in states["fleet_eight"]), "eight cells"
    defects = layout_defects(states)
    assert not defects, f"at {size}:\n" + "\n".join(defects)
