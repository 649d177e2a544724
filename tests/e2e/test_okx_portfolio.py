"""The OKX venue on a portfolio: Nautilus' real OKX clients trade three USDT swaps at once against the OKX v5 stand-in
(tests/fixtures/okx_standin.py), each swap its own book, its own ContextWindow slot, its own desk, and its own
instIdCode on the wire; an E-stop from the bridge closes every one of them."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from websockets.sync.client import connect

from sextant.state import messages
from sextant.state.bus import EventPublished
from sextant.state.context import ContextReader
from sextant.state.ring import CommandRingWriter
from tests.e2e.test_okx_venue import CREDENTIALS, Standin, serve_standin
from tests.engine.conftest import intent, run_engine
from tests.fixtures.okx_standin import INST_ID_CODES, START_PRICES, SWAPS

PORTFOLIO = ("BTC-USDT-SWAP.OKX", "ETH-USDT-SWAP.OKX", "SOL-USDT-SWAP.OKX")
LIMIT_S = 120.0  # the whole run's ceiling: every step waits on the engine's state, and the run ends when all are done
POLL_S = 0.1


@pytest.fixture
def walking_standin(clean_env: dict[str, str]) -> Iterator[Standin]:
    # Each book walks (up to 2 of its ticks a quote): every instrument's quotes come from a walk of its own.
    with serve_standin(step_ticks=2) as standin:
        yield standin


def symbol(instrument: str) -> str:
    return instrument.split(".")[0]


class Run:
    """The scenario, step by step, each step waiting on the engine's state (never on a fixed delay): every
    instrument quoted and its desk's market known → a market buy proposed on each → every position held → the
    E-stop written into the CommandRing, as the bridge writes it → ENGAGED → the engine stopped."""

    def __init__(self, commands: CommandRingWriter) -> None:
        self.commands = commands
        self.stop = asyncio.Event()
        self.steps: list[str] = []  # the steps reached, for a failure's message
        self.estop: list[messages.EStopChanged] = []

    def schedule(self, parts: Any, loop: asyncio.AbstractEventLoop) -> None:
        parts.bus.subscribe(EventPublished, self._on_event)
        self._when(parts, loop, quoted, self._enter)

    def _on_event(self, published: EventPublished) -> None:
        if isinstance(published.event, messages.EStopChanged):
            self.estop.append(published.event)
            if published.event.state == "ENGAGED":
                self.steps.append("engaged")
                self.stop.set()

    def _when(self, parts: Any, loop: asyncio.AbstractEventLoop, ready: Callable[[Any], bool],
              then: Callable[[Any, asyncio.AbstractEventLoop], None]) -> None:
        if ready(parts):
            then(parts, loop)
        else:
            loop.call_later(POLL_S, self._when, parts, loop, ready, then)

    def _enter(self, parts: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.steps.append("quoted")
        for instrument in PORTFOLIO:  # each through its own desk: compile → gate → execute
            proposal = intent(f"buy-{symbol(instrument)}", "TrendFollow", 1.0, style="MARKET")
            parts.strategy.propose(msgspec.structs.replace(proposal, instrument=instrument))
        self._when(parts, loop, holding_all, self._engage)

    def _engage(self, parts: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.steps.append("holding")
        self.commands.publish(messages.EStop(command_id="stop", engage=True), ts_ns=time.time_ns())


def quoted(parts: Any) -> bool:
    """Every desk has its instrument, a quote of it and a running strategy: an intent on it can be planned."""
    strategy = parts.strategy
    return strategy.is_running and parts.node.portfolio.initialized and all(
        strategy.cache.instrument(desk.instrument_id) is not None
        and strategy.cache.quote_tick(desk.instrument_id) is not None for desk in strategy.desks)


def holding_all(parts: Any) -> bool:
    strategy = parts.strategy
    return all(not strategy.portfolio.is_flat(desk.instrument_id) for desk in strategy.desks)


def of(collected: list[Any], kind: type) -> list[Any]:
    return [m.message for m in collected if isinstance(m.message, kind)]


@pytest.mark.slow
def test_three_swaps_are_quoted_traded_by_their_own_codes_and_all_closed_by_the_estop(
        tmp_path: Path, walking_standin: Standin) -> None:
    run = Run(CommandRingWriter(tmp_path / "commands.mmap"))
    parts, collected = run_engine(walking_standin.config(tmp_path, autonomy="AUTO", portfolio=PORTFOLIO,
                                                         duration_s=LIMIT_S),
                                  run.schedule, secrets=CREDENTIALS, stop=run.stop)
    assert run.stop.is_set(), f"not done in {LIMIT_S:.0f} s; steps reached: {run.steps}"
    assert [str(desk.instrument_id) for desk in parts.strategy.desks] == list(PORTFOLIO)  # a desk each

    # (a) every swap's quotes in its own ContextWindow slot, near its own price (the seeded walks stay within 2 % of
    # their starts for 30,000 quotes, ten minutes at 50 a second, however long the run takes)
    snapshot = ContextReader(tmp_path / "context.mmap").snapshot()
    assert snapshot.instruments == list(PORTFOLIO)
    for slot, instrument in enumerate(PORTFOLIO):
        seen = snapshot.at(slot)
        start = START_PRICES[symbol(instrument)]
        assert seen.instrument == instrument and int(seen["quote_count"]) > 0, instrument
        assert 0.98 * start < float(seen["mid"]) < 1.02 * start, (instrument, float(seen["mid"]))

    # (b) each intent reached the stand-in as an `order` naming ITS instrument by ITS instIdCode, and filled
    received = walking_standin.received()
    by_id = {op["clOrdId"]: op for op in received}
    assert all(op["op"] == "order" for op in received), [op["op"] for op in received]
    submitted, fills = of(collected, messages.OrderSubmitted), of(collected, messages.OrderFilled)
    for instrument in PORTFOLIO:
        name = symbol(instrument)
        (entry,) = [s for s in submitted if s.intent_id == f"buy-{name}"]
        assert entry.instrument == instrument and entry.order_type == "MARKET"
        wire = by_id[entry.client_order_id]
        assert wire["instIdCode"] == INST_ID_CODES[name], (instrument, wire)
        assert wire["ordType"] == "market" and wire["side"] == "buy" and float(wire["sz"]) == entry.quantity > 0
        (filled,) = [f for f in fills if f.client_order_id == entry.client_order_id]
        assert filled.instrument == instrument and filled.side == "BUY" and filled.fill_quantity == entry.quantity
        assert 0.98 * START_PRICES[name] < filled.fill_price < 1.02 * START_PRICES[name]
        notional = filled.fill_quantity * float(SWAPS[name]["ctVal"]) * filled.fill_price  # in USDT, at ITS ctVal
        assert filled.commission == pytest.approx(notional * 0.0005, rel=1e-3), instrument

    # (c) the E-stop closed each swap by its own instIdCode, then the engine stood ENGAGED and HALTED
    assert [change.state for change in run.estop] == ["ENGAGING", "ENGAGED"], run.estop
    assert run.estop[-1].trading_state == "HALTED"
    entries = {s.client_order_id for s in submitted if (s.intent_id or "").startswith("buy-")}
    closes = [op for op in received if op["clOrdId"] not in entries]
    assert sorted(op["instIdCode"] for op in closes) == sorted(INST_ID_CODES.values()), closes
    for close in closes:
        name = next(inst_id for inst_id, code in INST_ID_CODES.items() if code == close["instIdCode"])
        (entry,) = [s for s in submitted if s.intent_id == f"buy-{name}"]
        assert close["side"] == "sell" and close["ordType"] == "market" and float(close["sz"]) == entry.quantity
    for instrument in PORTFOLIO:
        assert [f.side for f in fills if f.instrument == instrument] == ["BUY", "SELL"], instrument
        assert parts.node.portfolio.is_flat(parts.strategy.desks[PORTFOLIO.index(instrument)].instrument_id)


def test_the_standin_lists_three_swaps_and_trades_each_on_its_own_book(clean_env: dict[str, str]) -> None:
    """The stand-in itself, without the engine: each swap listed with its own instIdCode, quoted and filled on its
    own still book at its tick's decimals, its fee on its own ctVal, its pushes and its algo orders its own."""
    with serve_standin(step_ticks=0) as standin:
        listed = rest(f"{standin.http}/api/v5/public/instruments?instType=SWAP")
        assert [(swap["instId"], swap["instIdCode"]) for swap in listed["data"]] == list(INST_ID_CODES.items())
        one = rest(f"{standin.http}/api/v5/public/instruments?instType=SWAP&instId=ETH-USDT-SWAP")
        assert [swap["instId"] for swap in one["data"]] == ["ETH-USDT-SWAP"]
        assert rest(f"{standin.http}/api/v5/public/instruments?instType=SWAP&instId=DOGE-USDT-SWAP")["code"] == "51001"

        touch = {"BTC-USDT-SWAP": ("60000.0", "60000.1"), "ETH-USDT-SWAP": ("3000.00", "3000.01"),
                 "SOL-USDT-SWAP": ("150.00", "150.01")}
        with connect(f"{standin.ws}/public") as ws:
            for name in touch:
                ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "bbo-tbt", "instId": name}]}))
            quoted: dict[str, tuple[str, str]] = {}
            while len(quoted) < len(touch):
                message = json.loads(ws.recv(timeout=5))
                if "data" in message:
                    (book,) = message["data"]
                    quoted[message["arg"]["instId"]] = (book["bids"][0][0], book["asks"][0][0])
        assert quoted == touch

        with connect(f"{standin.ws}/private") as ws:
            for number, (name, code) in enumerate(INST_ID_CODES.items()):
                ws.send(json.dumps({"id": str(number), "op": "order", "args": [{
                    "instIdCode": code, "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "2",
                    "clOrdId": f"probe{number}"}]}))
                while (push := json.loads(ws.recv(timeout=5))).get("data", [{}])[0].get("state") != "filled":
                    assert push.get("code", "0") == "0", push
                (filled,) = push["data"]
                assert (filled["instId"], filled["instIdCode"], filled["fillPx"]) == (name, code, touch[name][1])
                fee = -2 * float(SWAPS[name]["ctVal"]) * float(touch[name][1]) * 0.0005
                assert filled["fee"] == f"{fee:.8f}", name

        with connect(f"{standin.ws}/business") as ws:
            ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "orders-algo", "instType": "SWAP"}]}))
            assert json.loads(ws.recv(timeout=5))["event"] == "subscribe"
            placed = rest(f"{standin.http}/api/v5/trade/order-algo", {
                "instId": "SOL-USDT-SWAP", "tdMode": "cross", "side": "sell", "ordType": "trigger", "sz": "2",
                "triggerPx": "140.00", "orderPx": "-1", "reduceOnly": True})
            assert placed["code"] == "0" and placed["data"][0]["sCode"] == "0"
            (held,) = json.loads(ws.recv(timeout=5))["data"]
            assert (held["instId"], held["instIdCode"], held["state"]) == (
                "SOL-USDT-SWAP", INST_ID_CODES["SOL-USDT-SWAP"], "live")


def rest(url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """One REST call to the stand-in: a GET, or a POST of `body` as JSON."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())
