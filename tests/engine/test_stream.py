"""The WebSocket stream: every event as JSON, subscription by type, each event serialised once for every client, a
slow client dropped without the engine ever waiting for it, and no web page reading it unless its Origin is
allowed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from sextant.engine.stream import EventStream, encode_event, text_frame
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


# ----------------------------------------------------------------------------------------------- Origin allowlist


async def _handshake_status(url: str, origin: str | None) -> int | str:
    """101 when the handshake succeeds, else the HTTP status and body the server refused it with."""
    headers = {"Origin": origin} if origin is not None else None
    try:
        async with connect(url, additional_headers=headers, origin=None):
            return 101
    except InvalidStatus as error:
        return f"{error.response.status_code} {error.response.body.decode()}"


@pytest.mark.slow
def test_a_handshake_is_accepted_without_an_origin_or_from_an_allowed_one_and_refused_otherwise(
        tmp_path: Path) -> None:
    answers: dict[str, int | str] = {}

    async def probe(url: str) -> None:
        answers["absent"] = await _handshake_status(url, None)
        answers["allowed"] = await _handshake_status(url, "http://localhost:3000")
        answers["foreign"] = await _handshake_status(url, "https://evil.example")
        answers["near miss"] = await _handshake_status(url, "http://localhost:3001")

    def schedule(parts: Any, loop: Any) -> None:
        loop.create_task(probe(parts.stream.url))

    config = engine_config(tmp_path, duration_s=2.0, ws_allowed_origins=("http://localhost:3000",))
    parts, _ = run_engine(config, schedule)
    assert answers["absent"] == 101 and answers["allowed"] == 101
    for refused in ("foreign", "near miss"):
        assert str(answers[refused]).startswith("403 Origin ")
        assert "SEXTANT_WS_ALLOWED_ORIGINS" in str(answers[refused])
    assert parts.stream.refused_origins == 2


def test_by_default_no_web_origin_may_open_the_stream() -> None:
    async def scenario() -> tuple[int | str, int | str]:
        stream = EventStream(port=0)
        await stream.start()
        try:
            return (await _handshake_status(stream.url, "http://localhost:3000"),
                    await _handshake_status(stream.url, None))
        finally:
            await stream.stop()

    web, script = asyncio.run(scenario())
    assert str(web).startswith("403 ") and script == 101


# ------------------------------------------------------------------------------------------------------- fan-out


def _crew_status(index: int) -> messages.CrewStatus:
    return messages.CrewStatus(agent="flood", state="ACTIVE", task=f"{index:06d}" + "x" * 400)


async def _read_all(url: str, into: list[dict], done: asyncio.Event) -> None:
    async with connect(url, max_queue=None) as websocket:
        async for frame in websocket:
            into.append(json.loads(frame))
            if done.is_set() and into and into[-1]["data"].get("task", "").startswith("end"):
                return


def test_each_event_is_serialised_once_however_many_clients_read_it() -> None:
    encoded: list[int] = []

    def counting_encode(event: messages.Event, seq: int, ts_ns: int) -> bytes:
        encoded.append(seq)
        return encode_event(event, seq, ts_ns)

    async def scenario() -> list[list[dict]]:
        stream = EventStream(port=0, encode=counting_encode)
        await stream.start()
        received: list[list[dict]] = [[] for _ in range(8)]
        done = asyncio.Event()
        readers = [asyncio.create_task(_read_all(stream.url, into, done)) for into in received]
        while stream.clients < len(readers):
            await asyncio.sleep(0.01)
        for seq in range(200):
            stream.publish(_crew_status(seq), seq, seq)
            if seq % 20 == 0:
                await asyncio.sleep(0)
        done.set()
        stream.publish(messages.CrewStatus(agent="flood", state="ACTIVE", task="end"), 200, 200)
        async with asyncio.timeout(20):
            await asyncio.gather(*readers)
        await stream.stop()
        return received

    received = asyncio.run(scenario())
    assert encoded == list(range(201))  # once per event, not once per client
    for frames in received:
        assert [frame["seq"] for frame in frames] == list(range(201))


def test_a_subscription_filters_by_type_without_decoding_or_encoding_again() -> None:
    encoded: list[str] = []

    def counting_encode(event: messages.Event, seq: int, ts_ns: int) -> bytes:
        encoded.append(type(event).__name__)
        return encode_event(event, seq, ts_ns)

    async def scenario() -> tuple[list[dict], list[dict]]:
        stream = EventStream(port=0, encode=counting_encode)
        await stream.start()
        heartbeats: list[dict] = []
        everything: list[dict] = []
        done = asyncio.Event()

        async def only_heartbeats() -> None:
            async with connect(stream.url + "?types=Heartbeat,CrewStatus") as websocket:
                async for frame in websocket:
                    heartbeats.append(json.loads(frame))
                    if heartbeats[-1]["type"] == "CrewStatus":
                        return

        tasks = [asyncio.create_task(only_heartbeats()), asyncio.create_task(_read_all(stream.url, everything, done))]
        while stream.clients < 2:
            await asyncio.sleep(0.01)
        for seq in range(30):
            event: messages.Event = (messages.Heartbeat(pid=1, uptime_s=float(seq)) if seq % 3 == 0 else
                                     messages.Veto(agent="risk", intent_id=f"i{seq}", potential=1.0, threshold=0.5,
                                                  reason="test"))
            stream.publish(event, seq, seq)
        done.set()
        stream.publish(messages.CrewStatus(agent="flood", state="ACTIVE", task="end"), 30, 30)
        async with asyncio.timeout(20):
            await asyncio.gather(*tasks)
        await stream.stop()
        return heartbeats, everything

    heartbeats, everything = asyncio.run(scenario())
    assert len(encoded) == 31
    assert [frame["seq"] for frame in heartbeats] == [*range(0, 30, 3), 30]
    assert [frame["seq"] for frame in everything] == list(range(31))


def test_a_reader_that_falls_behind_is_closed_as_too_slow_while_a_fast_one_gets_everything_in_order() -> None:
    """The slow reader pauses while a flood goes out (its socket fills, then its backlog passes the budget); the
    fast reader reads throughout. The slow one is closed with 1013 and its backlog dropped; the fast one sees every
    event, in order."""
    budget = 256 * 1024

    async def scenario() -> tuple[list[dict], int | None, int, int]:
        stream = EventStream(port=0, backlog_budget_bytes=budget)
        await stream.start()
        fast: list[dict] = []
        done = asyncio.Event()
        resume = asyncio.Event()
        slow_close: dict[str, int | None] = {}

        async def slow_reader() -> None:
            async with connect(stream.url, max_queue=4) as websocket:
                await resume.wait()  # meanwhile websockets stops reading once its small queue is full
                try:
                    async for _ in websocket:
                        pass
                except ConnectionClosed:
                    pass
                slow_close["code"] = websocket.close_code

        tasks = [asyncio.create_task(_read_all(stream.url, fast, done)), asyncio.create_task(slow_reader())]
        while stream.clients < 2:
            await asyncio.sleep(0.01)
        count = 0
        while stream.dropped_clients == 0 and count < 200_000:
            for _ in range(50):
                stream.publish(_crew_status(count), count, count)
                count += 1
            await asyncio.sleep(0.001)  # the fast reader, on this loop, reads between bursts
        clients = stream.clients
        resume.set()
        done.set()
        stream.publish(messages.CrewStatus(agent="flood", state="ACTIVE", task="end"), count, count)
        async with asyncio.timeout(30):
            await asyncio.gather(*tasks)
        await stream.stop()
        return fast, slow_close.get("code"), count, clients

    fast, slow_code, count, clients = asyncio.run(scenario())
    assert slow_code == 1013
    assert clients == 1  # the fast reader is still served
    assert [frame["seq"] for frame in fast] == list(range(count + 1))
    assert count * len(encode_event(_crew_status(0), 0, 0)) > budget  # it took more than the budget to drop it


def test_a_text_frame_is_what_a_websocket_client_parses() -> None:
    from websockets.frames import Frame, Opcode
    from websockets.streams import StreamReader

    for size in (0, 125, 126, 65535, 65536, 70_000):
        payload = b"x" * size
        reader = StreamReader()
        reader.feed_data(text_frame(payload))
        parser = Frame.parse(reader.read_exact, mask=False)
        try:
            next(parser)
        except StopIteration as parsed:
            frame = parsed.value
        assert frame.opcode is Opcode.TEXT and frame.fin and frame.data == payload
