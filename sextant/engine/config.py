"""The engine's settings: what `sextant engine` runs, the [engine] table of SextantConfig plus the command line."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from sextant.config import DEFAULT_PORTFOLIO, ConfigError, EngineSettings, Secret, SextantConfig
from sextant.market.sizing import base_size_worth


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
        secrets = settings.secrets
        return cls(chain_key=secrets.chain_key, okx_api_key=secrets.okx_api_key,
                   okx_api_secret=secrets.okx_api_secret, okx_api_passphrase=secrets.okx_api_passphrase)


AutonomyName = Literal["MANUAL", "ASSISTED", "AUTO"]  # state/layout.py's Autonomy, by name
AUTONOMY_LEVELS: tuple[AutonomyName, ...] = ("MANUAL", "ASSISTED", "AUTO")  # lowest first


class EngineConfig(EngineSettings, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What an engine runs with: the [engine] table's settings (inherited, so each has one declaration), the other
    tables' few the engine needs, and what only a caller sets (the command line, `sextant sim`, tests, benches).
    It holds no secret (EngineSecrets does): every scene recording stores it."""

    record_dir: str = ""  # here, nothing is recorded unless a caller asks; the setting's default is "recordings"
    speed: float = 1.0  # sim clock multiplier: 10 = ten model seconds per wall second
    max_notional_usd: float = 50_000.0  # our own per-order cap (RiskEngine ignores its cap on margin accounts)
    starting_balance_usdt: float = 100_000.0  # in the instrument's settlement currency (USDT on OKX)
    # The crew's base size on an imported market (a catalog): the lots worth this share of the starting balance at
    # the data's first price. `base_size` is in the contracts of `instrument` on the sim, scene and OKX venues.
    base_notional_share: float = 0.01
    max_order_submit_rate: str = "20/00:00:01"  # Nautilus RiskEngine throttle: excess orders are denied
    autonomy: AutonomyName = "MANUAL"  # never above autonomy_ceiling
    autonomy_ceiling: AutonomyName = "AUTO"  # the highest a human may select; on-chain reputation lowers it
    llm_config: str | None = None  # [llm] config; None or no key for the perception role: rules only
    llm_record: str | None = None  # [llm] record: the models' scored answers; None: in memory for the run
    approval_ttl_secs: float = 30.0
    assisted_countdown_secs: float = 30.0
    duration_s: float | None = None  # stop by itself after this long (tests, demos); None runs until a signal
    heartbeat_interval_s: float = 0.25
    command_poll_s: float = 0.05  # the strategy's CommandRing poll, countdowns and expiries
    trust_dir: str | None = None  # [trust] dir: the attestor's journal and decision records; None: no trust layer
    chain_rpc: str = ""  # [trust] chain_rpc; empty: the embedded py-evm chain (the key stays in EngineSecrets)
    validator: str = ""  # [trust] validator: the address asked to re-run each rule agent's decision; empty: none
    research_ledger: str | None = None  # [research] ledger: accepted results become research cards
    # Nautilus' own log lines on stdout; the benchmarks take ERROR so that its stop-time warnings (residual
    # positions, reconciliation off) stay out of their tables.
    node_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"

    def for_imported(self, instrument_id: str, lot: float, multiplier: float, first_price: float) -> EngineConfig:
        """This config for trading an imported market's instrument: its id, and a base size in its lots worth
        base_notional_share of the starting balance at `first_price` (`base_size` counts engine.instrument's
        contracts, which mean nothing on another instrument)."""
        notional = self.base_notional_share * self.starting_balance_usdt
        return msgspec.structs.replace(self, instrument=instrument_id,
                                       base_size=base_size_worth(notional, first_price, lot, multiplier))

    @classmethod
    def from_settings(cls, settings: SextantConfig, **overrides: object) -> EngineConfig:
        values: dict[str, object] = msgspec.structs.asdict(settings.engine) | {
            "llm_config": settings.llm.config, "llm_record": settings.llm.record or None,
            "trust_dir": settings.trust.dir or None,
            "chain_rpc": settings.trust.chain_rpc, "validator": settings.trust.validator,
            "research_ledger": settings.research.ledger or None}
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
        if config.portfolio:
            unknown = [instrument for instrument in config.portfolio if instrument not in DEFAULT_PORTFOLIO]
            if unknown or len(set(config.portfolio)) < len(config.portfolio):
                raise ConfigError(f"--portfolio={','.join(config.portfolio)}: each of "
                                  f"{', '.join(DEFAULT_PORTFOLIO)} at most once (the swaps the portfolio model has "
                                  f"terms for).")
            if config.venue not in ("sim", "okx"):
                raise ConfigError(f"--portfolio trades on the sim and okx venues, not {config.venue}: a recorded "
                                  f"market has one instrument.")
        if config.duration_s is not None and not (math.isfinite(config.duration_s) and config.duration_s > 0):
            raise ConfigError(f"--duration={config.duration_s}: must be a positive number of seconds.")
        return config
