"""The WebSocket stream: every event as JSON, subscription by type, and a slow client dropped without the engine
ever waiting for it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from sextant.state import messages
from tests.engine.conftest import engine_config, intent, run_engine


def collect(url: str, into: list[dict], stop_after_s: float, hello: dict | None = None) -> Any:
    async def client() -> None:
        async with connect(url) as websocket:
            if hello is not None:
                await websocket.send(json.dumps(hello))
            try:
                async with asyncio.timeout(stop_after_s):
                    async for frame in websocket:
                        into.append(json.loads(frame))
            except TimeoutError:
                pass
    return client


@pytest.mark.slow
def test_a_subscriber_gets_only_its_types_in_the_documented_envelope(tmp_path: Path) -> None:
    orders: list[dict] = []
    everything: list[dict] = []
    control: list[dict] = []

    def schedule(parts: Any, loop: Any) -> None:
        url = parts.stream.url
        loop.create_task(collect(url + "?types=OrderSubmitted,OrderFilled", orders, 3.5)())
        loop.create_task(collect(url, everything, 3.5)())
        loop.create_task(collect(url, control, 3.5, hello={"subscribe": ["Heartbeat"]})())
        loop.call_later(1.0, lambda: parts.strategy.propose(intent("ws-1", "TrendFollow", 1.0, style="MARKET")))

    run_engine(engine_config(tmp_path, autonomy="AUTO", duration_s=4.0), schedule)
    assert [m["type"] for m in orders] == ["OrderSubmitted", "OrderFilled"]
    submitted = orders[0]
    assert set(submitted) == {"type", "ts_ns", "seq", "data"}
    assert submitted["data"]["intent_id"] == "ws-1" and submitted["data"]["order_type"] == "MARKET"
    assert orders[1]["seq"] > submitted["seq"]
    types = {m["type"] for m in everything}
    assert {"IntentGenerated", "IntentApproved", "OrderSubmitted", "OrderFilled", "Heartbeat"} <= types
    assert control[0] == {"subscribed": ["Heartbeat"]}
    assert {m["type"] for m in control[1:]} == {"Heartbeat"}


@pytest.mark.slow
def test_bad_requests_are_answered_not_obeyed(tmp_path: Path) -> None:
    replies: list[Any] = []

    async def probe(url: str) -> None:
        async with connect(url) as websocket:
            for request in ("hello", json.dumps({"approve": "x"}), json.dumps({"subscribe": ["Nope"]})):
                await websocket.send(request)
                replies.append(json.loads(await websocket.recv()))
        try:
            async with connect(url.replace("/ws", "/other")):
                pass
        except InvalidStatus as error:
            replies.append(error.response.status_code)
        try:
            async with connect(url + "?types=Nope") as websocket:
                await websocket.recv()
        except ConnectionClosed as closed:
            replies.append(closed.rcvd.code if closed.rcvd else None)

    def schedule(parts: Any, loop: Any) -> None:
        loop.create_task(probe(parts.stream.url))

    run_engine(engine_config(tmp_path, duration_s=2.0), schedule)
    assert "error" in replies[0] and "commands over WebSocket are off" in replies[1]["error"]
    assert "unknown event types" in replies[2]["error"]
    assert replies[3:] == [404, 1008]


@pytest.mark.slow
def test_a_slow_client_is_dropped_and_quote_handling_does_not_slow_down(tmp_path: Path) -> None:
    """Two phases of the same event flood (5k events/s of ~500 B): first with only a reading client, then with a client
    that never reads as well. The stalled client must be dropped, the reader must keep receiving, and the median
    quote-handling latency of the second phase must stay that of the first."""
    received: list[dict] = []
    latencies: dict[str, np.ndarray] = {}
    state: dict[str, Any] = {}

    async def stalled(url: str) -> None:
        async with connect(url) as websocket:  # websockets stops reading once its small buffer is full
            state["stalled"] = websocket
            await asyncio.sleep(30)

    def flood(parts: Any, count: int) -> None:
        text = "x" * 400
        for _ in range(count):
            parts.sink.publish(messages.CrewStatus(agent="flood", state="ACTIVE", task=text), 0)

    def schedule(parts: Any, loop: Any) -> None:
        url = parts.stream.url
        loop.create_task(collect(url + "?types=CrewStatus,Heartbeat", received, 9.0)())
        for tick in range(400):  # phase 1: 1.0–3.0 s
            loop.call_later(1.0 + tick * 0.005, flood, parts, 25)
        loop.call_later(3.0, lambda: latencies.__setitem__("alone", parts.encoder.quote_latencies_ns(last=200)))
        loop.call_later(3.5, lambda: loop.create_task(stalled(url)))
        for tick in range(400):  # phase 2: 4.0–6.0 s
            loop.call_later(4.0 + tick * 0.005, flood, parts, 25)
        loop.call_later(6.0, lambda: latencies.__setitem__("with_stalled", parts.encoder.quote_latencies_ns(last=200)))
        loop.call_later(6.5, lambda: state.update(dropped=parts.stream.dropped_clients, clients=parts.stream.clients))

    run_engine(engine_config(tmp_path, duration_s=7.0, speed=10.0), schedule)
    assert state["dropped"] == 1
    assert state["clients"] == 1  # the reader is still served; the stalled client is gone on the server side
    assert sum(1 for m in received if m["type"] == "CrewStatus") == 20_000
    alone, with_stalled = (float(np.median(latencies[k])) / 1e3 for k in ("alone", "with_stalled"))
    print(f"quote handling median: {alone:.0f} µs with a reader only, {with_stalled:.0f} µs with a stalled client")
    assert with_stalled <= 2 * alone + 500
