"""The bridge's frames, rendered headless on Mesa llvmpipe from a fixture process's shared memory, against
golden images: the main view in calm and in storm, an intent card, and each drawer."""

from __future__ import annotations

import numpy as np
import pytest
from arcade import key

from sextant.bridge.link import LinkStatus
from tests.bridge.conftest import frame, press, run_frames
from tests.bridge.golden import assert_matches_golden, grab
from tests.fixtures.bridge_feed import CARD_STEP

# Golden renders of a hundred frames or more, each against its own feed process, are slow; the calm main view stays
# in `make test-fast` so that a change to the painting shows there too.


def test_calm_sea_main_view(window, feed_factory, bridge_factory) -> None:
    feed = feed_factory("calm")
    view = bridge_factory(feed.clock)
    run_frames(window, view, feed, 130)
    assert view.model.status == LinkStatus.LIVE
    assert not view.model.cards, "95 % silent: no card, so the right column stays empty"
    assert_matches_golden(grab(window), "main_calm")


@pytest.mark.slow
def test_storm_main_view_shows_red_hull(window, feed_factory, bridge_factory) -> None:
    feed = feed_factory("storm")
    view = bridge_factory(feed.clock)
    run_frames(window, view, feed, 130)
    image = grab(window)
    # The heat field runs hot: the chart's mean colour is far redder than blue.
    chart = image[100:600, 20:1000].reshape(-1, 3).astype(float).mean(axis=0)
    assert chart[0] > chart[2] + 20
    assert_matches_golden(image, "main_storm")


@pytest.mark.slow
def test_intent_card_slides_in_and_shows_its_plan(window, feed_factory, bridge_factory) -> None:
    feed = feed_factory("card")
    view = bridge_factory(feed.clock)
    run_frames(window, view, feed, CARD_STEP)
    card = view.model.top_card()
    assert card is not None and card.intent_id == "int-7"
    buttons = {b.key for b in view.painter.buttons}
    run_frames(window, view, feed, 1)
    assert view.painter.button_rect("card0:approve").left > 1280 * 0.75, "the card starts off to the right"
    run_frames(window, view, feed, 24)  # 300 ms of slide at 60 Hz, and some
    assert {"card0:approve", "card0:modify", "card0:reject"} <= {b.key for b in view.painter.buttons}
    assert buttons
    assert_matches_golden(grab(window), "intent_card")


@pytest.mark.slow
@pytest.mark.parametrize(("drawer_key", "scene", "name"), [
    (key.KEY_1, "storm", "drawer_orders"),
    (key.KEY_2, "calm", "drawer_research"),
    (key.KEY_3, "storm", "drawer_memory"),
    (key.KEY_4, "storm", "drawer_hull"),
])
def test_drawers(window, feed_factory, bridge_factory, drawer_key: int, scene: str, name: str) -> None:
    feed = feed_factory(scene)
    view = bridge_factory(feed.clock)
    run_frames(window, view, feed, 125)
    press(window, drawer_key)
    frame(window, view)
    assert view.drawer is not None and int(view.drawer) == drawer_key - key.KEY_0
    assert_matches_golden(grab(window), name, masks=view.volatile)
    press(window, key.ESCAPE)
    frame(window, view)
    assert view.drawer is None


@pytest.mark.slow
def test_two_runs_render_identical_frames(window, feed_factory, bridge_factory, tmp_path) -> None:
    images = []
    for run in range(2):
        directory = tmp_path / f"run{run}"
        directory.mkdir()
        feed = feed_factory("storm", directory)
        view = bridge_factory(feed.clock, directory / "context.mmap", directory / "events.mmap",
                              directory / "commands.mmap")
        run_frames(window, view, feed, 40)
        images.append(grab(window))
        view.link.close()
        feed.stop()
    assert np.array_equal(images[0], images[1])


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (3840, 2160)])
def test_layout_scales_from_720p_to_4k(width: int, height: int) -> None:
    from sextant.bridge.layout import Layout

    layout = Layout.for_size(width, height)
    assert layout.header.top == height and layout.crew_bar.bottom == 0
    assert layout.body.height > height * 0.7
    assert layout.cards.right == width and layout.cards.width < width * 0.3
    assert layout.font(14) >= 10.5, "text stays legible at 720p"
