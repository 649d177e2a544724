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

Both run as a live engine runs with `SEXTANT_LOW_LATENCY_IDLE=1`: the CPUs' wake-up latency held at 0 µs
(engine/idle.py), so a quote after a quiet spell does not first wait for a halted CPU. Where this process may not
hold it (not root), every row is on the host's idle and the header says so. Where it may, one more run per load
measures Sextant on the host's own idle, to show what the hold is worth; --host-idle-only measures only that way.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.strategy import Strategy

from sextant.engine.config import EngineConfig
from sextant.engine.idle import CpuLatencyRequest
from sextant.engine.node import EngineParts, run_engine_async, running, venue_node
from sextant.state import messages
from sextant.swarm.intent import AgentIntent, RiskBudget

TARGET_US = 1000.0
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
        intent_id = f"probe-{self.seen:07d}"
        self.trigger_ns[intent_id] = int(record["ts_ns"])
        target = -1.0 if float(record["position_size"]) > 0 else 1.0
        return AgentIntent(id=intent_id, agent=self.agent_id, kind="TrendFollow", instrument=instrument,
                           target_position=target, style="MARKET", confidence=0.9, created_ns=now_ns,
                           budget=RiskBudget(max_loss=1e9, max_position=2.0))


class BareFlipConfig(StrategyConfig, frozen=True):
    instrument_id: str = "BTC-USDT-SWAP.OKX"
    every: int = PROBE_EVERY
    log_events: bool = False  # as the SwarmStrategy: no per-order INFO strings on the path
    log_commands: bool = False


class BareFlip(Strategy):
    """The baseline: Nautilus alone, with no Sextant component in the node. Every `every` quotes it flips the
    position with a market order, as FlipProbe does through the whole Sextant path, tagged the same way."""

    def __init__(self, config: BareFlipConfig) -> None:
        super().__init__(config)
        self._instrument_id = InstrumentId.from_str(config.instrument_id)
        self._seen = 0
        self.trigger_ns: dict[str, int] = {}

    def on_start(self) -> None:
        self.subscribe_quote_ticks(self._instrument_id)

    def on_stop(self) -> None:
        pass  # nothing to undo: the node is disposed after the run

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self._seen += 1
        if self._seen % self.config.every:
            return
        instrument = self.cache.instrument(self._instrument_id)
        position = float(self.portfolio.net_position(self._instrument_id) or 0)
        target = -1.0 if position > 0 else 1.0
        order_id = f"bare-{self._seen:07d}"
        self.trigger_ns[order_id] = tick.ts_init
        self.submit_order(self.order_factory.market(
            self._instrument_id, OrderSide.BUY if target > position else OrderSide.SELL,
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


def _instrument(parts: EngineParts, marks: dict[str, dict[str, int]], probe: FlipProbe) -> None:
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

    def listen(event: messages.Event, seq: int, ts_ns: int) -> None:
        if isinstance(event, messages.OrderSubmitted) and event.intent_id in probe.trigger_ns:
            marks.setdefault(event.intent_id, {}).setdefault("event", time.time_ns())

    parts.sink.add_listener(listen)


def measure(seconds: float, speed: float, *, low_latency_idle: bool) -> np.ndarray:
    """Rows of (quote → execute, quote → queued for the RiskEngine, quote → venue, quote → event) in µs, one per
    order."""
    probe = FlipProbe(every=PROBE_EVERY)
    marks: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="sextant-bench-") as folder:
        config = _bench_config(folder, seconds, speed, low_latency_idle)
        parts = asyncio.run(run_engine_async(config, on_ready=lambda p: _instrument(p, marks, probe), agents=[probe]))
        parts.node.dispose()
    points = ("execute", "queued", "venue", "event")
    rows = [[m[point] - probe.trigger_ns[i] for point in points] for i, m in marks.items() if set(points) <= set(m)]
    return np.array(rows, np.float64) / 1e3


def _bench_config(folder: str, seconds: float, speed: float, low_latency_idle: bool) -> EngineConfig:
    return EngineConfig(context_path=str(Path(folder) / "c.mmap"), events_path=str(Path(folder) / "e.mmap"),
                        commands_path=str(Path(folder) / "k.mmap"), speed=speed, duration_s=seconds,
                        autonomy="AUTO", cooldown_secs=0.0, ws_port=0, max_order_submit_rate="1000/00:00:01",
                        low_latency_idle=low_latency_idle, node_log_level="ERROR")


def measure_bare(seconds: float, speed: float, *, low_latency_idle: bool) -> np.ndarray:
    """The baseline: quote → order leaves the node (µs), one row per order, in the same node (sim data client,
    Sandbox, the same RiskEngine settings, run as the engine runs its node) with only BareFlip in it."""
    marks: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="sextant-bench-") as folder:
        config = _bench_config(folder, seconds, speed, low_latency_idle)

        async def run() -> tuple[Any, BareFlip]:
            node = venue_node(config)  # inside the running loop, as Nautilus wants
            strategy = BareFlip(BareFlipConfig(instrument_id=config.instrument))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sextant bench engine", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=12.0, help="per load, at least")
    parser.add_argument("--min-orders", type=int, default=300,
                        help="run each load long enough for this many orders, so its p99 is not just the largest two")
    parser.add_argument("--host-idle-only", action="store_true",
                        help="skip the low-latency idle runs: measure with the host's own idle only")
    args = parser.parse_args(argv)
    if args.host_idle_only:
        low_latency_idle, header = False, "low-latency idle: not requested (--host-idle-only)"
    else:
        with CpuLatencyRequest() as probe:  # can this process hold the request? (each run takes its own)
            low_latency_idle, header = probe.held, probe.describe()
    print(f"\n{header}")
    ok = True
    print(f"{'quote → … inside the node (µs)':<44} {'median':>8} {'p99':>8}  {'target':>14}  verdict")
    for speed in (100.0, 10.0):
        orders_per_s = 10 * speed / PROBE_EVERY  # the model's quotes are 0.1 s apart
        seconds = max(args.seconds, args.min_orders / orders_per_s)
        rows = measure(seconds, speed, low_latency_idle=low_latency_idle)
        if not len(rows):
            print(f"speed {speed:g}: no order was submitted; nothing measured")
            return 1
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
        if host_idle is not None and len(host_idle):
            idle50, idle99 = (float(np.percentile(host_idle, q)) for q in (50, 99))
            within = "within" if idle99 <= TARGET_US else "over"
            print(f"  {'order leaves, with the host idle instead':<42} {idle50:>8.0f} {idle99:>8.0f}  {'':>14}  "
                  f"{within} the target without the hold ({len(host_idle)} orders)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
