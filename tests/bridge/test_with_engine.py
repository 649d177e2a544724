"""The bridge on a real engine: `sextant engine` (Nautilus node, Sandbox fills, the crew) as its own process, and
the bridge in this one, driven through its input path. The engine is the truth: what the bridge shows here comes
back from it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from arcade import key

from sextant.state import messages
from sextant.state.layout import EStopState, TradingState
from tests.bridge.conftest import click, frame, press
from tests.conftest import REPO_ROOT, free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("engine")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEXTANT_", "OKX_"))}
    env.update(SEXTANT_CONTEXT_PATH=str(directory / "context.mmap"), SEXTANT_EVENTS_PATH=str(directory / "events.mmap"),
               SEXTANT_COMMANDS_PATH=str(directory / "commands.mmap"), SEXTANT_WS_PORT=str(free_port()),
               SEXTANT_COOLDOWN_SECS="0", SEXTANT_LLM_CONFIG=str(REPO_ROOT / "llm.toml"))
    log = directory / "engine.log"
    with open(log, "w") as output:
        process = subprocess.Popen([sys.executable, "-m", "sextant.cli", "engine", "--speed", "10", "--duration",
                                    "240", "--autonomy", "MANUAL"], cwd=directory, env=env, stdout=output,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "stream ws://" not in log.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            time.sleep(0.1)
        yield directory
    finally:
        process.send_signal(2)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def frames_until(window, view, condition, timeout_s: float, what: str) -> list[messages.Event]:
    """Run real-time frames until `condition(events so far)` holds; returns the events seen."""
    seen: list[messages.Event] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        frame(window, view)
        seen += view.last_events
        if condition(seen):
            return seen
    pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}; saw {[type(e).__name__ for e in seen]}")


RECHECK_REFUSAL = "price moved"  # the engine's re-check of a stale plan: a right answer, so take the next card
ATTEMPTS = 5


def test_approve_by_click_and_by_key_each_lead_to_an_order_for_that_intent(window, bridge_factory,
                                                                          engine: Path) -> None:
    """Each approval leads to that intent's order, or, when the price moved past the plan's allowance before the
    approval arrived (a loaded machine, a 10× sim), to the re-check's refusal; then the next card is approved."""
    view = bridge_factory(time.time_ns, engine / "context.mmap", engine / "events.mmap", engine / "commands.mmap")
    for action in ("click", "key"):
        refusals: list[str] = []
        for _ in range(ATTEMPTS):
            frames_until(window, view, lambda _: view.model.top_card() is not None, 90, "an intent card")
            intent_id = view.model.top_card().intent_id
            frame(window, view)
            if action == "click":
                click(window, view, "card0:approve")
            else:
                press(window, key.A)
            assert isinstance(view.sent[-1], messages.Approve) and view.sent[-1].intent_id == intent_id
            seen = frames_until(window, view, lambda events, i=intent_id: any(
                isinstance(e, messages.OrderSubmitted | messages.IntentRejected) and e.intent_id == i
                for e in events), 30, f"OrderSubmitted or IntentRejected for {intent_id}")
            refused = [e for e in seen if isinstance(e, messages.IntentRejected) and e.intent_id == intent_id]
            if not refused:
                break
            assert refused[0].reason.startswith(RECHECK_REFUSAL), refused[0].reason
            refusals.append(refused[0].reason)
            frames_until(window, view, lambda _, i=intent_id: i not in view.model.cards, 5, "the card to be archived")
        else:
            pytest.fail(f"{ATTEMPTS} approvals by {action}, each refused by the re-check: {refusals}")
        approved = [e for e in seen if isinstance(e, messages.IntentApproved) and e.intent_id == intent_id]
        assert approved and approved[0].by == "human" and approved[0].command_id == view.sent[-1].command_id
        frames_until(window, view, lambda _, i=intent_id: i not in view.model.cards, 5, "the card to be archived")


def test_estop_from_the_bridge_reaches_halted_and_release_returns_to_active(window, bridge_factory,
                                                                            engine: Path) -> None:
    view = bridge_factory(time.time_ns, engine / "context.mmap", engine / "events.mmap", engine / "commands.mmap")
    frames_until(window, view, lambda _: view.model.status.value == "LIVE", 30, "LIVE")
    press(window, key.SPACE)
    frame(window, view)
    press(window, key.SPACE)  # confirm
    started = time.monotonic()
    frames_until(window, view, lambda _: int(view.model.snapshot["estop"]) == EStopState.ENGAGED
                 and int(view.model.snapshot["trading_state"]) == TradingState.HALTED, 20, "HALTED")
    print(f"bridge E-STOP → HALTED shown after {time.monotonic() - started:.2f} s")
    frame(window, view)
    assert next(b for b in view.painter.buttons if b.key == "estop") is not None
    assert view.model.snapshot["position_size"] == 0
    press(window, key.SPACE)
    frame(window, view)
    assert view.estop_confirm is not None and not view.estop_confirm.engage, "an engaged E-stop offers release"
    press(window, key.SPACE)
    frames_until(window, view, lambda _: int(view.model.snapshot["estop"]) == EStopState.RELEASED
                 and int(view.model.snapshot["trading_state"]) == TradingState.ACTIVE, 20, "ACTIVE again")
