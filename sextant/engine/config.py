"""The engine's settings: what `sextant engine` runs, derived from SextantConfig plus the command line."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from sextant.config import ConfigError, Secret, SextantConfig, split_origins


def _unset() -> Secret:
    return Secret("")


@dataclass(frozen=True, slots=True)
class EngineSecrets:
    """The credentials an engine uses, apart from EngineConfig: that one is written into every scene recording, and
    these must never be. Each is a Secret, masked in any text form."""

    chain_key: Secret = field(default_factory=_unset)
    okx_api_key: Secret = field(default_factory=_unset)
    okx_api_secret: Secret = field(default_factory=_unset)
    okx_api_passphrase: Secret = field(default_factory=_unset)

    @classmethod
    def from_settings(cls, settings: SextantConfig) -> EngineSecrets:
        return cls(chain_key=settings.chain_key, okx_api_key=settings.okx_api_key,
                   okx_api_secret=settings.okx_api_secret, okx_api_passphrase=settings.okx_api_passphrase)


AutonomyName = Literal["MANUAL", "ASSISTED", "AUTO"]  # state/layout.py's Autonomy, by name
AUTONOMY_LEVELS: tuple[AutonomyName, ...] = ("MANUAL", "ASSISTED", "AUTO")  # lowest first


class EngineConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    venue: Literal["sim", "scene", "okx"] = "sim"
    okx_environment: Literal["demo", "live"] = "demo"
    okx_region: Literal["global", "eea", "us"] = "global"
    okx_base_url_http: str = ""  # empty: OKX's own for the region
    okx_base_url_ws: str = ""  # empty: OKX's own for the environment and region; else the base of /public, /private
    instrument: str = "BTC-USDT-SWAP.OKX"
    seed: int = 42
    speed: float = 1.0  # sim clock multiplier: 10 = ten model seconds per wall second
    dry_run: bool = False
    low_latency_idle: bool = False  # hold /dev/cpu_dma_latency at 0 µs while the node runs (engine/idle.py)
    leverage: float = 2.0
    base_size: float = 1.0
    max_trades: int = 0
    cooldown_secs: float = 30.0
    max_notional_usd: float = 50_000.0
    sl_pct: float = 0.02  # our own per-order cap (RiskEngine ignores its cap on margin accounts)
    starting_balance_usdt: float = 100_000.0
    max_order_submit_rate: str = "20/00:00:01"  # Nautilus RiskEngine throttle: excess orders are denied
    context_path: str = "sextant_context.mmap"
    events_path: str = "sextant_events.mmap"
    commands_path: str = "sextant_commands.mmap"
    ws_port: int = 8765
    ws_allowed_origins: tuple[str, ...] = ()  # the web origins whose pages may open the stream; none by default
    autonomy: AutonomyName = "MANUAL"  # never above autonomy_ceiling
    autonomy_ceiling: AutonomyName = "AUTO"  # the highest a human may select; on-chain reputation lowers it
    llm_config: str | None = None  # llm.toml; None or no key for the perception role: rules only
    approval_ttl_secs: float = 30.0
    assisted_countdown_secs: float = 30.0
    duration_s: float | None = None  # stop by itself after this long (tests, demos); None runs until a signal
    heartbeat_interval_s: float = 0.25
    command_poll_s: float = 0.05  # the strategy's CommandRing poll, countdowns and expiries
    record_dir: str | None = None  # record the session as a scene under this folder (docs/scene-format.md)
    trust_dir: str | None = None  # the attestor's journal and decision records; None: no trust layer
    chain_rpc: str = ""  # empty: the embedded py-evm chain (the key, a secret, never enters this struct)
    research_ledger: str | None = None  # accepted research results become research cards (research/link.py)
    # Nautilus' own log lines on stdout; the benchmarks take ERROR so that its stop-time warnings (residual
    # positions, reconciliation off) stay out of their tables.
    node_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"

    @classmethod
    def from_settings(cls, settings: SextantConfig, **overrides: object) -> EngineConfig:
        values = {
            "venue": settings.venue, "okx_environment": settings.okx_environment, "okx_region": settings.okx_region,
            "okx_base_url_http": settings.okx_base_url_http, "okx_base_url_ws": settings.okx_base_url_ws,
            "instrument": settings.instrument,
            "seed": settings.seed,
            "dry_run": settings.dry_run, "low_latency_idle": settings.low_latency_idle,
            "leverage": settings.leverage, "base_size": settings.base_size,
            "max_trades": settings.max_trades, "cooldown_secs": settings.cooldown_secs,
            "context_path": settings.context_path, "events_path": settings.events_path,
            "commands_path": settings.commands_path, "ws_port": settings.ws_port,
            "ws_allowed_origins": split_origins(settings.ws_allowed_origins),
            "llm_config": settings.llm_config, "sl_pct": settings.sl_pct,
            "record_dir": settings.record_dir or None, "trust_dir": settings.trust_dir or None,
            "chain_rpc": settings.chain_rpc, "research_ledger": settings.research_ledger or None,
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        try:
            config = msgspec.convert(values, cls)
        except msgspec.ValidationError as error:  # a value the command line or a caller passed: the one error type
            raise ConfigError(f"engine settings: {error}. Fix that value (sextant engine --help).") from None
        if not (math.isfinite(config.speed) and 0 < config.speed <= 10_000):
            raise ConfigError(f"--speed={config.speed}: must be above 0 and at most 10000. Fix: e.g. --speed 10.")
        levels = AUTONOMY_LEVELS
        if levels.index(config.autonomy) > levels.index(config.autonomy_ceiling):
            raise ConfigError(f"--autonomy={config.autonomy} is above the ceiling {config.autonomy_ceiling}. Fix: "
                              f"choose a lower level.")
        if config.duration_s is not None and not (math.isfinite(config.duration_s) and config.duration_s > 0):
            raise ConfigError(f"--duration={config.duration_s}: must be a positive number of seconds.")
        return config
