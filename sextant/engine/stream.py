"""The WebSocket event stream: ws://127.0.0.1:<SEXTANT_WS_PORT>/ws (protocol: docs/ws-protocol.md).

Every engine event goes out as JSON {"type", "ts_ns", "seq", "data"}. A client may subscribe to a subset of types
with `?types=A,B` in the URL or by sending {"subscribe": ["A", "B"]} (an empty list means everything). Each
client has a bounded queue; the engine only ever does a non-blocking put, and a client whose queue is full is
dropped (close code 1013, "too slow"). The engine never waits for a client.

Commands over the WebSocket are off (SPEC §11); anything a client sends other than a subscription is answered with
an error frame and otherwise ignored. The server binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from sextant.state import messages

CLOSE_TOO_SLOW = 1013
# 4,096 frames: about 0.8 s of a 5k-events/s flood, so a healthy reader rides out a long garbage-collection pause
# of the engine's interpreter (1,024 frames, 0.2 s, dropped healthy readers in long test runs); still a few MB.
DEFAULT_QUEUE = 4096
# A modest kernel send buffer per client bounds the memory a stalled client can pin and lets its queue reveal the
# stall within a second or two, instead of after several megabytes of autotuned buffer.
SEND_BUFFER_BYTES = 256 * 1024
EVENT_TYPES = frozenset(t.__name__ for t in messages.EVENT_TYPES)
_ENCODER = msgspec.json.Encoder()


@dataclass(eq=False)
class _Client:
    connection: ServerConnection
    queue: asyncio.Queue[bytes]
    types: frozenset[str] = frozenset()  # empty: every type
    dropped: bool = False
    sent: int = 0
    tasks: list[asyncio.Task] = field(default_factory=list)

    def wants(self, type_name: str) -> bool:
        return not self.types or type_name in self.types


class EventStream:
    def __init__(self, host: str = "127.0.0.1", port: int = 8765, queue_size: int = DEFAULT_QUEUE) -> None:
        self._host = host
        self._port = port
        self._queue_size = queue_size
        self._server: Server | None = None
        self._clients: set[_Client] = set()
        self.dropped_clients = 0

    @property
    def port(self) -> int:
        if self._server is None:
            return self._port
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"ws://{self._host}:{self.port}/ws"

    @property
    def clients(self) -> int:
        return len(self._clients)

    async def start(self) -> None:
        self._server = await serve(self._serve, self._host, self._port, process_request=self._check_path,
                                   compression=None, max_size=64 * 1024, close_timeout=1.0)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def publish(self, event: messages.Event, seq: int, ts_ns: int) -> None:
        """An EventSink listener: enqueue for every interested client, never block."""
        if not self._clients:
            return
        type_name = type(event).__name__
        frame: bytes | None = None
        for client in list(self._clients):
            if client.dropped or not client.wants(type_name):
                continue
            if frame is None:
                frame = _ENCODER.encode(messages.to_wire(event, seq=seq, ts_ns=ts_ns))
            try:
                client.queue.put_nowait(frame)
            except asyncio.QueueFull:
                self._drop(client)

    def _drop(self, client: _Client) -> None:
        client.dropped = True
        self.dropped_clients += 1
        self._clients.discard(client)
        for task in client.tasks:
            task.cancel()
        # Closing waits for the peer; do it in the background so the publisher never waits.
        asyncio.get_running_loop().create_task(client.connection.close(CLOSE_TOO_SLOW, "too slow"))

    @staticmethod
    def _check_path(connection: ServerConnection, request: Request) -> Response | None:
        if urlsplit(request.path).path != "/ws":
            return Response(404, "Not Found", Headers([("Content-Type", "text/plain")]), b"use /ws\n")
        return None

    async def _serve(self, connection: ServerConnection) -> None:
        query = parse_qs(urlsplit(connection.request.path if connection.request else "").query)
        requested = [t for part in query.get("types", []) for t in part.split(",") if t]
        unknown = [t for t in requested if t not in EVENT_TYPES]
        if unknown:
            await connection.close(1008, f"unknown event types: {', '.join(unknown)}"[:120])
            return
        sock = connection.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        client = _Client(connection, asyncio.Queue(self._queue_size), frozenset(requested))
        self._clients.add(client)
        sender = asyncio.get_running_loop().create_task(self._send(client))
        client.tasks.append(sender)
        try:
            async for raw in connection:
                await self._on_message(client, raw)
        except ConnectionClosed:
            pass  # dropped as too slow, or the peer went away: either way this client is done
        finally:
            self._clients.discard(client)
            sender.cancel()

    async def _send(self, client: _Client) -> None:
        try:
            while True:
                frame = await client.queue.get()
                await client.connection.send(frame.decode())
                client.sent += 1
        except ConnectionClosed:
            pass

    async def _on_message(self, client: _Client, raw: Any) -> None:
        try:
            request = json.loads(raw)
        except (TypeError, ValueError):
            await client.connection.send(json.dumps({"error": "not JSON; send {\"subscribe\": [types]}"}))
            return
        if not isinstance(request, dict) or set(request) != {"subscribe"} or not isinstance(request["subscribe"], list):
            await client.connection.send(json.dumps(
                {"error": "only {\"subscribe\": [types]} is accepted; commands over WebSocket are off"}))
            return
        unknown = [t for t in request["subscribe"] if t not in EVENT_TYPES]
        if unknown:
            await client.connection.send(json.dumps({"error": f"unknown event types: {unknown}"}))
            return
        client.types = frozenset(request["subscribe"])
        await client.connection.send(json.dumps({"subscribed": sorted(client.types) or "all"}))
