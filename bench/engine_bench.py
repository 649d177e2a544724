"""Engine benchmark: quote → order submitted inside the Nautilus node, without LLM (`sextant bench engine`).

A real node (sim data client + Sandbox) streams quotes; a probe agent asks to flip the position on every 10th quote;
the autonomy gate is AUTO, so each intent takes the whole path: the agent's perceive on the ContextWindow record,
the compiler, the gate, our notional cap, the strategy's submit, Nautilus' RiskEngine and ExecEngine queues, the
Sandbox execution client, and back as an OrderSubmitted event to our event sink. Timestamps (wall clock, which is
the live node's clock) are taken at five points, per order:

    quote ts_init → our executor called → our executor returns (the order built, submitted by the strategy and
                  queued for the RiskEngine) → the Sandbox client's submit_order (the order leaves the node)
                  → OrderSubmitted reaches the event sink (what the bridge and the WebSocket see)

Our executor and the Sandbox client's submit_order are wrapped to take their timestamps; nothing else is changed.
The venue mark is the moment Nautilus submits the order: the Sandbox client's submit_order stamps the order's
OrderSubmitted event (its ts_event) as it hands the order to the venue. The event then reaches the event sink a
queue hop later, with the intent's held telemetry published ahead of it (docs/ws-protocol.md); the last row shows
that delivery, which trading does not wait for.
Between "queued" and "leaves" are Nautilus' RiskEngine and ExecEngine queue hops. Run at two loads:
1,000 quotes/s (speed 100) and 100 quotes/s (speed 10, about a busy real BBO feed), each for at least --seconds and
long enough for --min-orders orders (300: 30 s at 100 quotes/s). Target: p99 ≤ 1 ms to the venue.

The baseline at each load is the same node with nothing of Sextant's in it: a bare Nautilus strategy (BareFlip)
that flips the position with a market order on every 10th quote, timed to the same venue mark. It is what
Nautilus' own path (the data engine's queue, the order factory, the RiskEngine and ExecEngine hops) costs on this
machine at that load, so the table shows what Sextant adds on top.

Each load also runs a portfolio: the three OKX swaps of `--portfolio` streamed together (three times the quotes), a
probe on each, against the one-instrument figures above and against BareFlip flipping all three.

Both run as a live engine runs with `SEXTANT_LOW_LATENCY_IDLE=1`: the CPUs' wake-up latency held at 0 µs
(engine/idle.py), so a quote after a quiet spell does not first wait for a halted CPU. Where this process may not
hold it (not root), every row is on the host's idle and the header says so. Where it may, one more run per load
measures Sextant on the host's own idle, to show what the hold is worth; --host-idle-only measures only that way.

Sections (--sections, all by default):
  latency  the table above.
  readers  quote → order leaves the node at 1,000 quotes/s with an extra flood of events (--event-rate, about the
           rate that made 50 readers stall quotes before the stream's fan-out was rebuilt), with no reader, then 50
           WebSocket readers (--readers) at nice 19, then 50 at the engine's priority, with the ratios. Target: p99
           with the readers at nice 19 no more than 10 % above p99 without: that is what the stream costs the
           engine. At equal priority the readers' own reading competes for the same cores, which on a 2-CPU machine
           shows as much as the stream does; that row is printed beside it. The readers run in a child process on
           raw sockets that read and discard; orders in the first --warmup seconds (while they connect) are not
           counted.
  stall    the engine's event-loop stalls (engine/loop_monitor.py) over a --stall-seconds run with the LLM path
           active: the perception router escalating on every quote it may, to a local OpenAI-compatible stand-in
           (tests/fixtures/openai_standin.py) that answers after --llm-delay-ms; --llm-answer-bytes pads each answer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import selectors
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
import numpy as np
from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.strategy import Strategy

from sextant.config import DEFAULT_PORTFOLIO
from sextant.engine.config import EngineConfig
from sextant.engine.idle import CpuLatencyRequest
from sextant.engine.loop_monitor import StallStats
from sextant.engine.node import EngineParts, run_engine_async, running, venue_node
from sextant.state import messages
from sextant.state.bus import EventPublished
from sextant.swarm.intent import AgentIntent, RiskBudget

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET_US = 1000.0
READERS_TARGET_RATIO = 1.10  # p99 with readers / p99 without
SECTIONS = ("latency", "readers", "stall")
PROBE_EVERY = 10  # quotes per order
VENUE_COLUMN = 2  # measure()'s column that the target applies to


class FlipProbe:
    """Proposes a market flip of the position every `every` quotes, remembering which quote triggered it."""

    agent_id = "probe-01"

    def __init__(self, every: int) -> None:
        self.every = every
        self.seen = 0
        self.trigger_ns: dict[str, int] = {}

    def perceive(self, record: np.void, instrument: str, now_ns: int) -> AgentIntent | None:
        self.seen += 1
        if self.seen % self.every:
            return None
        intent_id = f"{self.agent_id}-{self.seen:07d}"
        self.trigger_ns[intent_id] = int(record["ts_ns"])
        target = -1.0 if float(record["position_size"]) > 0 else 1.0
        return AgentIntent(id=intent_id, agent=self.agent_id, kind="TrendFollow", instrument=instrument,
                           target_position=target, style="MARKET", confidence=0.9, created_ns=now_ns,
                           budget=RiskBudget(max_loss=1e9, max_position=2.0))


class BareFlipConfig(StrategyConfig, frozen=True):
    instrument_ids: tuple[str, ...] = ("BTC-USDT-SWAP.OKX",)
    every: int = PROBE_EVERY
    log_events: bool = False  # as the SwarmStrategy: no per-order INFO strings on the path
    log_commands: bool = False


class BareFlip(Strategy):
    """The baseline: Nautilus alone, with no Sextant component in the node. Every `every` quotes it flips the
    position with a market order, as FlipProbe does through the whole Sextant path, tagged the same way."""

    def __init__(self, config: BareFlipConfig) -> None:
        super().__init__(config)
        self._instrument_ids = [InstrumentId.from_str(value) for value in config.instrument_ids]
        self._seen: dict[InstrumentId, int] = dict.fromkeys(self._instrument_ids, 0)
        self.trigger_ns: dict[str, int] = {}

    def on_start(self) -> None:
        for instrument_id in self._instrument_ids:
            self.subscribe_quote_ticks(instrument_id)

    def on_stop(self) -> None:
        pass  # nothing to undo: the node is disposed after the run

    def on_quote_tick(self, tick: QuoteTick) -> None:
        instrument_id = tick.instrument_id
        self._seen[instrument_id] += 1
        seen = self._seen[instrument_id]
        if seen % self.config.every:
            return
        instrument = self.cache.instrument(instrument_id)
        position = float(self.portfolio.net_position(instrument_id) or 0)
        target = -1.0 if position > 0 else 1.0
        order_id = f"bare-{instrument_id.symbol}-{seen:07d}"
        self.trigger_ns[order_id] = tick.ts_init
        self.submit_order(self.order_factory.market(
            instrument_id, OrderSide.BUY if target > position else OrderSide.SELL,
            instrument.make_qty(abs(target - position)), tags=[f"intent:{order_id}"]))


def _time_venue(node: Any, marks: dict[str, dict[str, int]]) -> None:
    """Wrap each execution client's submit_order to take the "order leaves the node" mark, keyed by the order's
    intent tag."""
    engine = node.kernel.exec_engine
    for client_id in engine.registered_clients:
        client = engine._clients[client_id]
        submit = client.submit_order

        def timed_submit(command: Any, submit: Any = submit) -> Any:
            for tag in command.order.tags or ():
                if tag.startswith("intent:"):
                    marks.setdefault(tag[7:], {})["venue"] = time.time_ns()
            return submit(command)

        client.submit_order = timed_submit


def _instrument(parts: EngineParts, marks: dict[str, dict[str, int]], probes: list[FlipProbe]) -> None:
    executor = parts.strategy.executor
    execute = executor.execute

    def timed_execute(directive: Any) -> Any:
        mark = marks.setdefault(directive.intent_id, {})
        mark["execute"] = time.time_ns()
        result = execute(directive)
        mark["queued"] = time.time_ns()  # built, submitted, and on the RiskEngine's queue
        return result

    executor.execute = timed_execute  # type: ignore[method-assign]
    _time_venue(parts.node, marks)

    def listen(published: EventPublished) -> None:
        event = published.event
        if isinstance(event, messages.OrderSubmitted) and event.intent_id is not None and any(
                event.intent_id in probe.trigger_ns for probe in probes):
            marks.setdefault(event.intent_id, {}).setdefault("event", time.time_ns())

    parts.bus.subscribe(EventPublished, listen)


def measure(seconds: float, speed: float, *, low_latency_idle: bool,
            on_ready: Callable[[EngineParts], None] | None = None, counted_from_ns: Callable[[], int] | None = None,
            portfolio: tuple[str, ...] = ()) -> np.ndarray:
    """Rows of (quote → execute, quote → queued for the RiskEngine, quote → venue, quote → event) in µs, one per
    order; with `counted_from_ns`, only the orders whose quote came after the time it gives at the end. With a
    `portfolio`, its instruments stream together, a probe on each."""
    probes = [FlipProbe(every=PROBE_EVERY) for _ in portfolio or (None,)]
    for index, probe in enumerate(probes):
        probe.agent_id = f"probe-{index:02d}"
    marks: dict[str, dict[str, int]] = {}

    def ready(parts: EngineParts) -> None:
        _instrument(parts, marks, probes)
        if on_ready is not None:
            on_ready(parts)

    with tempfile.TemporaryDirectory(prefix="sextant-bench-") as folder:
        config = msgspec.structs.replace(_bench_config(folder, seconds, speed, low_latency_idle), portfolio=portfolio)
        parts = asyncio.run(run_engine_async(config, on_ready=ready, crews=[[probe] for probe in probes]))
        parts.node.dispose()
    since = counted_from_ns() if counted_from_ns is not None else 0
    points = ("execute", "queued", "venue", "event")
    triggers = {intent_id: ns for probe in probes for intent_id, ns in probe.trigger_ns.items()}
    rows = [[m[point] - triggers[i] for point in points] for i, m in marks.items()
            if set(points) <= set(m) and triggers.get(i, -1) >= since]
    return np.array(rows, np.float64) / 1e3


def _bench_config(folder: str, seconds: float, speed: float, low_latency_idle: bool) -> EngineConfig:
    return EngineConfig(context_path=str(Path(folder) / "c.mmap"), events_path=str(Path(folder) / "e.mmap"),
                        commands_path=str(Path(folder) / "k.mmap"), speed=speed, duration_s=seconds,
                        autonomy="AUTO", cooldown_secs=0.0, ws_port=0, max_order_submit_rate="1000/00:00:01",
                        low_latency_idle=low_latency_idle, node_log_level="ERROR")


def measure_bare(seconds: float, speed: float, *, low_latency_idle: bool,
                 portfolio: tuple[str, ...] = ()) -> np.ndarray:
    """The baseline: quote → order leaves the node (µs), one row per order, in the same node (sim data client,
    Sandbox, the same RiskEngine settings, run as the engine runs its node) with only BareFlip in it, flipping each
    of a `portfolio`'s instruments as the probes do."""
    marks: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="sextant-bench-") as folder:
        config = msgspec.structs.replace(_bench_config(folder, seconds, speed, low_latency_idle), portfolio=portfolio)

        async def run() -> tuple[Any, BareFlip]:
            node = venue_node(config)  # inside the running loop, as Nautilus wants
            strategy = BareFlip(BareFlipConfig(instrument_ids=portfolio or (config.instrument,)))
            node.trader.add_strategy(strategy)
            node.build()
            _time_venue(node, marks)
            async with running(node, low_latency_idle=config.low_latency_idle):
                await asyncio.sleep(seconds)
            return node, strategy

        node, strategy = asyncio.run(run())
        node.dispose()
    rows = [m["venue"] - strategy.trigger_ns[i] for i, m in marks.items() if "venue" in m]
    return np.array(rows, np.float64) / 1e3


# ------------------------------------------------------------------------------------------ WebSocket readers


def _handshake(sock: socket.socket, host: str, port: int) -> None:
    sock.sendall((f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: c2V4dGFudC1iZW5jaC0xNg==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    reply = b""
    while b"\r\n\r\n" not in reply:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("the stream closed the handshake")
        reply += chunk
    if not reply.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"the stream refused the handshake: {reply.splitlines()[0]!r}")


def reader_child(url: str, count: int) -> int:
    """`count` WebSocket readers on raw sockets that read and discard everything, until stdin closes; prints
    "ready" once all are connected, then the bytes they read. Cheap, so the readers keep up and the engine pays
    only for what its stream does for them."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    selector = selectors.DefaultSelector()
    sockets = []
    for _ in range(count):
        sock = socket.create_connection((host, port))
        _handshake(sock, host, port)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        sockets.append(sock)
    selector.register(sys.stdin, selectors.EVENT_READ)
    print("ready", flush=True)
    received = 0
    while True:
        for key, _ in selector.select():
            if key.fileobj is sys.stdin:
                print(received, flush=True)
                return 0
            try:
                chunk = key.fileobj.recv(1 << 20)  # type: ignore[union-attr]
            except BlockingIOError:
                continue
            if not chunk:
                selector.unregister(key.fileobj)
            received += len(chunk)


class Readers:
    """The reader child, started from inside the engine's loop without blocking it."""

    def __init__(self, count: int, niceness: int = 0) -> None:
        self.count = count
        self.niceness = niceness  # 19: the readers take only CPU the engine leaves
        self.attached_ns = 0
        self.received = 0
        self._child: subprocess.Popen[str] | None = None

    def attach(self, url: str) -> None:
        self._child = subprocess.Popen(["nice", "-n", str(self.niceness), sys.executable,
                                        str(Path(__file__).resolve()), "--reader-child", url, str(self.count)],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                       env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
        asyncio.get_running_loop().create_task(self._wait_ready())

    async def _wait_ready(self) -> None:
        assert self._child is not None and self._child.stdout is not None
        line = await asyncio.to_thread(self._child.stdout.readline)
        if line.strip() == "ready":
            self.attached_ns = time.time_ns()

    def detach(self) -> None:
        if self._child is None:
            return
        out, _ = self._child.communicate(timeout=10)  # closing stdin tells it to stop
        lines = out.split()
        self.received = int(lines[-1]) if lines and lines[-1].isdigit() else 0


def _flood(parts: EngineParts, rate_per_s: float) -> None:
    """Extra events at `rate_per_s`, in bursts every 10 ms, as the crew's status lines (about 450 bytes each)."""
    if rate_per_s <= 0:
        return
    loop = asyncio.get_running_loop()
    per_burst = max(1, round(rate_per_s / 100))
    task = "flood " + "x" * 400

    def burst() -> None:
        for _ in range(per_burst):
            parts.sink.publish(messages.CrewStatus(agent="bench-flood", state="ACTIVE", task=task), time.time_ns())
        loop.call_later(0.01, burst)

    loop.call_later(0.01, burst)


def measure_with_readers(seconds: float, readers: int, event_rate: float, warmup_s: float, *,
                         low_latency_idle: bool, niceness: int = 0) -> tuple[np.ndarray, Readers, dict[str, int]]:
    """quote → order leaves the node (µs) at 1,000 quotes/s with `readers` WebSocket readers attached (0: none)."""
    attached = Readers(readers, niceness)
    state = {"started_ns": 0, "dropped": 0, "clients": 0}

    def ready(parts: EngineParts) -> None:
        state["started_ns"] = time.time_ns()
        _flood(parts, event_rate)
        if readers:
            attached.attach(parts.stream.url)
        loop = asyncio.get_running_loop()
        loop.call_later(max(seconds - 0.5, 0.1), lambda: state.update(dropped=parts.stream.dropped_clients,
                                                                     clients=parts.stream.clients))

    def counted_from() -> int:
        since = state["started_ns"] + int(warmup_s * 1e9)
        return max(since, attached.attached_ns + int(0.5e9)) if readers else since

    try:
        rows = measure(seconds, 100.0, low_latency_idle=low_latency_idle, on_ready=ready, counted_from_ns=counted_from)
    finally:
        attached.detach()
    if readers and not attached.attached_ns:
        raise RuntimeError("the WebSocket readers never connected")
    return rows[:, VENUE_COLUMN] if len(rows) else rows, attached, state


def section_readers(args: argparse.Namespace, low_latency_idle: bool) -> bool:
    """No reader; the readers at nice 19, so that they take only CPU the engine leaves and the ratio is what the
    stream itself costs the engine (the target's row); the readers at the engine's own priority, where on a small
    machine their reading competes with the engine for the same cores. The three are interleaved over --rounds
    rounds and each one's orders pooled, so that the machine's drift falls on all three alike."""
    seconds = args.warmup + max(args.seconds, args.min_orders / 100)
    print(f"\nquote → order leaves the node, 1,000 quotes/s + {args.event_rate:,.0f} extra events/s, WebSocket "
          f"readers attached or not (µs; {os.cpu_count()} CPUs, {args.rounds} interleaved rounds pooled)")
    print(f"  {'readers':<26} {'orders':>7} {'median':>8} {'p99':>8}  notes")
    runs = (("none", 0, 0), (f"{args.readers}, at nice 19", args.readers, 19),
            (f"{args.readers}, at the engine's", args.readers, 0))
    pooled: dict[str, list[np.ndarray]] = {label: [] for label, _, _ in runs}
    notes: dict[str, list[str]] = {label: [] for label, _, _ in runs}
    for _ in range(args.rounds):
        for label, count, niceness in runs:
            latencies, attached, state = measure_with_readers(seconds, count, args.event_rate, args.warmup,
                                                              low_latency_idle=low_latency_idle, niceness=niceness)
            pooled[label].append(latencies)
            if count:
                notes[label].append(f"{state['clients']}/{state['dropped']}/{attached.received / 1e6:,.0f}")
    figures: dict[str, tuple[float, float]] = {}
    for label, parts in pooled.items():
        latencies = np.concatenate(parts)
        if not len(latencies):
            print(f"  {label:<26} no order was submitted; nothing measured")
            return False
        p50, p99 = (float(np.percentile(latencies, q)) for q in (50, 99))
        figures[label] = (p50, p99)
        note = f"attached/closed as too slow/MB read: {', '.join(notes[label])}" if notes[label] else ""
        print(f"  {label:<26} {len(latencies):>7} {p50:>8.0f} {p99:>8.0f}  {note}")
    (base50, base99), (own50, own99), (shared50, shared99) = figures.values()
    ratio = own99 / base99
    verdict = "PASS" if ratio <= READERS_TARGET_RATIO else "MISS"
    print(f"  the stream's cost, {args.readers} readers at nice 19 / none: ×{own50 / base50:.2f} median, "
          f"×{ratio:.2f} p99 (target ≤ ×{READERS_TARGET_RATIO:.2f} at p99)  {verdict}")
    print(f"  readers sharing the CPUs at the engine's priority / none: ×{shared50 / base50:.2f} median, "
          f"×{shared99 / base99:.2f} p99")
    return ratio <= READERS_TARGET_RATIO


# ------------------------------------------------------------------------------------------- loop stalls, LLM on


def section_stall(args: argparse.Namespace, low_latency_idle: bool) -> bool:
    sys.path.insert(0, str(REPO_ROOT))  # the stand-in server is a test fixture of the source checkout
    from sextant.swarm.agents.risk import RiskAgent
    from sextant.swarm.llm import LlmClient
    from sextant.swarm.router import PerceptionConfig, PerceptionRouter
    from tests.fixtures.llm_toml import local_llm_config
    from tests.fixtures.openai_standin import OpenAIStandin, Rule

    answer = {"action": "BUY", "confidence": 0.8, "reasoning": "bids are stacking" + " " * args.llm_answer_bytes}
    with tempfile.TemporaryDirectory(prefix="sextant-bench-") as folder, \
            OpenAIStandin([Rule(match="model", content=answer, delay_s=args.llm_delay_ms / 1e3)]) as standin:
        llm = LlmClient(local_llm_config(Path(folder), standin.url), deadline_s=10.0, max_retries=0)
        # Unsure rules (a huge momentum threshold) and no cache or spend cap: it escalates whenever it may.
        router = PerceptionRouter(PerceptionConfig(momentum_z=1e9, retry_after_failure_s=0.0, cache_ttl_s=0.0,
                                                   answer_ttl_s=0.0, tokens_per_hour=10**9, usd_per_hour=1e9), llm)
        config = _bench_config(folder, args.warmup + args.stall_seconds, 10.0, low_latency_idle)
        whole_run: list[StallStats] = []

        def ready(parts: EngineParts) -> None:
            # The start (the collector's full pass before the node runs, the node's own start) is a one-off: the
            # steady state is counted from the end of the warm-up.
            def restart() -> None:
                whole_run.append(parts.loop_monitor.stats)
                parts.loop_monitor.stats = StallStats()
            asyncio.get_running_loop().call_later(args.warmup, restart)

        parts = asyncio.run(run_engine_async(config, on_ready=ready, agents=[RiskAgent(), router]))
        parts.node.dispose()
        requests = len(standin.requests)
    stats = parts.loop_monitor.stats
    start_max = max((s.max_s for s in whole_run), default=0.0)
    print(f"\nevent-loop stalls over {args.stall_seconds:g} s after a {args.warmup:g} s warm-up, 100 quotes/s, the LLM "
          f"path active ({requests} requests to the stand-in, {args.llm_delay_ms:g} ms each, answers of "
          f"{len(str(answer)) / 1e3:,.1f} kB)")
    print(f"  longest {stats.max_s * 1e3:.1f} ms, p99 {stats.percentile(99) * 1e3:.2f} ms, median "
          f"{stats.percentile(50) * 1e3:.2f} ms ({stats.count} samples, every "
          f"{parts.loop_monitor.interval_s * 1e3:g} ms); the warm-up's longest, the start included: "
          f"{start_max * 1e3:.1f} ms")
    return requests > 0


# ---------------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--reader-child"]:
        return reader_child(argv[1], int(argv[2]))
    parser = argparse.ArgumentParser(prog="sextant bench engine", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated, of {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--seconds", type=float, default=12.0, help="per load, at least")
    parser.add_argument("--min-orders", type=int, default=300,
                        help="run each load long enough for this many orders, so its p99 is not just the largest two")
    parser.add_argument("--host-idle-only", action="store_true",
                        help="skip the low-latency idle runs: measure with the host's own idle only")
    parser.add_argument("--readers", type=int, default=50, help="readers: how many WebSocket readers to attach")
    parser.add_argument("--rounds", type=int, default=3, help="readers: interleaved rounds of the three runs")
    parser.add_argument("--event-rate", type=float, default=2000.0, help="readers: extra events per second")
    parser.add_argument("--warmup", type=float, default=3.0, help="readers, stall: seconds not counted at the start")
    parser.add_argument("--stall-seconds", type=float, default=60.0, help="stall: how long to run")
    parser.add_argument("--llm-delay-ms", type=float, default=50.0, help="stall: the stand-in's answer delay")
    parser.add_argument("--llm-answer-bytes", type=int, default=0, help="stall: padding in each answer")
    args = parser.parse_args(argv)
    sections = [name.strip() for name in args.sections.split(",") if name.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown or not sections:
        parser.error(f"--sections: unknown {', '.join(unknown) or 'none given'}; use some of {', '.join(SECTIONS)}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.readers < 1 or args.event_rate < 0 or args.warmup < 0 or args.stall_seconds <= 0:
        parser.error("--readers must be at least 1, --event-rate and --warmup 0 or more, --stall-seconds positive")
    if args.host_idle_only:
        low_latency_idle, header = False, "low-latency idle: not requested (--host-idle-only)"
    else:
        with CpuLatencyRequest() as probe:  # can this process hold the request? (each run takes its own)
            low_latency_idle, header = probe.held, probe.describe()
    print(f"\n{header}")
    ok = True
    if "latency" in sections:
        ok &= section_latency(args, low_latency_idle)
    if "readers" in sections:
        ok &= section_readers(args, low_latency_idle)
    if "stall" in sections:
        ok &= section_stall(args, low_latency_idle)
    return 0 if ok else 1


def section_latency(args: argparse.Namespace, low_latency_idle: bool) -> bool:
    ok = True
    print(f"{'quote → … inside the node (µs)':<44} {'median':>8} {'p99':>8}  {'target':>14}  verdict")
    for speed in (100.0, 10.0):
        orders_per_s = 10 * speed / PROBE_EVERY  # the model's quotes are 0.1 s apart
        seconds = max(args.seconds, args.min_orders / orders_per_s)
        rows = measure(seconds, speed, low_latency_idle=low_latency_idle)
        if not len(rows):
            print(f"speed {speed:g}: no order was submitted; nothing measured")
            return False
        bare = measure_bare(seconds, speed, low_latency_idle=low_latency_idle)
        host_idle = measure(seconds, speed, low_latency_idle=False)[:, VENUE_COLUMN] if low_latency_idle else None
        print(f"{10 * speed:,.0f} quotes/s, {len(rows)} orders:")
        for column, name in enumerate(("our executor called", "order built, queued for the RiskEngine",
                                       "order leaves the node (venue client)", "OrderSubmitted at the event sink")):
            p50, p99 = (float(np.percentile(rows[:, column], q)) for q in (50, 99))
            verdict, target = "", ""
            if column == VENUE_COLUMN:
                target = f"p99 ≤ {TARGET_US:.0f}"
                verdict = "PASS" if p99 <= TARGET_US else f"MISS by {p99 - TARGET_US:.0f} µs"
                ok &= p99 <= TARGET_US
            print(f"  {name:<42} {p50:>8.0f} {p99:>8.0f}  {target:>14}  {verdict}")
        if len(bare):
            base50, base99 = (float(np.percentile(bare, q)) for q in (50, 99))
            ours50, ours99 = (float(np.percentile(rows[:, VENUE_COLUMN], q)) for q in (50, 99))
            print(f"  {'baseline: Nautilus alone, order leaves':<42} {base50:>8.0f} {base99:>8.0f}  "
                  f"{'':>14}  Sextant adds {ours50 - base50:.0f} µs median, ×{ours99 / base99:.2f} at p99 "
                  f"({len(bare)} orders)")
        three = measure(seconds, speed, low_latency_idle=low_latency_idle, portfolio=DEFAULT_PORTFOLIO)
        bare_three = measure_bare(seconds, speed, low_latency_idle=low_latency_idle, portfolio=DEFAULT_PORTFOLIO)
        if len(three) and len(bare_three):
            ours50, ours99 = (float(np.percentile(rows[:, VENUE_COLUMN], q)) for q in (50, 99))
            three50, three99 = (float(np.percentile(three[:, VENUE_COLUMN], q)) for q in (50, 99))
            bare50, bare99 = (float(np.percentile(bare_three, q)) for q in (50, 99))
            print(f"  {'3 instruments (3× the quotes), order leaves':<42} {three50:>8.0f} {three99:>8.0f}  "
                  f"{'':>14}  ×{three50 / ours50:.2f} median, ×{three99 / ours99:.2f} p99 of one instrument's "
                  f"({len(three)} orders)")
            print(f"  {'3 instruments: Nautilus alone, order leaves':<42} {bare50:>8.0f} {bare99:>8.0f}  "
                  f"{'':>14}  Sextant adds {three50 - bare50:.0f} µs median ({len(bare_three)} orders)")
        if host_idle is not None and len(host_idle):
            idle50, idle99 = (float(np.percentile(host_idle, q)) for q in (50, 99))
            within = "within" if idle99 <= TARGET_US else "over"
            print(f"  {'order leaves, with the host idle instead':<42} {idle50:>8.0f} {idle99:>8.0f}  {'':>14}  "
                  f"{within} the target without the hold ({len(host_idle)} orders)")
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
