"""Lays the bridge out with a fleet at one window size, in its own process (a headless window cannot change size),
as tests/fixtures/layout_probe.py does for one instrument and with its stage and its main: three instruments calm,
the second selected, with its card, its orders drawer and the hull drawer, the help, and eight instruments (the
narrowest cells). For each state it writes every text box with its panel (JSON), and with --shots a PNG.

    python -m tests.bridge.fleet_probe --size 1280x720 --out DIR [--shots fleet_calm]
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

os.environ["ARCADE_HEADLESS"] = "1"  # before arcade is imported

import arcade
from arcade import key

from sextant.bridge.panels.drawers import Drawer
from sextant.state import messages
from tests.bridge.fleet_feed import IDS, FleetFeed
from tests.fixtures import layout_probe
from tests.fixtures.bridge_feed import STEP_NS


class FleetStage(layout_probe.Stage):
    """The layout probe's stage (its frames, keys and text boxes), its engine's files a fleet's from the first
    frame on."""

    def __init__(self, window: arcade.Window, directory: Path, count: int, scene: str = "calm") -> None:
        super().__init__(window, directory, scene)
        self.feed.writer.remove()  # the stage's one-instrument engine, gone before the bridge has looked
        self.feed.events.remove()
        self.feed = FleetFeed(scene, self.context, directory / "events.mmap", count)


def eth_card(stage: FleetStage) -> None:
    now = stage.feed.clock()
    stage.feed.events.publish(messages.IntentGenerated(
        intent_id="int-eth", agent="mean_reversion-01", intent_kind="Fade", instrument=IDS[1], side="BUY",
        quantity=3.0, price=3_101.25, style="LIMIT", target_position=0.0, confidence=0.64,
        title="Fade the drop: buy back 3", reasoning="z = -2.6 on the 60 s horizon", plan="LIMIT at 3,101.25",
        requires_approval=True, expires_at_ns=now + 30 * STEP_NS), ts_ns=now)


def states(window: arcade.Window, root: Path) -> dict[str, Callable[[], FleetStage]]:
    """Each state: a function that sets it up and leaves its last frame drawn."""

    def calm_then(action: Callable[[FleetStage], object], steps: int = 0, still: int = 2) -> Callable[[], FleetStage]:
        """Three instruments calm with ETH shown, then `action`, then `steps` frames of market and `still` without."""
        def make() -> FleetStage:
            stage = FleetStage(window, root / "calm", 3)
            stage.frames(130)
            stage.press(key.TAB)  # ETH
            stage.frames(2)
            action(stage)
            stage.frames(steps)
            stage.frames(still, step=False)
            return stage
        return make

    def eight() -> FleetStage:
        stage = FleetStage(window, root / "eight", 8, "storm")
        stage.frames(130)
        stage.press(key.F5)  # DOGE: the longest symbol, the most decimals
        stage.frames(2)
        return stage

    return {"fleet_calm": calm_then(lambda stage: None, still=0),
            "fleet_card": calm_then(eth_card, steps=2, still=30),  # the slide-in and the glow are over
            "fleet_drawer_orders": calm_then(lambda stage: setattr(stage.view, "drawer", Drawer.ORDERS)),
            "fleet_drawer_hull": calm_then(lambda stage: setattr(stage.view, "drawer", Drawer.HULL)),
            "fleet_help": calm_then(lambda stage: stage.press(key.QUESTION)), "fleet_eight": eight}


if __name__ == "__main__":
    layout_probe.states = states  # type: ignore[assignment]  # the layout probe's main, over the fleet's states
    layout_probe.main()
