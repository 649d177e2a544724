"""`sextant sim`: a scene's market (or the seeded model's) through a fresh Nautilus BacktestEngine with the full
crew, on a simulated clock, as fast as the machine allows.

The parts are the live engine's own (`node.build_components`): the StateEncoder writing a ContextWindow, the
SwarmStrategy with the default crew and the autonomy gate, the TWAP algorithm, our notional cap and Nautilus'
RiskEngine, only the venue is Nautilus' simulated exchange and the clock is the data's. No human is there to
approve, so the gate runs in AUTO; LLM escalation is off (rules only), so a run is a function of the seed and the
data.

The event log is every engine event but Heartbeat (which carries the process id and the uptime), one JSON line each
in the WebSocket envelope; its SHA-256 is the run's fingerprint: the same scene, seed and config give the same
hash, in any process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np
from nautilus_trader.config import RiskEngineConfig
from nautilus_trader.core.data import Data
from nautilus_trader.examples.algorithms.twap import TWAPExecAlgorithm
from nautilus_trader.model.data import Bar, QuoteTick, TradeTick
from nautilus_trader.model.instruments import Instrument

from sextant.config import DEFAULT_PORTFOLIO
from sextant.engine.config import EngineConfig, EngineSecrets
from sextant.engine.events import EventSink
from sextant.engine.node import (
    TRADER_ID,
    TradedInstrument,
    attach_recorder,
    build_components,
    default_crews,
    new_recorder,
    trust_agents,
    trust_link,
)
from sextant.market.catalog import check_on_tick, open_market
from sextant.market.columns import DataError, DataKind
from sextant.market.instrument import okx_linear_swap
from sextant.market.model import MarketModel, MarketModelConfig
from sextant.market.portfolio import PortfolioModel, PortfolioModelConfig, okx_portfolio
from sextant.market.simulated_venue import backtest_engine, quote_ticks
from sextant.market.sizing import base_size_worth
from sextant.replay.format import SceneError, read_metadata, read_quotes
from sextant.state import messages
from sextant.state.bus import Bus, ContextCommitted, EventPublished, TimerTick
from sextant.state.context import ContextWriter
from sextant.state.layout import HullDimension, Venue
from sextant.trust.chain import ChainError
from sextant.trust.child import attest_handoff

SIM_START_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z: a model run's clock starts here
EXCLUDED_FROM_LOG = (messages.Heartbeat,)
CONCENTRATION = int(HullDimension.CONCENTRATION)


@dataclass(slots=True)
class SimSummary:
    quotes: int = 0  # rows of data: quotes, or bars
    data_kind: str = "quotes"
    sim_seconds: float = 0.0
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    orders: int = 0
    fills: int = 0
    trades: int = 0  # intents executed
    approvals: int = 0
    vetoes: int = 0
    risk_alerts: int = 0
    risk_vetoes: int = 0
    currency: str = "USDT"  # the account's: the instrument's settlement currency
    instrument: str = ""
    base_size: float = 0.0
    realized_pnl: float = 0.0
    unrealized_pnl: float = 0.0
    final_position: float = 0.0
    max_position: float = 0.0
    max_drawdown: float = 0.0
    max_risk_total: float = 0.0
    events: int = 0
    # a portfolio's: per instrument (id, base size, trades, fills, final position, PnL), and the account's peaks
    instruments: list[dict[str, object]] = field(default_factory=list)
    max_abs_net_delta: float = 0.0
    max_concentration: float = 0.0
    max_leverage: float = 0.0
    estop: str = "RELEASED"  # at the end
    event_log_sha256: str = ""
    event_counts: dict[str, int] = field(default_factory=dict)
    outcomes: list[dict[str, object]] = field(default_factory=list)  # each closed decision (engine/outcomes.py)
    # with --attest: the journal's counts once everything is on chain (mined, failed; requested validations)
    attested: dict[str, int] = field(default_factory=dict)
    attest_error: str = ""  # why attesting failed, if it did

    @property
    def quotes_per_cpu_second(self) -> float:
        return self.quotes / self.cpu_seconds if self.cpu_seconds > 0 else 0.0

    def table(self) -> str:
        rows = [
            ("data", f"{self.quotes:,} {self.data_kind} ({self.sim_seconds:,.0f} s simulated)"),
            ("speed", f"{self.quotes_per_cpu_second:,.0f} {self.data_kind} per CPU-second ({self.wall_seconds:.1f} s "
                      f"wall)"),
            ("instrument", f"{self.instrument}, base size {self.base_size:g}"),
            ("PnL", f"realised {self.realized_pnl:+,.2f} {self.currency}, unrealised {self.unrealized_pnl:+,.2f} "
                    f"{self.currency}"),
            ("trades",
             f"{self.trades} executed ({self.approvals} approvals), {self.orders} orders, {self.fills} fills"),
            ("vetoes", f"{self.vetoes} (risk alerts {self.risk_alerts}, of which VETO {self.risk_vetoes})"),
            ("max drawdown", f"{self.max_drawdown:.2%}"),
            ("risk excursion", f"peak field U = {self.max_risk_total:.2f}" if np.isfinite(self.max_risk_total)
             else "peak field U = ∞ (a reading reached its limit)"),
            ("position", f"final {self.final_position:+g}, largest {self.max_position:g} (in the instrument's units)"),
            ("event log", f"{self.events} events, sha256 {self.event_log_sha256}"),
        ]
        if len(self.instruments) > 1:
            rows[2:3] = [("instruments", f"{len(self.instruments)}: " + ", ".join(
                f"{each['instrument']} base size {each['base_size']:g}" for each in self.instruments))]
            rows[-2:-1] = [(f"  {each['instrument']}",
                            f"{each['trades']} trades, {each['fills']} fills, final {each['final_position']:+g}, "
                            f"rPnL {each['realized_pnl']:+,.2f} uPnL {each['unrealized_pnl']:+,.2f} {self.currency}")
                           for each in self.instruments] + [
                ("portfolio", f"peak |net delta| {self.max_abs_net_delta:,.0f} {self.currency}, concentration "
                              f"{self.max_concentration:.1%} of equity, leverage {self.max_leverage:.2f}x; "
                              f"E-stop {self.estop}")]
        if self.attest_error:
            rows.append(("attested", f"FAILED: {self.attest_error}"))
        elif self.attested:
            asked = self.attested.get("validation_requested", 0)
            rows.append(("attested", f"{self.attested.get('mined', 0)} decisions on chain, "
                                     f"{self.attested.get('failed', 0)} failed"
                                     + (f"; {asked} validations requested" if asked else "")))
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def model_quotes(config: EngineConfig, count: int, model: MarketModelConfig | None = None) -> list[QuoteTick]:
    """`count` quotes of the seeded market model, on a clock starting at SIM_START_NS."""
    settings = model or MarketModelConfig(seed=config.seed)
    batch = MarketModel(settings).next_batch(count)
    ts = (SIM_START_NS + np.round(batch.t_s * 1e9)).astype(np.uint64)
    return quote_ticks(okx_linear_swap(config.instrument), batch.bid, batch.ask, batch.bid_size, batch.ask_size, ts)


def portfolio_quotes(config: EngineConfig, count: int,
                     model: PortfolioModelConfig | None = None) -> tuple[list[Instrument], list[QuoteTick]]:
    """`count` steps of the seeded portfolio model (engine.portfolio's swaps, by default BTC, ETH and SOL), on a
    clock starting at SIM_START_NS: its instruments, and their quotes step by step in the instruments' order."""
    settings = model or okx_portfolio(config.portfolio or DEFAULT_PORTFOLIO, seed=config.seed)
    batch = PortfolioModel(settings).next_batch(count)
    ts = (SIM_START_NS + np.round(batch.t_s * 1e9)).astype(np.uint64)
    instruments = [okx_linear_swap(instrument_id) for instrument_id in batch.instrument_ids]
    streams = [quote_ticks(instrument, quotes.bid, quotes.ask, quotes.bid_size, quotes.ask_size, ts)
               for instrument, quotes in zip(instruments, batch.quotes, strict=True)]
    return instruments, [quote for step in zip(*streams, strict=True) for quote in step]


def scene_quotes(config: EngineConfig, scene: Path) -> list[QuoteTick]:
    """A recorded scene's quotes, on their recorded clock."""
    read_metadata(scene)
    table = read_quotes(scene)
    ts = table.column("ts_event").to_numpy().astype(np.uint64)
    bid, ask, bid_size, ask_size = (table.column(name).to_numpy() for name in ("bid", "ask", "bid_size", "ask_size"))
    instrument = okx_linear_swap(config.instrument)
    try:
        check_on_tick(instrument, bid, ask)
    except DataError as error:
        raise SceneError(f"{scene}: {error}") from None
    return quote_ticks(instrument, bid, ask, bid_size, ask_size, ts)


def catalog_data(path: Path, instrument_id: str | None = None) -> tuple[Instrument, list[Data]]:
    """An imported market (market/catalog.py): its instrument, and its quotes, bars or trades in time order."""
    market = open_market(path, instrument_id)
    return market.instrument, market.data()


def first_price(data: list[Data]) -> float:
    first = data[0]
    if isinstance(first, QuoteTick):
        return (first.bid_price.as_double() + first.ask_price.as_double()) / 2
    return first.price.as_double() if isinstance(first, TradeTick) else first.close.as_double()


def data_kind(data: list[Data]) -> tuple[DataKind, str | None]:
    """What the data is (quotes, bars or trades), and for bars their type."""
    first = data[0]
    if isinstance(first, Bar):
        return "bars", str(first.bar_type)
    return ("trades" if isinstance(first, TradeTick) else "quotes"), None


def usual_step_s(data: list[Data]) -> float:
    """The median time between the data's rows (of the first 1,000), in seconds."""
    ts = np.fromiter((row.ts_event for row in data[:1_000]), np.int64)
    return float(np.median(np.diff(ts))) / 1e9 if len(ts) > 1 else 0.0


def run_sim(config: EngineConfig, quotes: list[Data], out: Path, *, record: bool = True,
            source: str = "model", context_interval_s: float = 0.25, instrument: Instrument | None = None,
            portfolio: list[Instrument] | None = None, estop_at_s: float | None = None,
            attest_with: EngineSecrets | None = None) -> SimSummary:
    """Run the crew over `quotes` (an imported market's may be bars or trades) of an imported `instrument` (default:
    `config.instrument`, the OKX swap), or of a `portfolio`'s instruments (a crew each, base sizes worth the
    engine's base_notional_share of the balance at each first price); write the event log (and, with `record`, a
    replayable scene) into `out`. `estop_at_s`: a drill, the E-stop engaged that long into the data. `attest_with`:
    attest every closed decision into `out`/trust on the configured chain with these keys, once the run is over
    (its own journal: a sim's decisions never rate the live crew), asking the configured validator of each rule
    agent's decision; each record names the scene."""
    out.mkdir(parents=True, exist_ok=True)
    reads, bar_type = data_kind(quotes)
    if instrument is not None:  # an imported market
        config = config.for_imported(str(instrument.id), instrument.size_increment.as_double(),
                                     instrument.multiplier.as_double(), first_price(quotes))
    instruments = portfolio or [instrument or okx_linear_swap(config.instrument)]
    instrument = instruments[0]
    if portfolio:
        notional = config.base_notional_share * config.starting_balance_usdt
        firsts = {quote.instrument_id: first_price([quote]) for quote in reversed(quotes[:10 * len(portfolio)])}
        traded = [TradedInstrument(str(each.id), each.multiplier.as_double(), base_size_worth(
            notional, firsts[each.id], each.size_increment.as_double(), each.multiplier.as_double()))
            for each in portfolio]
        config = msgspec.structs.replace(config, instrument=traded[0].instrument_id, base_size=traded[0].base_size,
                                         portfolio=tuple(each.instrument_id for each in traded))
    else:
        traded = [TradedInstrument(config.instrument, instrument.multiplier.as_double(), config.base_size)]
    # No human and no bridge: AUTO, and the command poll (expiries only, without a CommandRing) and the heartbeat
    # (not in the event log) once a simulated second instead of 20 and 4 times, or once a bar where the data's
    # usual step is longer (hourly bars would otherwise wake both timers 3,600 times a bar).
    interval_s = max(1.0, usual_step_s(quotes))
    config = msgspec.structs.replace(config, autonomy="AUTO", llm_config=None, dry_run=False,
                                     command_poll_s=interval_s, heartbeat_interval_s=interval_s)
    engine = backtest_engine(
        instruments, quotes, trader_id=TRADER_ID, starting_balance=config.starting_balance_usdt,
        leverage=config.leverage, risk_engine=RiskEngineConfig(max_order_submit_rate=config.max_order_submit_rate))
    shm = Path(tempfile.mkdtemp(prefix="sextant-sim-"))  # the ContextWindow the crew reads; nobody else needs it
    bus = Bus()
    context = ContextWriter(shm / "context.mmap", [each.instrument_id for each in traded], bus=bus)
    sink = EventSink(None, bus)
    encoder, translator, strategy = build_components(
        config, default_crews(config, [each.base_size for each in traded]), context, sink, Venue.SCENE, bus=bus,
        commands_path=None, instruments=traded, measure_latency=False, reads=reads, bar_type=bar_type)
    if estop_at_s is not None:
        drill_ns = quotes[0].ts_event + int(estop_at_s * 1e9)

        def drill(tick: TimerTick) -> None:
            if tick.now_ns >= drill_ns and strategy.gate.estop.released:
                strategy.gate.engage_estop("sim-estop-drill", tick.now_ns)

        bus.subscribe(TimerTick, drill)
    # The crew reads the pending record and no other process reads this file: publish it only as often as the
    # scene recorder keeps a record (the same rule, so the scene is the same), without one once a simulated second
    # (the heartbeat's pace), and at the end.
    context.throttle(int((context_interval_s if record else 1.0) * 1e9))
    summary = SimSummary(quotes=len(quotes), currency=instrument.get_settlement_currency().code,
                         instrument=str(instrument.id), base_size=config.base_size,
                         data_kind=reads)
    log_path = out / "events.jsonl"
    digest = hashlib.sha256()
    instrument_of_intent: dict[str, str] = {}
    trades: Counter[str] = Counter()
    fills: Counter[str] = Counter()
    with open(log_path, "w") as log:
        def on_event(published: EventPublished) -> None:
            event, ts_ns = published.event, published.ts_ns
            name = type(event).__name__
            summary.event_counts[name] = summary.event_counts.get(name, 0) + 1
            if isinstance(event, messages.IntentGenerated):
                instrument_of_intent[event.intent_id] = event.instrument
            elif isinstance(event, messages.IntentApproved):
                trades[instrument_of_intent.get(event.intent_id, "")] += 1
            elif isinstance(event, messages.OrderFilled):
                fills[event.instrument] += 1
            if isinstance(event, EXCLUDED_FROM_LOG):
                return
            line = json.dumps(messages.to_wire(event, seq=summary.events, ts_ns=ts_ns), sort_keys=True)
            digest.update(line.encode())
            log.write(line + "\n")
            summary.events += 1

        fields = context.slot_fields(0)

        def on_commit(committed: ContextCommitted) -> None:
            # a commit outside the quotes' (a trading state change) may hold values no quote's record held
            summary.max_drawdown = max(summary.max_drawdown, fields.drawdown.item())
            summary.max_risk_total = max(summary.max_risk_total, fields.risk_total.item())
            summary.max_position = max(summary.max_position, abs(fields.position_size.item()))
            summary.max_abs_net_delta = max(summary.max_abs_net_delta, abs(fields.net_delta.item()))
            summary.max_concentration = max(summary.max_concentration, fields.risk_x.item(CONCENTRATION))
            summary.max_leverage = max(summary.max_leverage, fields.leverage.item())

        bus.subscribe(EventPublished, on_event)
        bus.subscribe(ContextCommitted, on_commit)
        recorder = new_recorder(config, out / "scene", source=source,
                                context_interval_s=context_interval_s) if record else None
        if recorder is not None:
            attach_recorder(recorder, bus, context)
            recorder.start()
        trust = None
        if attest_with is not None:  # the link collects and hands over; the chain comes after the run
            trust = trust_link(out / "trust", config, attest_with, traded, strategy, sink, bus, context, recorder)
        engine.add_actor(encoder)
        engine.add_actor(translator)
        engine.add_strategy(strategy)
        engine.add_exec_algorithm(TWAPExecAlgorithm())
        strategy.risk_engine = engine.kernel.risk_engine
        started_wall, started_cpu = time.perf_counter(), time.process_time()
        engine.run()
        encoder.flush()
        summary.cpu_seconds = time.process_time() - started_cpu
        summary.wall_seconds = time.perf_counter() - started_wall
        if recorder is not None:
            recorder.stop()
        if trust is not None and attest_with is not None:
            trust.stop()
            try:  # the run stands whatever the chain does: its journal keeps the rest for another start
                summary.attested = attest_handoff(out / "trust", config.chain_rpc, attest_with.chain_key.reveal(),
                                                  config.seed, trust_agents(strategy.crew), config.validator)
            except (ChainError, TimeoutError, ValueError) as error:
                summary.attest_error = f"{type(error).__name__}: {error}"
    for name, peak in zip(("max_drawdown", "max_risk_total", "max_position"), encoder.peaks.tolist(), strict=True):
        setattr(summary, name, max(getattr(summary, name), peak))
    counts = summary.event_counts
    summary.orders, summary.fills = counts.get("OrderSubmitted", 0), counts.get("OrderFilled", 0)
    summary.approvals, summary.vetoes = counts.get("IntentApproved", 0), counts.get("Veto", 0)
    summary.trades = summary.approvals
    summary.risk_alerts = counts.get("RiskAlert", 0)
    summary.event_log_sha256 = digest.hexdigest()
    slots = [context.slot(slot) for slot in range(len(traded))]
    summary.realized_pnl = sum(float(slot["realized_pnl"]) for slot in slots)
    summary.unrealized_pnl = sum(float(slot["unrealized_pnl"]) for slot in slots)
    summary.final_position = float(slots[0]["position_size"])
    summary.estop = strategy.gate.estop.state.name
    if portfolio:
        summary.instruments = [
            {"instrument": each.instrument_id, "base_size": each.base_size, "trades": trades[each.instrument_id],
             "fills": fills[each.instrument_id], "final_position": float(slot["position_size"]),
             "realized_pnl": float(slot["realized_pnl"]), "unrealized_pnl": float(slot["unrealized_pnl"])}
            for each, slot in zip(traded, slots, strict=True)]
    summary.outcomes = [dataclasses.asdict(outcome) for outcome in strategy.outcomes.outcomes]
    if len(quotes) > 1:
        summary.sim_seconds = (quotes[-1].ts_event - quotes[0].ts_event) / 1e9
    summary.risk_vetoes = _count_veto_alerts(log_path)
    (out / "summary.json").write_text(json.dumps(_as_dict(summary), indent=2, sort_keys=True))
    engine.dispose()
    context.close()
    shutil.rmtree(shm, ignore_errors=True)  # a sim's ContextWindow file dies with it
    return summary


def _as_dict(summary: SimSummary) -> dict[str, object]:
    values = {name: getattr(summary, name) for name in SimSummary.__slots__}
    values["max_risk_total"] = values["max_risk_total"] if np.isfinite(values["max_risk_total"]) else "inf"
    return values | {"quotes_per_cpu_second": summary.quotes_per_cpu_second}


def _count_veto_alerts(log_path: Path) -> int:
    count = 0
    with open(log_path) as log:
        for line in log:
            frame = json.loads(line)
            if frame["type"] == "RiskAlert" and frame["data"].get("level") == "VETO":
                count += 1
    return count
