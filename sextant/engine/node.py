"""Builds and runs the engine process: a Nautilus TradingNode for the sim venue, with Sextant's components.

    sim: SimMarketDataClient (seeded model, real time × speed) + Nautilus' Sandbox execution client (fills, fees,
         positions, PnL) on venue OKX, margin account, netting.

The node is built inside the running event loop (Nautilus binds its clients to the loop current at construction)
and disposed after the loop ends (dispose() inside the loop stops it).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import msgspec
from nautilus_trader.adapters.sandbox.config import SandboxExecutionClientConfig
from nautilus_trader.adapters.sandbox.factory import SandboxLiveExecClientFactory
from nautilus_trader.config import (
    LiveDataEngineConfig,
    LiveExecEngineConfig,
    LiveRiskEngineConfig,
    LoggingConfig,
    TradingNodeConfig,
)
from nautilus_trader.examples.algorithms.twap import TWAPExecAlgorithm
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.identifiers import TraderId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from sextant.config import ConfigError, PerceptionSettings, load_llm_config
from sextant.engine.config import EngineConfig, EngineSecrets
from sextant.engine.encoder import StateEncoder, StateEncoderConfig
from sextant.engine.events import EventSink, OrderEventTranslator
from sextant.engine.idle import CpuLatencyRequest
from sextant.engine.loop_monitor import LoopMonitor
from sextant.engine.sim_client import (
    SIM_CLIENT,
    RecordedMarket,
    SimDataClientConfig,
    SimDataClientFactory,
    catalog_instrument,
)
from sextant.engine.strategy import Agent, SwarmStrategy, SwarmStrategyConfig
from sextant.engine.stream import EventStream
from sextant.market.catalog import CLASSES, open_market
from sextant.market.columns import DataError
from sextant.market.instrument import okx_linear_swap
from sextant.market.portfolio import okx_portfolio
from sextant.market.sizing import base_size_worth
from sextant.market.trade_record import install_linear_trade_record
from sextant.replay.format import SceneError
from sextant.replay.recorder import SceneRecorder
from sextant.research.link import ResearchLink
from sextant.risk.hull import RiskLimits
from sextant.state.bus import Bus, CommandRead, ContextCommitted, EventPublished, IntentDecided, QuoteEncoded
from sextant.state.context import ContextWriter
from sextant.state.layout import Venue
from sextant.state.ring import EventRingWriter
from sextant.swarm.agents.base import CrewMember, instance_tag
from sextant.swarm.agents.delta_hedge import DeltaHedgeAgent
from sextant.swarm.agents.mean_reversion import MeanReversionAgent, MeanReversionConfig
from sextant.swarm.agents.momentum import MomentumAgent, MomentumConfig
from sextant.swarm.agents.risk import RiskAgent
from sextant.swarm.calibration import AnswerRecord
from sextant.swarm.llm import LlmClient
from sextant.swarm.router import PerceptionConfig, PerceptionRouter
from sextant.trust.link import StartCancelled, TrustLink

TRADER_ID = "SEXTANT-001"
DEFAULT_LLM_CONFIG = "llm.toml"


@dataclass
class EngineParts:
    """What a running engine holds, for the process and for tests."""

    config: EngineConfig
    bus: Bus  # the parts' typed messages (state/bus.py): subscribe here to watch the engine
    node: TradingNode
    context: ContextWriter
    events: EventRingWriter
    sink: EventSink
    encoder: StateEncoder
    strategy: SwarmStrategy
    stream: EventStream
    recorder: SceneRecorder | None = None
    trust: TrustLink | None = None
    research: ResearchLink | None = None
    cpu_latency: CpuLatencyRequest | None = None  # while running with low_latency_idle: held, or why not
    loop_monitor: LoopMonitor = field(default_factory=LoopMonitor)  # the event loop's stalls, while running
    extra: dict[str, object] = field(default_factory=dict)


def _common_node_settings(config: EngineConfig) -> dict[str, Any]:  # keywords of TradingNodeConfig
    return {
        "trader_id": TraderId(TRADER_ID),
        "logging": LoggingConfig(log_level=config.node_log_level),
        "data_engine": LiveDataEngineConfig(),
        "risk_engine": LiveRiskEngineConfig(max_order_submit_rate=config.max_order_submit_rate),
        "timeout_disconnection": 2.0,
        "timeout_post_stop": 0.5,
    }


def okx_endpoints(config: EngineConfig) -> dict[str, str | None]:
    """The REST base and the public / private WebSocket URLs the OKX clients are given: ours where the settings name
    them (a proxy, the test stand-in), else None, which lets Nautilus choose OKX's own for the environment and region.
    Nautilus derives the business WebSocket (algo orders, bars) from each of these."""
    from nautilus_trader.core.nautilus_pyo3 import derive_okx_ws_url

    ws = config.okx_base_url_ws.rstrip("/")
    return {"http": config.okx_base_url_http or None,
            "public": derive_okx_ws_url(ws, "public") if ws else None,
            "private": derive_okx_ws_url(ws, "private") if ws else None}


def _okx_node_config(config: EngineConfig, secrets: EngineSecrets) -> TradingNodeConfig:
    """Nautilus' own OKX data and execution clients, demo or live, in the account's region.

    Everything comes from our settings: environment and region, the endpoints (okx_endpoints) and the credentials,
    which Nautilus would otherwise read from the environment itself. Orders go over the private WebSocket with the
    instrument's instIdCode (OKX's protocol since February 2026). Trailing stops stay emulated on bid/ask
    (execution.py, docs/platform.md); the instrument provider loads only the configured instruments.
    """
    from nautilus_trader.adapters.okx import OKX, OKXDataClientConfig, OKXExecClientConfig
    from nautilus_trader.config import InstrumentProviderConfig
    from nautilus_trader.core.nautilus_pyo3 import (
        OKXContractType,
        OKXEnvironment,
        OKXInstrumentType,
        OKXMarginMode,
        OKXRegion,
    )
    from nautilus_trader.model.identifiers import InstrumentId

    urls = okx_endpoints(config)
    common: dict[str, Any] = {  # keywords shared by the OKX data and exec client configs
        "api_key": secrets.okx_api_key.reveal() or None,
        "api_secret": secrets.okx_api_secret.reveal() or None,
        "api_passphrase": secrets.okx_api_passphrase.reveal() or None,
        "environment": OKXEnvironment.DEMO if config.okx_environment == "demo" else OKXEnvironment.LIVE,
        "region": {"global": OKXRegion.GLOBAL, "eea": OKXRegion.EEA, "us": OKXRegion.US}[config.okx_region],
        "base_url_http": urls["http"],
        "instrument_types": (OKXInstrumentType.SWAP,),
        "contract_types": (OKXContractType.LINEAR,),
        "instrument_provider": InstrumentProviderConfig(load_ids=frozenset(
            InstrumentId.from_str(instrument) for instrument in config.portfolio or (config.instrument,))),
        "http_timeout_secs": 10,
        "max_retries": 3,
    }
    return TradingNodeConfig(
        **_common_node_settings(config),
        exec_engine=LiveExecEngineConfig(reconciliation=True, reconciliation_lookback_mins=60),
        data_clients={OKX: OKXDataClientConfig(base_url_ws=urls["public"], **common)},
        exec_clients={OKX: OKXExecClientConfig(base_url_ws=urls["private"], margin_mode=OKXMarginMode.CROSS,
                                               **common)},
        timeout_connection=20.0,
        timeout_reconciliation=10.0,
        timeout_portfolio=5.0,
    )


def venue_instrument(config: EngineConfig) -> Instrument:
    """The instrument the engine trades: the OKX swap on the sim and OKX venues and in a scene, the catalog's own on
    the catalog venue."""
    if config.venue != "catalog":
        return okx_linear_swap(config.instrument)
    try:
        data = Path(config.market) / "data"
        return _catalog_instrument(config.market, config.instrument, data.stat().st_mtime_ns if data.exists() else 0)
    except DataError as error:
        raise ConfigError(f"SEXTANT_MARKET={config.market}: {error}") from None


@functools.lru_cache(maxsize=4)
def _catalog_instrument(market: str, instrument_id: str, changed_ns: int) -> Instrument:
    """The catalog's instrument, read once per build (the node's config, its clients and the crew all ask)."""
    return open_market(Path(market), catalog_instrument(Path(market), instrument_id)).instrument


def for_venue(config: EngineConfig) -> EngineConfig:
    """`config` for its venue's instrument: on the catalog venue, the catalog's instrument, sized by its first
    price (EngineConfig.for_imported). A scene the scene venue cannot play is a ConfigError here, before any file
    or client exists."""
    if config.venue == "scene":
        try:
            RecordedMarket.load("scene", config.market, config.instrument)
        except (SceneError, DataError) as error:
            raise ConfigError(f"SEXTANT_MARKET={config.market}: {error}") from None
    if config.venue != "catalog":
        return config
    instrument = venue_instrument(config)
    market = open_market(Path(config.market), str(instrument.id))
    first = market.book(ParquetDataCatalog(str(market.path)).query(
        CLASSES[market.kind], identifiers=[market.identifier], files=[str(market.files()[0])]))
    return config.for_imported(str(instrument.id), instrument.size_increment.as_double(),
                               instrument.multiplier.as_double(), float(first.bid[0] + first.ask[0]) / 2)


def _node_config(config: EngineConfig, secrets: EngineSecrets) -> TradingNodeConfig:
    if config.venue == "okx":
        return _okx_node_config(config, secrets)
    instrument = venue_instrument(config)
    venue, currency = str(instrument.id.venue), instrument.get_settlement_currency().code
    recorded = config.venue in ("scene", "catalog")
    return TradingNodeConfig(
        **_common_node_settings(config),
        exec_engine=LiveExecEngineConfig(reconciliation=False),  # a simulated venue has no history to reconcile
        data_clients={SIM_CLIENT: SimDataClientConfig(
            instrument_id=config.instrument, portfolio=config.portfolio, seed=config.seed, speed=config.speed,
            market=config.market if recorded else "", market_kind="catalog" if config.venue == "catalog" else "scene")},
        exec_clients={venue: SandboxExecutionClientConfig(
            venue=venue, starting_balances=[f"{config.starting_balance_usdt:.0f} {currency}"], base_currency=currency,
            account_type="MARGIN", oms_type="NETTING", default_leverage=Decimal(str(config.leverage)))},
        timeout_connection=5.0,
        timeout_reconciliation=1.0,
        timeout_portfolio=1.0,
    )


def traded_instruments(config: EngineConfig) -> list[TradedInstrument]:
    """What the engine trades: engine.portfolio's swaps, each with a base size worth base_notional_share of the
    balance at the portfolio model's reference price; else the venue's one instrument at engine.base_size."""
    if not config.portfolio:
        return [TradedInstrument(config.instrument, venue_instrument(config).multiplier.as_double(), config.base_size)]
    notional = config.base_notional_share * config.starting_balance_usdt
    return [TradedInstrument(each.spec.instrument_id, each.spec.multiplier,
                             base_size_worth(notional, each.start_price, each.spec.lot, each.spec.multiplier))
            for each in okx_portfolio(config.portfolio).instruments]


def perception_llm(config: EngineConfig) -> tuple[LlmClient | None, PerceptionSettings]:
    """The LLM client for the perception router, or None (rules only) when no usable provider is configured; and
    llm.toml's [perception] settings (the defaults without an llm.toml)."""
    if config.llm_config is None:
        return None, PerceptionSettings()
    if config.llm_config == DEFAULT_LLM_CONFIG and not os.path.exists(config.llm_config):
        print(f"perception: no {DEFAULT_LLM_CONFIG} here; the router runs on rules only", flush=True)
        return None, PerceptionSettings()
    llm = load_llm_config(config.llm_config)  # a broken llm.toml (or a missing one named explicitly) fails at start
    provider = llm.provider_for(llm.model_for("perception"))
    keyless = llm.keyless("perception")
    if keyless is not None:
        print(f"perception: {keyless}; the router runs on rules only", flush=True)
        return None, llm.perception
    l2, l3 = llm.model_for("perception"), llm.model_for("strategy")
    roles = f"L2 perception = {l2.provider}/{l2.model}, L3 strategy = {l3.provider}/{l3.model}"
    print(f"perception: rules first, then {roles} ({config.llm_config})", flush=True)
    return LlmClient(llm, deadline_s=provider.timeout_secs, max_retries=1), llm.perception


def trust_agents(crew: list[Agent]) -> list[str]:
    """Who gets an ERC-8004 identity: each crew member, and each model a crew member asks (its record attested)."""
    models = [name for agent in crew for name in getattr(agent, "model_agents", list)()]
    return [agent.agent_id for agent in crew] + sorted(set(models))


@dataclass(frozen=True, slots=True)
class TradedInstrument:
    """One instrument an engine trades: its id, contract multiplier and the crew's base size in its lots."""

    instrument_id: str
    multiplier: float
    base_size: float


def default_crew(config: EngineConfig) -> list[Agent]:
    """The crew of one instrument, in priority order (consensus ties go to the earlier one): the risk agent first."""
    return default_crews(config, [config.base_size])[0]


def default_crews(config: EngineConfig, base_sizes: list[float]) -> list[list[Agent]]:
    """A crew per instrument of `base_sizes` (each its own members, sized in its lots), asking one LLM client and
    keeping one record of the models' answers between them."""
    llm, settings = perception_llm(config)
    record = AnswerRecord(config.llm_record) if llm is not None else None  # no model, nothing to record
    crews: list[list[Agent]] = []
    for base_size in base_sizes:
        perception = PerceptionConfig.from_settings(settings, base_size=base_size)
        crews.append([RiskAgent(), MomentumAgent(MomentumConfig(base_size=base_size)),
                      MeanReversionAgent(MeanReversionConfig(base_size=base_size)), DeltaHedgeAgent(),
                      PerceptionRouter(perception, llm, record=record)])
    return crews


def build_components(config: EngineConfig, crews: list[list[Agent]], context: ContextWriter, sink: EventSink,
                     venue: Venue, *, bus: Bus, commands_path: str | None, instruments: list[TradedInstrument],
                     measure_latency: bool = True, reads: Literal["quotes", "bars", "trades"] = "quotes",
                     bar_type: str | None = None) -> tuple[StateEncoder, OrderEventTranslator, SwarmStrategy]:
    """Sextant's parts of a node, the same for a live TradingNode and a BacktestEngine (`sextant sim`, which turns
    `measure_latency` off: a latency on the simulated clock measures nothing). They talk over `bus`. Each of
    `instruments` has its crew in `crews` and its ContextWindow slot in that order; its delta limit scales with its
    base size and multiplier. In a backtest on an imported market the crew `reads` bars (of `bar_type`) or trades,
    each as the book market/book.py centres on its price."""
    ids = tuple(traded.instrument_id for traded in instruments)
    limits = [RiskLimits.for_base_size(traded.base_size, traded.multiplier) for traded in instruments]
    encoder = StateEncoder(StateEncoderConfig(instrument_ids=ids, reads=reads, bar_type=bar_type,
                                              heartbeat_interval_s=config.heartbeat_interval_s),
                           context, sink, bus=bus, venue=venue, dry_run=config.dry_run, heartbeat_files=(sink,),
                           risk_limits=limits[0], base_sizes=tuple(traded.base_size for traded in instruments),
                           delta_limits=tuple(limit.delta for limit in limits), measure_latency=measure_latency)
    if len(instruments) > 1:  # one roster on several instruments: each member's intent ids name its instrument
        for traded, crew in zip(instruments, crews, strict=True):
            symbol = traded.instrument_id.split(".")[0]
            for agent in crew:
                if isinstance(agent, CrewMember):
                    agent.id_prefix = f"{symbol}-"
    strategy = SwarmStrategy(
        SwarmStrategyConfig(instrument_ids=ids, autonomy=config.autonomy,
                            autonomy_ceiling=config.autonomy_ceiling, max_trades=config.max_trades,
                            max_notional_usd=config.max_notional_usd, dry_run=config.dry_run,
                            cooldown_secs=config.cooldown_secs, approval_ttl_secs=config.approval_ttl_secs,
                            reject_cooldown_secs=config.reject_cooldown_secs,
                            reject_rearm_bps=config.reject_rearm_bps,
                            assisted_countdown_secs=config.assisted_countdown_secs, sl_pct=config.sl_pct,
                            command_poll_secs=config.command_poll_s,
                            stop_trigger="LAST_PRICE" if config.venue == "okx" or reads != "quotes" else "BID_ASK",
                            emulate_trailing_stops=reads == "quotes",
                            # Nautilus formats every order command and event into an INFO line before the logger
                            # drops it (the node logs at WARNING): string work on the path from a quote to its
                            # order. Our EventRing is the record of orders.
                            log_events=False, log_commands=False),
        crews=crews, writer=context, sink=sink, bus=bus, commands_path=commands_path,
        measure_latency=measure_latency)
    bus.subscribe(QuoteEncoded, strategy.on_quote)
    for agent in strategy.all_agents:
        if isinstance(agent, PerceptionRouter):
            agent.publish = sink.publish  # LlmFailed / LlmRecovered: the LLM path's health on the stream
    return encoder, OrderEventTranslator(sink, dry_run=config.dry_run), strategy


def venue_node(config: EngineConfig, node_config: TradingNodeConfig | None = None,
               secrets: EngineSecrets | None = None) -> TradingNode:
    """A TradingNode with the venue's data and execution clients registered and nothing of Sextant's in it yet:
    `build_engine` adds the components; the engine bench runs it bare as its baseline."""
    node = TradingNode(config=node_config or _node_config(config, secrets or EngineSecrets()))
    if config.venue == "okx":
        from nautilus_trader.adapters.okx import OKX, OKXLiveDataClientFactory, OKXLiveExecClientFactory

        node.add_data_client_factory(OKX, OKXLiveDataClientFactory)
        node.add_exec_client_factory(OKX, OKXLiveExecClientFactory)
    else:
        node.add_data_client_factory(SIM_CLIENT, SimDataClientFactory)
        node.add_exec_client_factory(str(venue_instrument(config).id.venue), SandboxLiveExecClientFactory)
    return node


def build_engine(config: EngineConfig, agents: list[Agent] | None = None, *,
                 secrets: EngineSecrets | None = None, crews: list[list[Agent]] | None = None) -> EngineParts:
    """Build the node and Sextant's components. Call from inside the running event loop. `agents`: one
    instrument's crew instead of the default; `crews`: one per instrument of the portfolio."""
    secrets = secrets or EngineSecrets()
    config = for_venue(config)
    node_config = _node_config(config, secrets)
    traded = traded_instruments(config)
    if agents is not None:
        crews = [agents]
    if crews is not None and len(crews) != len(traded):
        raise ConfigError(f"{len(crews)} crews for {len(traded)} instruments: give one each")
    # before any file exists: a crew's config may fail
    crews = crews or default_crews(config, [each.base_size for each in traded])
    bus = Bus()
    with contextlib.ExitStack() as undo:  # a build that fails leaves none of the files it created behind
        context = ContextWriter(config.context_path, [each.instrument_id for each in traded], bus=bus)
        undo.callback(context.remove)
        events = EventRingWriter(config.events_path)
        undo.callback(events.remove)
        parts = _assemble_engine(config, crews, traded, secrets, node_config, bus, context, events)
        undo.pop_all()
    return parts


def _assemble_engine(config: EngineConfig, crews: list[list[Agent]], traded: list[TradedInstrument],
                     secrets: EngineSecrets, node_config: TradingNodeConfig, bus: Bus, context: ContextWriter,
                     events: EventRingWriter) -> EngineParts:
    sink = EventSink(events, bus)
    node = venue_node(config, node_config)
    shown = {"okx": Venue.OKX, "sim": Venue.SIM}.get(config.venue, Venue.SCENE)
    encoder, translator, strategy = build_components(
        config, crews, context, sink, shown, bus=bus, commands_path=config.commands_path, instruments=traded)
    tag = instance_tag(context.created_ns)  # the engine instance the ContextWindow header names
    for agent in strategy.all_agents:
        if isinstance(agent, CrewMember):
            agent.id_prefix = f"{tag}-{agent.id_prefix}"
    node.trader.add_actor(encoder)
    node.trader.add_actor(translator)
    node.trader.add_strategy(strategy)
    node.trader.add_exec_algorithm(TWAPExecAlgorithm())
    node.build()
    install_linear_trade_record(node.portfolio.analyzer)
    strategy.risk_engine = node.kernel.risk_engine
    stream = EventStream(port=config.ws_port, allowed_origins=config.ws_allowed_origins)
    bus.subscribe(EventPublished, stream.on_event)
    recorder = new_recorder(config) if config.record_dir else None
    if recorder is not None:
        attach_recorder(recorder, bus, context)
    trust = None
    if config.trust_dir:
        trust = trust_link(Path(config.trust_dir), config, secrets, traded, strategy, sink, bus, context, recorder)
    research = ResearchLink(Path(config.research_ledger), strategy, sink, bus) if config.research_ledger else None
    parts = EngineParts(config, bus, node, context, events, sink, encoder, strategy, stream, recorder, trust, research)
    encoder.loop_monitor = parts.loop_monitor
    return parts


def trust_link(directory: Path, config: EngineConfig, secrets: EngineSecrets, traded: list[TradedInstrument],
               strategy: SwarmStrategy, sink: EventSink, bus: Bus, context: ContextWriter,
               recorder: SceneRecorder | None) -> TrustLink:
    """The engine's side of the trust layer, attesting into `directory`: each record names the scene `recorder`
    writes, if any, for a validator to find its context in."""
    return TrustLink(directory, rpc_url=config.chain_rpc, key=secrets.chain_key.reveal(), seed=config.seed,
                     multipliers={each.instrument_id: each.multiplier for each in traded}, strategy=strategy,
                     sink=sink, bus=bus, agents=trust_agents(strategy.crew), writer=context,
                     validator=config.validator, scene=recorder.directory if recorder is not None else None)


def attach_recorder(recorder: SceneRecorder, bus: Bus, writer: ContextWriter) -> None:
    bus.subscribe(IntentDecided, lambda decided: recorder.on_decision(decided.intent_id, writer.record.tobytes()))
    bus.subscribe(ContextCommitted, recorder.on_context)
    bus.subscribe(QuoteEncoded, recorder.on_quote)
    bus.subscribe(CommandRead, recorder.on_command)
    bus.subscribe(EventPublished, recorder.on_event)


def new_recorder(config: EngineConfig, directory: Path | None = None, *, context_interval_s: float = 0.05,
                 **metadata: object) -> SceneRecorder:
    """A recorder for this session: in `directory`, or a new scene folder under record_dir named by the start
    time, venue and seed."""
    from importlib.metadata import version

    if directory is None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        directory = Path(config.record_dir or ".") / f"{stamp}-{config.venue}-seed{config.seed}"
        suffix = 1
        while directory.exists():
            suffix += 1
            directory = directory.with_name(f"{stamp}-{config.venue}-seed{config.seed}-{suffix}")
    settings = msgspec.structs.asdict(config)  # EngineConfig holds no secrets: keys stay in SextantConfig
    return SceneRecorder(directory, {
        "sextant_version": version("sextant"), "nautilus_trader_version": version("nautilus_trader"),
        "seed": config.seed, "venue": config.venue, "instrument": config.instrument,
        "instruments": list(config.portfolio or (config.instrument,)), "speed": config.speed,
        "config": settings, **metadata}, context_interval_s=context_interval_s)


async def run_engine_async(config: EngineConfig, stop: asyncio.Event | None = None,
                           on_ready: object = None, agents: list[Agent] | None = None,
                           secrets: EngineSecrets | None = None, crews: list[list[Agent]] | None = None,
                           ) -> EngineParts:
    """Run until `stop` is set, a SIGINT/SIGTERM arrives, or config.duration_s elapses."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    parts = build_engine(config, agents, secrets=secrets, crews=crews)
    # After the build: Nautilus' kernel installs its own loop signal handlers when it is constructed, and those only
    # stop the node; ours stop the node and everything around it, in order.
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass
    try:
        await parts.stream.start()
        parts.loop_monitor.start()
        if parts.recorder is not None:
            parts.recorder.start()
        if parts.trust is not None:
            # Deploying or replaying the chain takes seconds, off the loop; the node starts after it (reputation
            # ceilings must be in place before the first intent). Meanwhile the heartbeat says the engine is
            # alive, so the bridge shows it starting rather than stale.
            # A stop asked for meanwhile cancels the setup: `sextant run` must stop within seconds whatever the
            # engine is doing, and a first deployment on a loaded machine takes longer than that.
            starting = asyncio.create_task(_heartbeat_until_cancelled(parts.context))
            cancelled = threading.Event()
            watch = asyncio.create_task(_set_when(stop, cancelled))
            try:
                ids = await asyncio.to_thread(parts.trust.start, cancelled=cancelled)
                print(f"  trust: {len(ids)} agents on {parts.trust.endpoint}", flush=True)
            except StartCancelled:
                pass
            finally:
                starting.cancel()
                watch.cancel()
    except BaseException:
        parts.context.remove()  # a start that failed leaves no state files behind
        parts.events.remove()
        raise
    try:
        if stop.is_set():  # stopped before it started: nothing to run, nothing to stop but the parts
            await parts.stream.stop()
            return parts
        async with running(parts.node, low_latency_idle=config.low_latency_idle) as parts.cpu_latency:
            if callable(on_ready):
                on_ready(parts)
            try:
                if config.duration_s is None:
                    await stop.wait()
                else:
                    try:
                        await asyncio.wait_for(stop.wait(), timeout=config.duration_s)
                    except TimeoutError:
                        pass
            finally:
                await parts.stream.stop()  # clients go before the node stops
    finally:
        await parts.loop_monitor.stop()
        if parts.recorder is not None:
            parts.recorder.stop()
        if parts.trust is not None:
            parts.trust.stop()
        if parts.research is not None:
            parts.research.close()
    return parts


@contextlib.asynccontextmanager
async def running(node: TradingNode, low_latency_idle: bool = False) -> AsyncIterator[CpuLatencyRequest | None]:
    """Run a built node for the body of the `async with`, then stop it: the engine's, and the engine bench's bare
    baseline node, so both run on the same terms. With `low_latency_idle`, the CPUs' wake-up latency is held at 0 µs
    from before the node starts until after it stops (engine/idle.py); the request is what the `with` gives, held
    or with the host's refusal."""
    with CpuLatencyRequest() if low_latency_idle else contextlib.nullcontext() as cpu_latency:
        # Everything built so far (Nautilus, numba's loaded kernels, the crew, the chain) lives as long as the
        # engine: move it out of the collector's generations, so a collection that lands between a quote and its
        # order scans only what trading allocates (a full one took ~90 ms here, a middle one ~1.3 ms: the p99
        # target is 1 ms).
        gc.collect()
        gc.freeze()
        runner = asyncio.create_task(node.run_async())
        try:
            yield cpu_latency
        finally:
            gc.unfreeze()  # stopping: the engine's objects may be collected again (tests run many in one process)
            await node.stop_async()
            try:
                await asyncio.wait_for(runner, timeout=2.0)
            except (TimeoutError, asyncio.CancelledError):
                pass  # run_async's queues do not always return after stop; cancelling it is harmless


async def _set_when(stop: asyncio.Event, cancelled: threading.Event) -> None:
    await stop.wait()
    cancelled.set()


async def _heartbeat_until_cancelled(context: ContextWriter, interval_s: float = 0.25) -> None:
    while True:
        context.heartbeat()
        await asyncio.sleep(interval_s)


def run_engine(config: EngineConfig, secrets: EngineSecrets | None = None) -> int:
    """The `sextant engine` process."""
    started = time.monotonic()

    def announce(parts: EngineParts) -> None:
        used = parts.config  # on the catalog venue, the catalog's instrument and its base size
        market = f" ({used.market}, base size {used.base_size:g})" if used.venue in ("scene", "catalog") else ""
        traded = f"portfolio {', '.join(used.portfolio)}" if used.portfolio else used.instrument
        print(f"sextant engine: venue {used.venue}{market}, {traded}, seed {used.seed}, speed "
              f"{used.speed:g}x, dry run {'on' if used.dry_run else 'off'}", flush=True)
        print(f"  context {parts.context.path}  events {parts.events.path}  stream {parts.stream.url}", flush=True)
        if parts.recorder is not None:
            print(f"  recording {parts.recorder.directory}", flush=True)
        if parts.cpu_latency is not None:
            print(f"  {parts.cpu_latency.describe()}", flush=True)

    parts = asyncio.run(run_engine_async(config, on_ready=announce, secrets=secrets))
    parts.node.dispose()
    quotes = sum(int(parts.context.slot(slot)["quote_count"]) for slot in range(parts.context.instrument_count))
    print(f"sextant engine: stopped after {time.monotonic() - started:.1f} s, {quotes} quotes, "
          f"{parts.sink.published} events; {parts.loop_monitor.describe()}", file=sys.stderr, flush=True)
    parts.context.close()
    parts.events.close()
    return 0
