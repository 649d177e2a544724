"""The bridge on a replay: the REPLAY badge, and the transport keys going to the replay process as ReplayControl
commands (the player here runs in this process, on the same files; it is what `sextant replay` runs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from arcade import key

from sextant.bridge.link import LinkStatus
from sextant.replay.player import ScenePlayer
from sextant.state import messages
from tests.bridge.conftest import TICK_S, click, frame, press
from tests.conftest import REPO_ROOT

SCENE = REPO_ROOT / "scenes" / "calm-trend"


@pytest.fixture
def replay(window, bridge_factory, tmp_path: Path):
    clock = [1_800_000_000_000_000_000]
    player = ScenePlayer(SCENE, tmp_path / "context.mmap", tmp_path / "events.mmap", tmp_path / "commands.mmap",
                         clock=lambda: clock[0])
    view = bridge_factory(lambda: clock[0])

    def tick(count: int = 1) -> None:
        for _ in range(count):
            clock[0] += int(TICK_S * 1e9)
            player.advance(TICK_S)
            frame(window, view)

    tick(3)
    yield player, view, tick
    player.close()


def test_the_bridge_shows_replay_and_refuses_trading_commands(window, replay) -> None:
    player, view, _ = replay
    assert view.model.status == LinkStatus.REPLAY
    assert view.model.replay is not None and view.model.replay.duration_ns == player.duration_ns
    view.approve("any")
    assert not any(isinstance(c, messages.Approve) for c in view.sent)


def test_space_pauses_arrows_step_brackets_change_speed(window, replay) -> None:
    player, _, tick = replay
    press(window, key.SPACE)
    tick(2)
    assert player.paused
    position = player.position_ns
    tick(10)
    assert player.position_ns == position, "paused: the timeline holds"
    press(window, key.RIGHT)
    tick(1)
    assert player.position_ns > position
    press(window, key.BRACKETRIGHT)
    tick(1)
    assert player.speed == 2.0
    press(window, key.BRACKETLEFT)
    tick(1)
    press(window, key.BRACKETLEFT)  # each step starts from the speed the replay reported
    tick(1)
    assert player.speed == 0.5
    press(window, key.SPACE)
    tick(2)
    assert not player.paused


def test_clicking_the_timeline_seeks(window, replay) -> None:
    player, view, tick = replay
    tick(1)
    bar = view.painter.button_rect("timeline:seek")
    assert bar is not None
    click(window, view, "timeline:seek")  # the middle of the bar
    tick(2)
    assert abs(player.position_ns / player.duration_ns - 0.5) < 0.05
    assert view.model.replay is not None and view.model.replay.position_ns >= player.duration_ns * 0.45
