"""The OKX venue: Nautilus' real OKX data and execution clients against an OKX v5 stand-in on 127.0.0.1 that speaks
today's protocol (instruments named by instIdCode in every order operation; tests/fixtures/okx_standin.py)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from sextant.config import Secret
from sextant.engine.config import EngineConfig, EngineSecrets
from sextant.state import messages
from sextant.state.layout import Venue
from tests.conftest import free_port
from tests.engine.conftest import engine_config, intent, run_engine
from tests.fixtures.okx_standin import INST_ID_CODE

CREDENTIALS = EngineSecrets(okx_api_key=Secret("standin-key"), okx_api_secret=Secret("standin-secret"),
                            okx_api_passphrase=Secret("standin-pass"))


class Standin:
    def __init__(self, http: str, ws: str) -> None:
        self.http, self.ws = http, ws

    def received(self) -> list[dict[str, Any]]:
        """Every order-op argument the venue got, as sent, with its op."""
        with urllib.request.urlopen(f"{self.http}/standin/orders", timeout=5) as response:
            return json.loads(response.read())

    def config(self, tmp_path: Path, **overrides: Any) -> EngineConfig:
        """The engine pointed at the stand-in through our own settings: no environment variable is involved."""
        return engine_config(tmp_path, venue="okx", okx_base_url_http=self.http, okx_base_url_ws=self.ws,
                             **overrides)


@contextlib.contextmanager
def serve_standin(step_ticks: int) -> Iterator[Standin]:
    """The stand-in in a process of its own, quoting 50 times a second, each book walking by up to `step_ticks` of
    its instrument's ticks a quote (0: still)."""
    http_port, ws_port = free_port(), free_port()
    server = subprocess.Popen([sys.executable, "-m", "tests.fixtures.okx_standin", str(http_port), str(ws_port), "50",
                               str(step_ticks)], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        yield Standin(f"http://127.0.0.1:{http_port}", f"ws://127.0.0.1:{ws_port}/ws/v5")
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def okx_standin(clean_env: dict[str, str]) -> Iterator[Standin]:
    # A still book (step 0): the tests plan marketable and passive prices against a touch that stays put.
    with serve_standin(step_ticks=0) as standin:
        yield standin


def at(delay: float, *intents: Any) -> Any:
    def schedule(parts: Any, loop: Any) -> None:
        for offset, proposed in enumerate(intents):
            loop.call_later(delay + offset, parts.strategy.propose, proposed)
    return schedule


def events(collected: list[Any], kind: type, intent_id: str) -> list[Any]:
    return [m.message for m in collected if isinstance(m.message, kind) and m.message.intent_id == intent_id]


@pytest.mark.slow
def test_quotes_reach_the_context_window_and_an_order_is_filled(
        tmp_path: Path, okx_standin: Standin, capfd: pytest.CaptureFixture[str]) -> None:
    parts, collected = run_engine(okx_standin.config(tmp_path, autonomy="AUTO", duration_s=10.0),
                                  at(6.0, intent("okx-1", "TrendFollow", 1.0, style="MARKET")), secrets=CREDENTIALS)
    record = parts.context.record
    assert record["venue"] == Venue.OKX
    assert record["quote_count"] > 50 and 59_000 < record["mid"] < 61_000
    (submitted,) = events(collected, messages.OrderSubmitted, "okx-1")
    (filled,) = events(collected, messages.OrderFilled, "okx-1")
    assert submitted.order_type == "MARKET"
    assert filled.fill_quantity == 1.0 and filled.commission > 0
    (order,) = okx_standin.received()
    assert order["op"] == "order" and order["instIdCode"] == INST_ID_CODE  # today's protocol, on the wire
    assert order["ordType"] == "market" and order["side"] == "buy" and float(order["sz"]) == 1.0
    output = capfd.readouterr()
    assert "standin-secret" not in output.out + output.err  # the credentials went to Nautilus, not to a log


@pytest.mark.slow
def test_dry_run_sends_nothing_to_the_venue(tmp_path: Path, okx_standin: Standin) -> None:
    parts, collected = run_engine(okx_standin.config(tmp_path, autonomy="AUTO", duration_s=8.0, dry_run=True),
                                  at(5.0, intent("okx-dry", "TrendFollow", 1.0)), secrets=CREDENTIALS)
    submitted = [m.message for m in collected if isinstance(m.message, messages.OrderSubmitted)]
    assert [s.dry_run for s in submitted] == [True]
    assert parts.context.record["quote_count"] > 50
    assert okx_standin.received() == []  # checked on the venue side


STYLE_PLAN = [  # (seconds after start, intent id, target offset from the position then, intent fields)
    (5.0, "s-market", +1.0, {"style": "MARKET"}),
    (6.0, "s-ioc", +1.0, {"style": "IOC"}),
    (7.0, "s-fok", +1.0, {"all_or_nothing": True}),
    (8.0, "s-twap", +2.0, {"style": "TWAP", "horizon_s": 2.0}),
    (11.5, "s-limit", +1.0, {"style": "LIMIT"}),
    (12.5, "s-trailing", -1.0, {"style": "TRAILING_STOP"}),
]


@pytest.mark.slow
def test_each_style_reaches_okx_as_its_own_order_type(tmp_path: Path, okx_standin: Standin) -> None:
    """Market, IOC and FOK (limits at the far touch) fill; a post-only limit at the near touch rests; TWAP arrives
    as market slices; the trailing stop is emulated on bid/ask, so nothing reaches the venue before it triggers."""
    def schedule(parts: Any, loop: Any) -> None:
        strategy = parts.strategy
        for delay, intent_id, offset, fields in STYLE_PLAN:
            def propose(intent_id: str = intent_id, offset: float = offset, fields: dict = fields) -> None:
                position = float(strategy.portfolio.net_position(strategy.desks[0].instrument_id) or 0)
                strategy.propose(intent(intent_id, "TrendFollow", position + offset, **fields))
            loop.call_later(delay, propose)

    parts, collected = run_engine(okx_standin.config(tmp_path, autonomy="AUTO", duration_s=15.0), schedule,
                                  secrets=CREDENTIALS)
    by_id = {order["clOrdId"]: order for order in okx_standin.received()}
    assert by_id and all(order["op"] == "order" and order["instIdCode"] == INST_ID_CODE for order in by_id.values())
    sent = {intent_id: [by_id[e.client_order_id] for e in events(collected, messages.OrderSubmitted, intent_id)
                        if e.client_order_id in by_id] for _, intent_id, _, _ in STYLE_PLAN}
    assert [o["ordType"] for o in sent["s-market"]] == ["market"]
    assert [o["ordType"] for o in sent["s-ioc"]] == ["ioc"]
    assert [o["ordType"] for o in sent["s-fok"]] == ["fok"]
    assert [o["ordType"] for o in sent["s-limit"]] == ["post_only"]
    twap = sent["s-twap"]
    assert len(twap) >= 2 and {o["ordType"] for o in twap} == {"market"}  # slices, spaced by Nautilus' TWAP
    assert sent["s-trailing"] == []
    for intent_id in ("s-market", "s-ioc", "s-fok", "s-twap"):  # each filled in full (sizes as the risk field set)
        filled = sum(f.fill_quantity for f in events(collected, messages.OrderFilled, intent_id))
        assert filled == pytest.approx(sum(float(o["sz"]) for o in sent[intent_id])) and filled > 0, intent_id
    assert events(collected, messages.OrderFilled, "s-limit") == []
    orders = {tag: o for o in parts.node.cache.orders() for tag in (o.tags or [])}
    assert orders["intent:s-limit"].is_open and not orders["intent:s-limit"].is_emulated
    assert orders["intent:s-trailing"].is_emulated and not orders["intent:s-trailing"].is_closed


@pytest.mark.slow
def test_an_order_is_amended_and_canceled_by_its_instrument_code(tmp_path: Path, okx_standin: Standin) -> None:
    """Through Nautilus' own OKX execution client: a resting post-only limit, moved one tick away, then canceled."""
    from nautilus_trader.model.enums import OrderStatus

    def schedule(parts: Any, loop: Any) -> None:
        strategy = parts.strategy
        loop.call_later(5.0, strategy.propose, intent("a-limit", "TrendFollow", 1.0, style="LIMIT"))

        def resting() -> Any:
            (order,) = [o for o in strategy.cache.orders() if "intent:a-limit" in (o.tags or [])]
            return order

        def amend() -> None:
            order = resting()
            instrument = strategy.cache.instrument(order.instrument_id)
            strategy.modify_order(order, price=instrument.make_price(order.price.as_double()
                                                                     - instrument.price_increment.as_double()))
        loop.call_later(7.0, amend)
        loop.call_later(9.0, lambda: strategy.cancel_order(resting()))

    parts, _ = run_engine(okx_standin.config(tmp_path, autonomy="AUTO", duration_s=11.0), schedule,
                          secrets=CREDENTIALS)
    ops = okx_standin.received()
    assert [op["op"] for op in ops] == ["order", "amend-order", "cancel-order"]
    placed, amended, canceled = ops
    assert all(op["instIdCode"] == INST_ID_CODE for op in ops)
    assert float(amended["newPx"]) == round(float(placed["px"]) - 0.1, 1)
    (order,) = [o for o in parts.node.cache.orders() if "intent:a-limit" in (o.tags or [])]
    assert order.status == OrderStatus.CANCELED and float(order.price) == float(amended["newPx"])
    assert order.venue_order_id is not None
    assert canceled.get("ordId") == order.venue_order_id.value or canceled.get("clOrdId") == order.client_order_id.value


@pytest.mark.slow
def test_the_stop_loss_is_held_by_okx_on_the_last_price_and_canceled_when_flat(tmp_path: Path,
                                                                                okx_standin: Standin) -> None:
    """The per-position stop-loss is a venue-side algo order (so it protects the position while the engine is down),
    unlike the emulated trailing stop."""
    _, collected = run_engine(
        okx_standin.config(tmp_path, autonomy="AUTO", duration_s=10.0, sl_pct=0.02),
        at(5.0, intent("sl-open", "TrendFollow", 1.0, style="MARKET"), intent("sl-close", "TrendFollow", 0.0,
                                                                             style="MARKET")), secrets=CREDENTIALS)
    ops = okx_standin.received()
    assert [op["op"] for op in ops] == ["order", "order-algo", "order", "cancel-algos"]
    opened, stop, _, cancel = ops
    fill = float(events(collected, messages.OrderFilled, "sl-open")[0].fill_price)
    assert stop["ordType"] == "trigger" and stop["triggerPxType"] == "last" and stop["reduceOnly"] is True
    assert stop["side"] == "sell" and stop["sz"] == opened["sz"] and stop["orderPx"] == "-1"  # market when hit
    assert float(stop["triggerPx"]) == pytest.approx(fill * 0.98, abs=0.1)
    assert cancel["algoId"]
    canceled = [m.message for m in collected if isinstance(m.message, messages.OrderCanceled)]
    assert [c.client_order_id for c in canceled] == [stop["algoClOrdId"]]


def test_the_standin_refuses_an_order_op_that_names_the_instrument_by_instid_alone(okx_standin: Standin) -> None:
    """As OKX has since February 2026: `instId` alone is refused with sCode 50014 and nothing is placed, on every
    order operation; an unknown code is 51001; with the code the same order goes through."""
    order = {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "limit", "px": "1000.0",
             "sz": "1", "clOrdId": "probe1"}
    with connect(f"{okx_standin.ws}/private") as ws:
        answers = []
        for number, (op, argument) in enumerate([
                ("order", order),
                ("amend-order", {"instId": "BTC-USDT-SWAP", "clOrdId": "probe1", "newPx": "1001.0"}),
                ("cancel-order", {"instId": "BTC-USDT-SWAP", "clOrdId": "probe1"}),
                ("order", {**order, "instIdCode": 99999}),
                ("order", {**order, "instIdCode": INST_ID_CODE}),
                ("cancel-order", {"instIdCode": INST_ID_CODE, "clOrdId": "probe1"})]):
            ws.send(json.dumps({"id": str(number), "op": op, "args": [argument]}))
            while (answer := json.loads(ws.recv(timeout=5))).get("id") != str(number):
                pass  # the orders channel's pushes
            answers.append((answer["code"], answer["data"][0]["sCode"]))
    assert answers == [("1", "50014"), ("1", "50014"), ("1", "50014"), ("1", "51001"), ("0", "0"), ("0", "0")]
