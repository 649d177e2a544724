"""The bridge's model of the engine: what it makes of the commands it sent and the answers it gets, and of trust
health (a dead attestor shows as DOWN with the decisions waiting on disk and when it restarts; then as catching
up; then as nothing at all once it has caught up); and of a portfolio, the instrument it shows."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sextant.bridge.console import NOTABLE
from sextant.bridge.link import LinkStatus, Tick
from sextant.bridge.model import (
    COMMAND_ANSWER_S,
    WINDOW_UPDATES,
    BridgeModel,
    attestor_status,
    mid_text,
    price_text,
)
from sextant.state import messages
from sextant.state.context import ContextWriter
from sextant.state.ring import RingMessage
from tests.bridge.fleet_feed import model_of, portfolio


def tick(*events: messages.Event) -> Tick:
    return Tick(LinkStatus.LIVE, None, [RingMessage(n, e.KIND, 0, False, e) for n, e in enumerate(events)], 0.0, 0)


def apply(model: BridgeModel, event: messages.Event, now_s: float) -> None:
    model.apply(tick(event), now_s)


def test_commands_a_flood_overwrote_are_marked_lost_but_an_estop_among_them_is_not() -> None:
    model = BridgeModel()
    model.command_sent(messages.Approve(command_id="a", intent_id="i"), 10)
    model.command_sent(messages.EStop(command_id="stop", engage=True), 11)
    model.command_sent(messages.Reject(command_id="r", intent_id="i"), 40)
    model.apply(tick(messages.CommandsLost(first=5, last=20)), now_s=0.1)
    assert set(model.pending_commands) == {"stop", "r"}, "the E-stop still acts, through the latch"
    assert ["lost in a command flood" in t.text for t in model.toasts] == [True]


def test_a_command_unanswered_past_a_second_is_said_once() -> None:
    model = BridgeModel()
    model.command_sent(messages.SetAutonomy(command_id="s", level="AUTO"), 0)
    model.apply(tick(), now_s=COMMAND_ANSWER_S / 2)
    assert not model.toasts
    model.apply(tick(), now_s=COMMAND_ANSWER_S + 0.1)
    model.apply(tick(), now_s=COMMAND_ANSWER_S + 0.2)
    assert [t.text for t in model.toasts] == ["SetAutonomy: no answer from the engine after 1 s"]
    model.apply(tick(messages.CommandResult(command_id="s", command="SetAutonomy", applied=True)), now_s=1.3)
    assert not model.pending_commands


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


def card_event(intent_id: str) -> messages.IntentGenerated:
    return messages.IntentGenerated(intent_id=intent_id, agent="momentum-01", intent_kind="TrendFollow",
                                    instrument="BTC-USDT-SWAP.OKX", side="BUY", quantity=1.0, requires_approval=True)


def engine_tick(status: LinkStatus, instance: int, *events: messages.Event) -> Tick:
    return Tick(status, None, [RingMessage(n, e.KIND, 0, False, e) for n, e in enumerate(events)], 0.0, 0, instance)


class TestCardsBelongToTheirEngine:
    """A card never outlives what its engine says of it: the previous engine's cards go the moment another engine's
    files are attached, and while no engine answers, no card takes a key."""

    def test_a_new_engines_files_drop_the_previous_engines_cards_at_once(self) -> None:
        model = BridgeModel()
        model.apply(engine_tick(LinkStatus.LIVE, 111, card_event("momentum-01-000001")), now_s=1.0)
        model.command_sent(messages.Approve(command_id="a", intent_id="momentum-01-000001"), 3)
        assert model.top_card() is not None
        model.apply(engine_tick(LinkStatus.STARTING, 222), now_s=2.0)
        assert not model.cards and model.top_card() is None
        assert not model.pending_commands, "its answer can never come: the engine that would give it is gone"
        assert [t.text for t in model.toasts][-1] == "a new engine: 1 card of the previous one dropped"

    def test_the_new_engines_card_with_the_same_id_is_its_own(self) -> None:
        model = BridgeModel()
        model.apply(engine_tick(LinkStatus.LIVE, 111, card_event("momentum-01-000001")), now_s=1.0)
        model.apply(engine_tick(LinkStatus.LIVE, 222, card_event("momentum-01-000001")), now_s=2.0)
        card = model.top_card()
        assert card is not None and card.arrived_s == 2.0 and len(model.cards) == 1

    def test_a_card_takes_no_key_while_its_engine_is_not_answering(self) -> None:
        model = BridgeModel()
        model.apply(engine_tick(LinkStatus.LIVE, 111, card_event("i-1")), now_s=1.0)
        model.apply(engine_tick(LinkStatus.STALE, 111), now_s=3.0)
        assert "i-1" in model.cards and model.top_card() is None and not model.answering
        model.apply(engine_tick(LinkStatus.LIVE, 111), now_s=3.5)  # the same engine, back from a stall
        card = model.top_card()
        assert card is not None and card.intent_id == "i-1"

    def test_the_first_engine_drops_nothing(self) -> None:
        model = BridgeModel()
        model.apply(engine_tick(LinkStatus.LIVE, 111, card_event("i-1")), now_s=1.0)
        assert "i-1" in model.cards and not model.toasts


def test_a_card_that_expires_unanswered_is_said_once_and_one_decided_in_time_is_not() -> None:
    model = BridgeModel()
    model.apply(engine_tick(LinkStatus.LIVE, 111, card_event("i-1"), card_event("i-2")), now_s=1.0)
    model.apply(engine_tick(LinkStatus.LIVE, 111, messages.IntentRejected(intent_id="i-2", reason="no",
                                                                          by="human")), now_s=2.0)
    model.apply(engine_tick(LinkStatus.LIVE, 111, messages.IntentExpired(intent_id="i-1"),
                            messages.IntentExpired(intent_id="i-1")), now_s=31.0)
    assert [t.text for t in model.toasts] == ["card expired unanswered: momentum-01 · BUY 1"]
    assert model.cards["i-1"].outcome == "expired"


def test_an_engine_its_supervisor_reports_down_is_said_once_with_the_reason_and_takes_no_key() -> None:
    import os

    from sextant.state.supervision import SupervisorReport

    model = BridgeModel()
    model.apply(engine_tick(LinkStatus.LIVE, 111, card_event("i-1")), now_s=1.0)
    report = SupervisorReport(supervisor_pid=os.getpid(), engine="down", restarts=1, max_restarts=5,
                              reason="killed by SIGKILL", restart_at_ns=4_000_000_000)
    down = Tick(LinkStatus.DOWN, None, [], 2.0, 0, 111, report)
    model.apply(down, now_s=2.0)
    model.apply(down, now_s=2.1)
    assert [t.text for t in model.toasts] == ["engine down: killed by SIGKILL"]
    assert model.top_card() is None, "no engine to act on it"
    assert model.engine_down(now_ns=2_000_000_000) == "ENGINE DOWN · restart 2/5 in 2 s · killed by SIGKILL"
    model.apply(engine_tick(LinkStatus.STARTING, 222), now_s=3.0)
    assert model.engine_down(now_ns=3_000_000_000) == "" and not model.cards


def snapshot_at(sequence: int, ts_s: float, mid: float, tick: float) -> Tick:
    from sextant.state.context import ContextSnapshot
    from sextant.state.layout import instrument_view_dtype

    record = np.zeros((), instrument_view_dtype(0))[()]
    record["ts_ns"], record["mid"], record["price_increment"] = int(ts_s * 1e9), mid, tick
    return Tick(LinkStatus.LIVE, ContextSnapshot(sequence, record, 0), [], 0.0, 0)


def test_the_chart_spans_the_markets_pace_on_hourly_bars_and_history_s_on_quotes() -> None:
    hourly = BridgeModel(history_s=300.0)
    for n in range(40):
        hourly.apply(snapshot_at(n + 1, (n + 1) * 3600.0, 1.07 + n * 1e-5, 0.00001), float(n))
    assert hourly.window_s == WINDOW_UPDATES * 3600.0  # 120 bars, not a 300 s window holding one
    assert hourly.history.count == 40  # every bar a chart point
    quotes = BridgeModel(history_s=300.0)
    for n in range(40):
        quotes.apply(snapshot_at(n + 1, n * 0.1, 60_000.0 + n, 0.1), n * 0.1)
    assert quotes.window_s == 300.0


def test_prices_take_the_instruments_decimals() -> None:
    assert (price_text(60_123.4, 0.1), mid_text(60_123.45, 0.1)) == ("60,123.4", "60,123.45")
    assert (price_text(1.07219, 0.00001), mid_text(1.072195, 0.00001)) == ("1.07219", "1.072195")
    assert (price_text(113.73, 0.01), mid_text(100.0, 0.25)) == ("113.73", "100.000")
    assert (price_text(60_123.4, 0.0), mid_text(60_123.45, 0.0)) == ("60,123.4", "60,123.45")  # tick not known yet


class TestTheSelectedInstrument:
    """With a portfolio, the model is the selected instrument's: its price, position and crew states; the account's
    fields are the account's whichever is selected. Switching shows the new instrument's chart history at once."""

    def test_the_model_reads_the_selected_slot_and_the_account_whichever_is_selected(self, tmp_path: Path) -> None:
        writer = portfolio(tmp_path / "c.mmap")
        model = model_of(tmp_path / "c.mmap")
        assert (model.selected, model.instrument_count, model.fleet_shown) == (0, 3, True)
        assert float(model.snapshot["mid"]) == 91_250.35 and model.tick == 0.1
        assert model.select(1)
        snapshot = model.snapshot
        assert (snapshot.instrument, float(snapshot["mid"]), float(snapshot["position_size"])) == \
            ("ETH-USDT-SWAP.OKX", 3_120.555, -3.0)
        assert model.tick == 0.01 and model.instrument_filter == "ETH-USDT-SWAP.OKX"
        assert int(snapshot["crew_state"][0]) == 5, "the crew's state on ETH (ALERT), not on BTC"
        assert float(snapshot["equity"]) == 100_000.0 and float(snapshot["risk_x"][0]) == 888.84
        model_of(tmp_path / "c.mmap", model, now_s=0.1)  # the next record is read as ETH's too
        assert model.snapshot.instrument == "ETH-USDT-SWAP.OKX"
        writer.close()

    def test_the_selection_cycles_round_and_a_slot_not_traded_is_refused(self, tmp_path: Path) -> None:
        writer = portfolio(tmp_path / "c.mmap")
        model = model_of(tmp_path / "c.mmap")
        seen = []
        for _ in range(4):
            assert model.cycle(1)
            seen.append(model.selected)
        assert seen == [1, 2, 0, 1]
        assert model.cycle(-1) and model.cycle(-1) and model.selected == 2
        assert not model.select(3) and model.selected == 2
        writer.close()

    def test_one_instrument_has_nothing_to_cycle_to(self, tmp_path: Path) -> None:
        writer = portfolio(tmp_path / "c.mmap", count=1)
        model = model_of(tmp_path / "c.mmap")
        assert not model.fleet_shown and model.instrument_filter is None
        assert not model.cycle(1) and model.select(0) and not model.select(1) and model.selected == 0
        writer.close()

    def test_an_engine_with_fewer_instruments_leaves_the_selection_on_one_it_trades(self, tmp_path: Path) -> None:
        first = portfolio(tmp_path / "three.mmap")
        model = model_of(tmp_path / "three.mmap")
        model.select(2)
        first.close()
        second = portfolio(tmp_path / "two.mmap", count=2)
        model_of(tmp_path / "two.mmap", model, now_s=1.0)
        assert model.selected == 1 and model.snapshot.instrument == "ETH-USDT-SWAP.OKX"
        second.close()

    def test_each_instrument_keeps_its_own_chart_history_so_a_switch_shows_it_at_once(self, tmp_path: Path) -> None:
        writer = ContextWriter(tmp_path / "c.mmap", ["BTC-USDT-SWAP.OKX", "ETH-USDT-SWAP.OKX"])
        model = BridgeModel(history_s=300.0)
        for n in range(1, 6):
            writer.record["ts_ns"] = n * 1_000_000_000
            writer.slot(0)["mid"], writer.slot(1)["mid"] = 90_000.0 + n, 3_000.0 + n / 10
            writer.commit(n * 1_000_000_000)
            model_of(tmp_path / "c.mmap", model, now_s=n / 60)
        assert model.select(1)
        _, mids, _, _ = model.history.ordered(model.selected)
        assert list(mids) == [3_000.1, 3_000.2, 3_000.3, 3_000.4, 3_000.5]
        assert list(model.history.ordered(0)[1]) == [90_001.0, 90_002.0, 90_003.0, 90_004.0, 90_005.0]
        writer.close()

    def test_a_cards_prices_take_its_own_instruments_tick(self, tmp_path: Path) -> None:
        writer = portfolio(tmp_path / "c.mmap")
        model = model_of(tmp_path / "c.mmap")
        assert (model.tick_of("SOL-USDT-SWAP.OKX"), model.tick_of("ETH-USDT-SWAP.OKX")) == (0.001, 0.01)
        assert model.tick_of("XAU-USD.SIM") == model.tick == 0.1, "an instrument not traded: the shown one's"
        writer.close()
