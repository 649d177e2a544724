"""The WebSocket event stream: ws://127.0.0.1:<SEXTANT_WS_PORT>/ws (protocol: docs/ws-protocol.md).

Every engine event goes out as JSON {"type", "ts_ns", "seq", "data"}. A client may subscribe to a subset of types
with `?types=A,B` in the URL or by sending {"subscribe": ["A", "B"]} (an empty list means everything).

The fan-out costs the engine's loop as little as the clients allow, whatever their number. `publish` serialises an
event once, into the finished WebSocket frame (a server's frames are unmasked, so every client gets the same
bytes), and appends it to one shared log: O(1) per event, nothing per client. A pump, scheduled once per burst,
hands each client the frames between its cursor and the log's head in one write, one client per loop step so that
a quote waits for one client's write at most, and under a sustained flow goes round at most every 20 ms, so that
the writes stay few and large; clients level with each other share the joined bytes, and a
subscription is applied by the frame's type name, never by decoding it. A client whose transport still holds
unsent bytes gets no more until it drains; one that falls more than `backlog_budget_bytes` behind is closed with
1013 ("too slow") and its backlog dropped. The engine never waits for a client.

A handshake whose Origin header is not in `allowed_origins` is refused with HTTP 403: a web page in the user's
browser must not read positions and PnL. Clients that send no Origin (the bridge, the CLI, scripts) are accepted.

Commands over the WebSocket are off (docs/ws-protocol.md); anything a client sends other than a subscription is
answered with an error frame and otherwise ignored. The server binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from sextant.state import messages
from sextant.state.bus import EventPublished

CLOSE_TOO_SLOW = 1013
# About a second of a 5k-events/s flood of ~400-byte events: a healthy reader rides out a long pause of its own
# (or of the engine's interpreter), and a stalled one pins no more than this.
DEFAULT_BACKLOG_BUDGET = 2 * 1024 * 1024
# A modest kernel send buffer per client bounds the memory a stalled client can pin and lets its backlog reveal the
# stall within a second or two, instead of after several megabytes of autotuned buffer.
SEND_BUFFER_BYTES = 256 * 1024
# How long a client closed as too slow gets to read what is already on its socket and the close frame; long
# enough that a reader which was merely paused learns why (1013), short enough to free the connection.
TOO_SLOW_CLOSE_TIMEOUT_S = 5.0
# Under a sustained flow, the pump goes round the clients at most this often: fewer, larger writes (each a socket
# send on the engine's loop), at the price of this much delay on the stream. A quiet stream is served at once.
PUMP_INTERVAL_S = 0.02
EVENT_TYPES = frozenset(t.__name__ for t in messages.EVENT_TYPES)
_ENCODER = msgspec.json.Encoder()


def text_frame(payload: bytes) -> bytes:
    """A complete, unmasked, final WebSocket text frame (RFC 6455 §5.2): what a server sends, the same for every
    client."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x81, 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 127, length)
    return header + payload


def encode_event(event: messages.Event, seq: int, ts_ns: int) -> bytes:
    """The event's JSON envelope (docs/ws-protocol.md)."""
    return _ENCODER.encode(messages.to_wire(event, seq=seq, ts_ns=ts_ns))


@dataclass(eq=False)
class _Client:
    connection: ServerConnection
    types: frozenset[str]  # empty: every type
    cursor: int  # absolute index of the next frame of the log this client has not been handed
    cursor_bytes: int  # the log's cumulative byte count at the cursor
    closed: bool = False
    sent: int = 0  # frames handed to the transport


class _FrameLog:
    """The frames published since the slowest client's cursor: frame i (absolute) is frames[i - base]; ends[k] is the
    cumulative byte count after frames[k], so any client's backlog is one subtraction."""

    def __init__(self) -> None:
        self.base = 0
        self.types: list[str] = []
        self.frames: list[bytes] = []
        self.ends: list[int] = []
        self.total_bytes = 0

    @property
    def head(self) -> int:
        return self.base + len(self.frames)

    def append(self, type_name: str, frame: bytes) -> None:
        self.total_bytes += len(frame)
        self.types.append(type_name)
        self.frames.append(frame)
        self.ends.append(self.total_bytes)

    def trim(self, oldest_cursor: int) -> None:
        drop = oldest_cursor - self.base
        if drop > 0:
            del self.types[:drop], self.frames[:drop], self.ends[:drop]
            self.base = oldest_cursor


class EventStream:
    def __init__(self, host: str = "127.0.0.1", port: int = 8765, *,
                 allowed_origins: Iterable[str] = (), backlog_budget_bytes: int = DEFAULT_BACKLOG_BUDGET,
                 encode: Callable[[messages.Event, int, int], bytes] = encode_event) -> None:
        self._host = host
        self._port = port
        self._allowed_origins = frozenset(allowed_origins)
        self._budget = backlog_budget_bytes
        self._encode = encode
        self._server: Server | None = None
        self._clients: list[_Client] = []
        self._log = _FrameLog()
        self._pump_at = 0  # the next client the pump serves
        self._pump_handle: asyncio.Handle | asyncio.TimerHandle | None = None
        self._joined: tuple[tuple[int, int, frozenset[str]], list[bytes], bytes] | None = None  # the last batch built
        self.dropped_clients = 0
        self.refused_origins = 0

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
        self._server = await serve(self._serve, self._host, self._port, process_request=self._check_request,
                                   compression=None, max_size=64 * 1024, close_timeout=1.0)

    async def stop(self) -> None:
        if self._pump_handle is not None:
            self._pump_handle.cancel()
            self._pump_handle = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def on_event(self, published: EventPublished) -> None:
        """Each engine event, from the bus."""
        self.publish(published.event, published.seq, published.ts_ns)

    def publish(self, event: messages.Event, seq: int, ts_ns: int) -> None:
        """Serialise once, append to the shared log, never block."""
        if not self._clients:
            return
        self._log.append(type(event).__name__, text_frame(self._encode(event, seq, ts_ns)))
        if self._pump_handle is None:
            self._pump_handle = asyncio.get_running_loop().call_soon(self._pump)

    def _pump(self) -> None:
        """Serve one client, then yield the loop to whatever is ready (a quote) before the next one."""
        self._pump_handle = None
        loop = asyncio.get_running_loop()
        log = self._log
        if self._pump_at < len(self._clients):
            self._serve_client(self._clients[self._pump_at])
            self._pump_at += 1
            self._pump_handle = loop.call_soon(self._pump)
            return
        # A round is done: free what every client has been handed, and go round again while any is behind.
        self._pump_at = 0
        log.trim(min((client.cursor for client in self._clients), default=log.head))
        if any(client.cursor < log.head for client in self._clients):
            self._pump_handle = loop.call_later(PUMP_INTERVAL_S, self._pump)

    def _serve_client(self, client: _Client) -> None:
        log = self._log
        if client.closed or client.cursor >= log.head:
            return
        transport = client.connection.transport
        unsent = transport.get_write_buffer_size()
        if unsent:
            # Still draining what it was handed: no more for now, and closed once it is too far behind. (A client
            # whose socket took everything it was handed has kept up, however much the pump's pacing let pile up.)
            if log.total_bytes - client.cursor_bytes + unsent > self._budget:
                self._drop(client)
            return
        if client.connection.protocol.state is not State.OPEN:
            return
        key = (client.cursor, log.head, client.types)
        if self._joined is None or self._joined[0] != key:  # clients level with each other share one batch
            start = client.cursor - log.base
            if client.types:
                frames = [frame for type_name, frame in zip(log.types[start:], log.frames[start:], strict=True)
                          if type_name in client.types]
            else:
                frames = log.frames[start:]
            self._joined = (key, frames, b"".join(frames))
        _, frames, batch = self._joined
        client.cursor, client.cursor_bytes = log.head, log.total_bytes
        if batch:
            transport.write(batch)
            client.sent += len(frames)

    def _drop(self, client: _Client) -> None:
        client.closed = True
        self.dropped_clients += 1
        self._remove(client)
        client.connection.close_timeout = TOO_SLOW_CLOSE_TIMEOUT_S
        # Closing waits for the peer; do it in the background so the publisher never waits.
        asyncio.get_running_loop().create_task(client.connection.close(CLOSE_TOO_SLOW, "too slow"))

    def _remove(self, client: _Client) -> None:
        if client in self._clients:
            index = self._clients.index(client)
            self._clients.remove(client)
            if index < self._pump_at:
                self._pump_at -= 1
        if not self._clients:
            self._log.trim(self._log.head)

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if urlsplit(request.path).path != "/ws":
            return connection.respond(404, "use /ws\n")
        origins = request.headers.get_all("Origin")
        if len(origins) > 1:
            self.refused_origins += 1
            return connection.respond(403, "more than one Origin header; send one, or none\n")
        if origins and origins[0] not in self._allowed_origins:
            self.refused_origins += 1
            shown = origins[0][:100].encode("ascii", "replace").decode()
            return connection.respond(403, f"Origin {shown} is not allowed. The stream accepts clients that send no "
                                            f"Origin, and the origins listed in SEXTANT_WS_ALLOWED_ORIGINS.\n")
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
        client = _Client(connection, frozenset(requested), cursor=self._log.head, cursor_bytes=self._log.total_bytes)
        self._clients.append(client)
        try:
            async for raw in connection:
                await self._on_message(client, raw)
        except ConnectionClosed:
            pass  # closed as too slow, or the peer went away: either way this client is done
        finally:
            client.closed = True
            self._remove(client)

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

