"""A card's arrival is said beyond the window (sextant/bridge/attention.py): a chime and the urgency hint, once per
burst of cards, never for a replay's recorded cards, and never an error where there is no sound or window
manager."""

from __future__ import annotations

import io
import wave

from sextant.bridge.attention import CHIME_NOTE_S, CHIME_NOTES_HZ, CHIME_RATE, Attention, chime_wav
from sextant.bridge.link import LinkStatus, Tick
from sextant.bridge.model import BridgeModel
from sextant.state import messages
from sextant.state.ring import RingMessage


def test_the_chime_is_a_short_16_bit_wav_of_its_notes() -> None:
    with wave.open(io.BytesIO(chime_wav())) as chime:
        assert (chime.getnchannels(), chime.getsampwidth(), chime.getframerate()) == (1, 2, CHIME_RATE)
        assert chime.getnframes() == int(CHIME_RATE * CHIME_NOTE_S) * len(CHIME_NOTES_HZ)


class Window:
    """A window the bridge cannot reach a window system through (no X display): hints are skipped, not errors."""

    def activate(self) -> None:
        raise AssertionError("only on Windows")


class Recording(Attention):
    def __init__(self, **kwargs: bool) -> None:
        super().__init__(Window(), **kwargs)
        self.chimes = 0
        self.urgent: list[bool] = []

    def _play_chime(self) -> None:
        self.chimes += 1

    def _set_urgent(self, urgent: bool) -> None:
        super()._set_urgent(urgent)
        self.urgent.append(urgent)


def test_an_arrival_chimes_and_asks_for_attention_and_the_hint_goes_when_no_card_waits() -> None:
    attention = Recording(sound=True, headless=False)
    attention.announce(1)
    attention.settle()
    attention.settle()
    assert attention.chimes == 1 and attention.urgent == [True, False]


def test_a_replays_cards_and_an_off_screen_bridge_are_counted_but_silent() -> None:
    replay = Recording(sound=True, headless=False)
    replay.announce(3, audible=False)
    off_screen = Recording(sound=True, headless=True)
    off_screen.announce(1)
    assert replay.announced == 3 and replay.chimes == 0 and replay.urgent == []
    assert off_screen.chimes == 0 and off_screen.urgent == []


def test_sound_off_still_asks_for_attention() -> None:
    attention = Recording(sound=False, headless=False)
    attention.announce(1)
    assert attention.chimes == 0 and attention.urgent == [True]


def test_the_model_counts_each_card_that_waits_for_the_captain() -> None:
    model = BridgeModel()
    card = messages.IntentGenerated(intent_id="i-1", agent="momentum-01", intent_kind="TrendFollow",
                                    instrument="BTC-USDT-SWAP.OKX", side="BUY", quantity=1.0, requires_approval=True)
    auto = messages.IntentGenerated(intent_id="i-2", agent="momentum-01", intent_kind="TrendFollow",
                                    instrument="BTC-USDT-SWAP.OKX", side="BUY", quantity=1.0)
    model.apply(Tick(LinkStatus.LIVE, None, [RingMessage(0, card.KIND, 0, False, card),
                                             RingMessage(1, auto.KIND, 0, False, auto)], 0.0, 0, 1), now_s=1.0)
    assert model.card_arrivals == 1 and model.waiting_cards() == 1
