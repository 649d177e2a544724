"""The bridge's model of trust health: a dead attestor shows as DOWN with the decisions waiting on disk and when
it restarts; then as catching up; then as nothing at all once it has caught up."""

from __future__ import annotations

from sextant.bridge.console import NOTABLE
from sextant.bridge.link import LinkStatus, Tick
from sextant.bridge.model import BridgeModel, attestor_status
from sextant.state import messages
from sextant.state.ring import RingMessage


def apply(model: BridgeModel, event: messages.Event, now_s: float) -> None:
    model.apply(Tick(LinkStatus.LIVE, None, [RingMessage(1, event.KIND, 0, False, event)], 0.0, 0), now_s)


def test_a_dead_attestor_shows_down_then_catching_up_then_nothing() -> None:
    model = BridgeModel()
    assert attestor_status(model.attestor) == ""
    apply(model, messages.AttestorDown(pid=7, exit_code=-9, backlog=12, restarts=0, retry_in_s=0.5), 1.0)
    assert attestor_status(model.attestor) == "DOWN, 12 decisions wait on disk, restart in 0.5 s"
    assert not model.toasts[-1].good and "attestor down" in model.toasts[-1].text
    apply(model, messages.AttestorUp(pid=8, backlog=12, restarts=1), 2.0)
    assert attestor_status(model.attestor) == "catching up on 12 decisions"
    assert model.toasts[-1].good
    apply(model, messages.AttestorUp(pid=8, backlog=0, restarts=1), 3.0)
    assert attestor_status(model.attestor) == ""


def test_given_up_restarts_say_so() -> None:
    down = messages.AttestorDown(pid=7, exit_code=1, backlog=3, restarts=10, retry_in_s=-1.0)
    assert attestor_status(down) == "DOWN, 3 decisions wait on disk, not restarting"


def test_the_headless_console_prints_trust_health() -> None:
    assert messages.AttestorDown in NOTABLE and messages.AttestorUp in NOTABLE
