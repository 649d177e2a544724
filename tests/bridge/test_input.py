"""The captain's input: every key and button becomes a command on the CommandRing, read back here by a
CommandRingReader exactly as the engine reads it. Nothing is decided locally."""

from __future__ import annotations

from pathlib import Path

from arcade import key

from sextant.bridge.link import LinkStatus
from sextant.state import messages
from sextant.state.ring import CommandRingReader
from tests.bridge.conftest import click, emit, frame, press, run_frames
from tests.fixtures.bridge_feed import CARD_STEP


def commands_in(path: Path) -> list[messages.Command]:
    reader = CommandRingReader(path, start="oldest")
    try:
        return [m.message for m in reader.drain() if m.message is not None]
    finally:
        reader.close()


def card_scene(window, feed_factory, bridge_factory, scene: str = "card"):
    """The feed at CARD_STEP + 20 with the card on screen. The quiet market before the card is not what these tests
    show, so the bridge draws its first frame, skips to the step before the card, and draws every frame from the
    card's arrival on (the same frames, with the card, as drawing all of them)."""
    feed = feed_factory(scene)
    view = bridge_factory(feed.clock)
    run_frames(window, view, feed, 1)
    feed.step(CARD_STEP - 2)
    run_frames(window, view, feed, 21)
    assert feed.steps == CARD_STEP + 20
    assert view.model.top_card() is not None
    return feed, view


def test_clicking_approve_puts_an_approve_command_in_the_ring(window, feed_factory, bridge_factory) -> None:
    feed, view = card_scene(window, feed_factory, bridge_factory)
    click(window, view, "card0:approve")
    frame(window, view)
    sent = commands_in(feed.commands)
    assert len(sent) == 1 and isinstance(sent[0], messages.Approve) and sent[0].intent_id == "int-7"
    card = view.model.cards["int-7"]
    assert card.pending_command == "Approve" and not card.outcome, "the card waits for the engine's answer"
    approve = next(b for b in view.painter.buttons if b.key == "card0:approve")
    assert not approve.enabled, "no second approve while the first is in flight"


def test_pressing_a_approves_the_top_card(window, feed_factory, bridge_factory) -> None:
    feed, _ = card_scene(window, feed_factory, bridge_factory)
    press(window, key.A)
    sent = commands_in(feed.commands)
    assert [type(c) for c in sent] == [messages.Approve] and sent[0].intent_id == "int-7"


def test_pressing_r_rejects_the_top_card(window, feed_factory, bridge_factory) -> None:
    feed, _ = card_scene(window, feed_factory, bridge_factory)
    press(window, key.R)
    sent = commands_in(feed.commands)
    assert isinstance(sent[0], messages.Reject) and sent[0].intent_id == "int-7"


def test_modify_editor_sends_only_what_changed(window, feed_factory, bridge_factory) -> None:
    feed, view = card_scene(window, feed_factory, bridge_factory)
    press(window, key.M)
    frame(window, view)
    assert view.editor is not None and view.editor.quantity == "2"
    press(window, key.BACKSPACE)
    press(window, key.KEY_3)
    press(window, key.LEFT)  # TWAP → TRAILING_STOP
    press(window, key.LEFT)  # → LIMIT
    press(window, key.TAB)
    for digit in (key.KEY_9, key.KEY_1, key.KEY_0, key.KEY_0, key.KEY_0):
        press(window, digit)
    frame(window, view)
    press(window, key.ENTER)
    sent = commands_in(feed.commands)
    assert len(sent) == 1 and isinstance(sent[0], messages.Modify)
    assert (sent[0].intent_id, sent[0].quantity, sent[0].price, sent[0].style) == ("int-7", 3.0, 91000.0, "LIMIT")
    assert view.editor is None


def test_modify_editor_refuses_a_zero_quantity_and_sends_nothing(window, feed_factory, bridge_factory) -> None:
    feed, view = card_scene(window, feed_factory, bridge_factory)
    press(window, key.M)
    press(window, key.BACKSPACE)
    press(window, key.KEY_0)
    press(window, key.ENTER)
    frame(window, view)
    assert view.editor is not None and "quantity" in view.editor.error
    assert commands_in(feed.commands) == []
    press(window, key.ESCAPE)
    assert view.editor is None


def test_space_asks_to_confirm_before_the_estop_is_sent(window, feed_factory, bridge_factory) -> None:
    feed = feed_factory("calm")
    view = bridge_factory(feed.clock)
    run_frames(window, view, feed, 10)
    press(window, key.SPACE)
    frame(window, view)
    assert view.estop_confirm is not None and commands_in(feed.commands) == []
    press(window, key.ESCAPE)
    assert view.estop_confirm is None and commands_in(feed.commands) == []
    click(window, view, "estop")
    frame(window, view)
    click(window, view, "estop:confirm")
    sent = commands_in(feed.commands)
    assert len(sent) == 1 and isinstance(sent[0], messages.EStop) and sent[0].engage


def test_autonomy_buttons_send_set_autonomy_and_show_the_engines_level(window, feed_factory, bridge_factory) -> None:
    feed = feed_factory("calm")
    view = bridge_factory(feed.clock)
    run_frames(window, view, feed, 5)
    click(window, view, "autonomy:AUTO")
    run_frames(window, view, feed, 2)
    sent = commands_in(feed.commands)
    assert isinstance(sent[0], messages.SetAutonomy) and sent[0].level == "AUTO"
    assert int(view.model.snapshot["autonomy"]) == 0, "still MANUAL: the feed (the engine) has not changed it"


def test_stale_heartbeat_shows_stale_within_one_second(window, feed_factory, bridge_factory) -> None:
    feed = feed_factory("calm")
    now = [0]
    view = bridge_factory(lambda: feed.clock() + now[0])
    run_frames(window, view, feed, 5)
    assert view.model.status == LinkStatus.LIVE
    now[0] = 900_000_000
    frame(window, view)
    assert view.model.status == LinkStatus.LIVE
    now[0] = 1_050_000_000
    frame(window, view)
    assert view.model.status == LinkStatus.STALE


def test_bridge_waits_for_the_engine_and_reattaches_when_it_restarts(window, feed_factory, bridge_factory,
                                                                     tmp_path: Path) -> None:
    clock_source: list = [lambda: 0]
    view = bridge_factory(lambda: clock_source[0]())
    frame(window, view)
    assert view.model.status == LinkStatus.WAITING
    press(window, key.SPACE)
    press(window, key.SPACE)
    assert commands_in(tmp_path / "commands.mmap") == [], "no engine: nothing is sent"
    first = feed_factory("calm")
    clock_source[0] = first.clock
    run_frames(window, view, first, 5)
    assert view.model.status == LinkStatus.LIVE and view.link.stats.attachments == 1
    first.stop()
    second = feed_factory("storm")  # a new engine process replaces the files
    clock_source[0] = second.clock
    run_frames(window, view, second, 5)
    assert view.model.status == LinkStatus.LIVE and view.link.stats.attachments == 2
    assert float(view.model.snapshot["sea_state"]) > 0.6, "the bridge shows the new engine's sea"


def test_drawer_keys_toggle_and_a_backdrop_click_closes(window, feed_factory, bridge_factory) -> None:
    import arcade

    feed = feed_factory("calm")
    view = bridge_factory(feed.clock)
    run_frames(window, view, feed, 3)
    for symbol, number in ((key.KEY_1, 1), (key.KEY_2, 2), (key.KEY_3, 3), (key.KEY_4, 4)):
        press(window, symbol)
        assert int(view.drawer) == number
    press(window, key.KEY_4)
    assert view.drawer is None
    press(window, key.KEY_3)
    frame(window, view)
    emit(window, "on_mouse_press", 50, 300, arcade.MOUSE_BUTTON_LEFT, 0)
    assert view.drawer is None


def test_a_countdown_is_held_while_the_mouse_is_on_its_card(window, feed_factory, bridge_factory) -> None:
    feed, view = card_scene(window, feed_factory, bridge_factory, "assisted")
    rect = view.card_rects["int-7"]
    emit(window, "on_mouse_motion", int(rect.center_x), int(rect.center_y), 0, 0)
    frame(window, view)
    emit(window, "on_mouse_motion", 10, 10, 0, 0)  # away again
    frame(window, view)
    holds = [c for c in commands_in(feed.commands) if isinstance(c, messages.HoldCountdown)]
    assert [(c.intent_id, c.hold) for c in holds] == [("int-7", True), ("int-7", False)]
    assert not any(isinstance(c, messages.Approve | messages.Reject) for c in commands_in(feed.commands))


def test_a_research_card_approves_like_any_card_but_cannot_be_modified(window, feed_factory, bridge_factory) -> None:
    feed = feed_factory("calm")
    view = bridge_factory(feed.clock)
    run_frames(window, view, feed, 10)
    view.model._apply_event(messages.IntentGenerated(
        intent_id="research-momentum-1a2b", agent="momentum-01", intent_kind="Research", instrument="BTC-USDT-SWAP.OKX",
        confidence=0.99, title="Research: retune momentum-01", reasoning="selection IR -120.00 → 240.00",
        plan="set entry_z 1 → 1.7", requires_approval=True), feed.clock())
    run_frames(window, view, feed, 30)
    modify = next(b for b in view.painter.buttons if b.key == "card0:modify")
    assert not modify.enabled
    press(window, key.M)
    assert view.editor is None and any("cannot be modified" in t.text for t in view.model.toasts)
    press(window, key.A)
    sent = commands_in(feed.commands)
    assert [type(c) for c in sent] == [messages.Approve] and sent[0].intent_id == "research-momentum-1a2b"


def test_question_mark_shows_every_key_and_never_stands_between_the_captain_and_the_estop(
        window, feed_factory, bridge_factory, tmp_path: Path) -> None:
    from sextant.bridge.panels.dialogs import KEYS_HELP
    from tests.bridge.golden import grab

    feed = feed_factory("calm")
    view = bridge_factory(feed.clock)
    run_frames(window, view, feed, 10)
    emit(window, "on_key_press", key.SLASH, key.MOD_SHIFT)  # "?" on a US keyboard
    frame(window, view)
    assert view.help_open and view.painter.button_rect("help:close") is not None
    shown = view.overlay_text.shown()
    assert [shown[f"help:key{index}"] for index in range(len(KEYS_HELP))] == [keys for keys, _ in KEYS_HELP]
    from PIL import Image

    Image.fromarray(grab(window)).save(tmp_path / "help.png")  # for a person to look at when it fails
    press(window, key.ESCAPE)
    frame(window, view)
    assert not view.help_open and view.painter.button_rect("help:close") is None
    press(window, key.QUESTION)
    press(window, key.SPACE)  # the E-stop goes first: the help closes and the confirm dialog opens
    frame(window, view)
    assert not view.help_open and view.estop_confirm is not None
