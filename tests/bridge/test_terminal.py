"""The bridge in a terminal (sextant/bridge/terminal.py): no GL, the captain's keys from the terminal, each card
announced once with the bell. The engine is stood in for by its two files, written here; what the bridge sends
is read back from the CommandRing the engine would read."""

from __future__ import annotations

import io
import os
import pty
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sextant.bridge.config import BridgeConfig
from sextant.bridge.terminal import TerminalBridge, TerminalKeys
from sextant.state import messages
from sextant.state.context import ContextWriter
from sextant.state.layout import EStopState
from sextant.state.ring import CommandRingReader, EventRingWriter


class Engine:
    """The engine's side of the files: a live heartbeat, one quote, and the events a test publishes."""

    def __init__(self, directory: Path) -> None:
        self.context = ContextWriter(directory / "c.mmap", "BTC-USDT-SWAP.OKX")
        self.events = EventRingWriter(directory / "e.mmap")
        self.commands_path = directory / "cmd.mmap"
        self.context.record["quote_count"] = 1
        self.context.record["mid"] = 60_000.0
        self.beat()

    def beat(self) -> None:
        now = time.time_ns()
        self.context.heartbeat(now)
        self.context.commit(now)

    def card(self, intent_id: str) -> None:
        self.events.publish(messages.IntentGenerated(
            intent_id=intent_id, agent="momentum-01", intent_kind="TrendFollow", instrument="BTC-USDT-SWAP.OKX",
            side="BUY", quantity=1.0, title="Ride the trend", plan="BUY 1 at market", requires_approval=True,
            expires_at_ns=time.time_ns() + 30_000_000_000))

    def commands(self) -> list[messages.Command]:
        reader = CommandRingReader(self.commands_path)
        try:
            return [m.message for m in reader.drain() if m.message is not None]
        finally:
            reader.close()

    def close(self) -> None:
        self.events.close()
        self.context.close()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = Engine(tmp_path)
    yield engine
    engine.close()


@pytest.fixture
def bridge(tmp_path: Path, engine: Engine) -> Iterator[tuple[TerminalBridge, io.StringIO]]:
    config = BridgeConfig(context_path=str(tmp_path / "c.mmap"), events_path=str(tmp_path / "e.mmap"),
                          commands_path=str(tmp_path / "cmd.mmap"), reconnect_every_s=0.0)
    out = io.StringIO()
    terminal = TerminalBridge(config, out=out)
    yield terminal, out
    terminal.controller.close()


def test_a_card_is_announced_once_with_the_bell_and_a_approves_it(engine: Engine, bridge) -> None:
    terminal, out = bridge
    engine.card("momentum-01-x-000001")
    terminal.step()
    terminal.step()
    announced = [line for line in out.getvalue().splitlines() if "CARD " in line]
    assert len(announced) == 1 and announced[0].startswith("\aCARD momentum-01: Ride the trend — BUY 1 at market")
    assert "expires in 30 s" in announced[0] or "expires in 29 s" in announced[0]
    terminal.on_key("a")
    sent = engine.commands()
    assert [type(c).__name__ for c in sent] == ["Approve"] and sent[0].intent_id == "momentum-01-x-000001"  # type: ignore[attr-defined]
    terminal.on_key("a")  # the same card, its Approve unanswered: not sent twice
    assert len(engine.commands()) == 1


def test_r_rejects_the_top_card(engine: Engine, bridge) -> None:
    terminal, _ = bridge
    engine.card("momentum-01-x-000001")
    terminal.step()
    terminal.on_key("R")
    sent = engine.commands()
    assert [type(c).__name__ for c in sent] == ["Reject"]


def test_the_estop_takes_space_twice_and_any_other_key_between_disarms_it(engine: Engine, bridge) -> None:
    terminal, out = bridge
    terminal.step()
    terminal.on_key(" ")
    assert engine.commands() == [] and "press Space again" in out.getvalue()
    terminal.on_key("1")
    terminal.on_key(" ")
    assert engine.commands() == [], "the drawer key in between cancelled the first Space"
    terminal.on_key(" ")
    sent = engine.commands()
    assert len(sent) == 1 and isinstance(sent[0], messages.EStop) and sent[0].engage
    engine.context.record["estop"] = EStopState.ENGAGED
    engine.beat()
    terminal.step()
    terminal.on_key(" ")
    terminal.on_key(" ")
    released = engine.commands()[-1]
    assert isinstance(released, messages.EStop) and not released.engage


def test_no_card_takes_a_key_while_the_engine_is_silent(engine: Engine, bridge) -> None:
    terminal, out = bridge
    engine.card("momentum-01-x-000001")
    terminal.step()
    engine.context.heartbeat(time.time_ns() - 5_000_000_000)  # silent for 5 s
    engine.events.heartbeat(time.time_ns() - 5_000_000_000)
    terminal.step()
    terminal.on_key("a")
    assert engine.commands() == []
    assert "no card to approve (the bridge is STALE)" in out.getvalue()


def test_the_drawers_print_as_text_and_q_quits(engine: Engine, bridge) -> None:
    terminal, _ = bridge
    terminal.step()
    assert terminal.drawer_lines(1) == ["POSITION", "FLAT · realised +0.00", "WORKING", "none", "RECENT",
                                        "no orders yet"]
    engine.events.publish(messages.OrderSubmitted(client_order_id="O-1", instrument="BTC-USDT-SWAP.OKX", side="SELL",
                                                  order_type="LIMIT", time_in_force="GTC", quantity=1.0,
                                                  price=60_010.0, post_only=True))
    engine.events.publish(messages.OrderSubmitted(client_order_id="O-2", instrument="BTC-USDT-SWAP.OKX", side="BUY",
                                                  order_type="MARKET", time_in_force="GTC", quantity=2.0))
    engine.events.publish(messages.OrderFilled(client_order_id="O-2", instrument="BTC-USDT-SWAP.OKX", side="BUY",
                                               fill_price=60_001.5, fill_quantity=2.0))
    terminal.step()
    orders = terminal.drawer_lines(1)
    assert orders[orders.index("WORKING") + 1] == "SELL 1 post-only limit 60,010.0 WORKING GTC", orders
    assert orders[orders.index("RECENT") + 1] == "BUY 2 market 60,001.5 FILLED GTC", "a filled order says FILLED"
    assert terminal.drawer_lines(3)[0] == "MEMORY" and "reads" in terminal.drawer_lines(3)[1]
    hull = terminal.drawer_lines(4)
    assert hull[0] == "HULL INTEGRITY" and hull[1].startswith("delta") and len(hull) == 8
    terminal.on_key("q")
    assert terminal.quit


def test_keys_come_from_a_terminal_one_press_at_a_time_and_its_modes_are_restored() -> None:
    import termios

    master, slave = pty.openpty()
    try:
        before = termios.tcgetattr(slave)
        with os.fdopen(os.dup(slave), "r") as stream:
            keys = TerminalKeys(stream)
            assert keys.available
            assert not termios.tcgetattr(slave)[3] & termios.ICANON, "no Enter needed"
            os.write(master, b"a")
            deadline = time.monotonic() + 5
            pressed = ""
            while not pressed and time.monotonic() < deadline:
                pressed = keys.read()
            assert pressed == "a"
            keys.close()
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)


def test_without_a_terminal_there_are_no_keys_and_no_error(tmp_path: Path) -> None:
    with open(tmp_path / "stdin", "w+") as stream:
        keys = TerminalKeys(stream)
        assert not keys.available and keys.read() == ""


class Pressed:
    """A terminal's keys, one read at a time: what each `read()` returns, in order."""

    available = True

    def __init__(self, *reads: str) -> None:
        self._reads = list(reads)

    def read(self) -> str:
        return self._reads.pop(0) if self._reads else ""


def test_tab_and_shift_tab_switch_the_instrument_the_status_line_follows_and_f_prints_the_fleet(
        tmp_path: Path) -> None:
    from tests.bridge.fleet_feed import portfolio

    writer = portfolio(tmp_path / "c.mmap")
    writer.heartbeat(time.time_ns())
    events = EventRingWriter(tmp_path / "e.mmap")
    config = BridgeConfig(context_path=str(tmp_path / "c.mmap"), events_path=str(tmp_path / "e.mmap"),
                          commands_path=str(tmp_path / "cmd.mmap"), reconnect_every_s=0.0)
    out = io.StringIO()
    terminal = TerminalBridge(config, out=out, keys=Pressed("", "\t\t", "\x1b[Z", "f"))  # type: ignore[arg-type]
    try:
        terminal.step()
        assert "BTC-USDT-SWAP.OKX (1/3) mid 91,250.35" in terminal.status()
        terminal.step()  # Tab, Tab
        assert terminal.controller.model.selected == 2 and "SOL-USDT-SWAP.OKX (3/3)" in terminal.status()
        terminal.step()  # Shift+Tab: one escape sequence, one press
        assert terminal.controller.model.selected == 1
        assert "ETH-USDT-SWAP.OKX (2/3) mid 3,120.555" in terminal.status() and " pos -3 " in terminal.status()
        lines = out.getvalue().splitlines()
        assert [line for line in lines if line.startswith("  showing")] == [
            "  showing ETH-USDT-SWAP.OKX (2/3)", "  showing SOL-USDT-SWAP.OKX (3/3)",
            "  showing ETH-USDT-SWAP.OKX (2/3)"]
        terminal.step()  # f
        assert out.getvalue().splitlines()[-1] == ("   1 BTC-USDT-SWAP 91,250.35 +2 uPnL +12.50 Δ 20%  "
                                                   "▸2 ETH-USDT-SWAP 3,120.555 -3 uPnL -4.25 Δ 75%  "
                                                   " 3 SOL-USDT-SWAP 142.1235 flat uPnL +0.00 Δ 0%")
    finally:
        terminal.controller.close()
        events.close()
        writer.close()


def test_with_one_instrument_tab_says_there_is_nothing_to_switch_to(engine: Engine, bridge) -> None:
    terminal, out = bridge
    terminal.step()
    terminal.on_key("\t")
    assert terminal.controller.model.selected == 0 and "one instrument: nothing to switch to" in out.getvalue()
    assert "(1/1)" not in terminal.status()
