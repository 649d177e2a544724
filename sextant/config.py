"""Sextant's configuration: one frozen struct of typed tables, loaded from `sextant.toml` and the environment.

Precedence: built-in defaults < `sextant.toml` < environment variables (docs/configuration.md). The file has one
table per subsystem, `[engine] [bridge] [trust] [research] [llm]`, each a frozen struct that rejects unknown keys;
a setting's key is "table.field" ("engine.ws_port"), and its environment variable derives from the key
(SEXTANT_ENGINE_WS_PORT), with the original's names kept as aliases (SEXTANT_WS_PORT, OKX_REGION). Secrets (API
keys, the chain key) have a struct of their own that only the environment fills, so they never sit in a file that
might be committed, and each is a `Secret`, whose text form is masked. The engine's and the bridge's own configs
extend their tables (engine/config.py, bridge/config.py), so every setting is declared once.

Everything is checked at start: an unknown key, a malformed value or an inconsistent combination raises
`ConfigError`, whose message names the key, the bad value and the fix. The CLI turns it into exit code 2. This is
the one module that reads the environment for settings.

`llm.toml` (providers, models, roles) is loaded by `load_llm_config`, with `${ENV}` substitution; a role that
names a missing model, or a model that names a missing provider, fails here too, not at the first LLM call.
"""
from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, NoReturn

import msgspec
import tomli


class ConfigError(ValueError):
    """A configuration problem found at start. The message says which key, what is wrong and how to fix it."""


class Secret:
    """A credential. Its repr and str are masked, so it cannot leak into a log line, an event or a recording."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __repr__(self) -> str:
        return "Secret(<set>)" if self._value else "Secret(<unset>)"

    __str__ = __repr__


def _no_secret() -> Secret:
    return Secret("")


# The swaps the sim's portfolio model has terms for (market/portfolio.py: OKX_PORTFOLIO), `--portfolio`'s default
DEFAULT_PORTFOLIO: tuple[str, ...] = ("BTC-USDT-SWAP.OKX", "ETH-USDT-SWAP.OKX", "SOL-USDT-SWAP.OKX")


class EngineSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[engine]: the trading engine, its venue and its shared-memory files (which the bridge opens too)."""

    venue: Literal["sim", "scene", "catalog", "okx"] = "sim"
    instrument: str = "BTC-USDT-SWAP.OKX"  # on the catalog venue, which of the catalog's (default: its only one)
    # Several instruments at once, a crew on each (the sim and okx venues): OKX USDT swaps the sim's portfolio model
    # has terms for (DEFAULT_PORTFOLIO). Empty: `instrument` alone.
    portfolio: tuple[str, ...] = ()
    # The recorded market the scene and catalog venues play: a scene folder, or a catalog (sextant data import)
    market: str = ""
    seed: int = 42
    leverage: float = 2.0
    base_size: float = 1.0  # contracts
    max_trades: int = 0  # 0 = unlimited
    dry_run: bool = False
    low_latency_idle: bool = False  # hold the CPUs' wake-up latency at 0 while the engine runs (engine/idle.py)
    cooldown_secs: float = 30.0
    # After the captain rejects a trade, the same agent's trades the same way wait this long (0: not at all),
    # unless the mid moves reject_rearm_bps from the rejected plan's
    reject_cooldown_secs: float = 120.0
    reject_rearm_bps: float = 50.0
    sl_pct: float = 0.02  # stop-loss distance from the entry price; 0 disables
    restart_limit: int = 5  # `sextant run` restarts a crashed engine this many times in a row (0: never)
    ws_port: int = 8765  # 0 = any free port (tests)
    # Exact origins (http://localhost:3000) whose web pages may read the stream; none by default. A client that
    # sends no Origin (the bridge, the CLI, scripts) is always accepted.
    ws_allowed_origins: tuple[str, ...] = ()
    context_path: str = "sextant_context.mmap"
    events_path: str = "sextant_events.mmap"
    commands_path: str = "sextant_commands.mmap"
    record_dir: str = "recordings"  # every engine run records a scene here; empty: no recording
    okx_environment: Literal["demo", "live"] = "demo"
    okx_region: Literal["global", "eea", "us"] = "global"  # where the account is: okx.com, my.okx.com, app.okx.com
    okx_base_url_http: str = ""  # empty: OKX's own REST endpoint for the region
    # Empty: OKX's own WebSocket endpoints for the environment and region. Else the base that /public, /private and
    # /business hang off, e.g. wss://ws.okx.com:8443/ws/v5.
    okx_base_url_ws: str = ""


class BridgeSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[bridge]: the window and its loop. The files it shows are the engine's ([engine] *_path)."""

    width: int = 1920  # windowed size; full screen takes the display's size
    height: int = 1080
    fullscreen: bool = True
    tick_hz: float = 60.0  # the fixed tick: state is read and drawn once per tick
    stale_after_s: float = 1.0  # a heartbeat older than this shows STALE (docs/bridge.md)
    history_s: float = 300.0  # how much price history the sea chart shows
    reconnect_every_s: float = 0.5  # how often a missing or replaced engine file is looked for again
    antialiasing: bool = False  # MSAA costs +55-140 % on llvmpipe; the shaders anti-alias their own edges
    sound: bool = True  # a chime when a card arrives (with a window; silent without an audio device)


class TrustSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[trust]: ERC-8004 attestation of the crew's decisions (docs/trust.md)."""

    dir: str = "trust"  # the attestor's journal and signed decision records; empty: no attestation
    chain_rpc: str = ""  # empty = the embedded py-evm chain
    # the ERC-8004 validator asked to re-run each rule agent's attested decision (its address); empty: none. It
    # needs a chain it can reach too, so an RPC chain (docs/trust.md#a-validator-re-runs-each-decision)
    validator: str = ""


class ResearchSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[research]: the autoresearch ratchet's ledger, which `sextant research` writes and the engine applies from."""

    ledger: str = "research/ledger.sqlite"


class LlmSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[llm]: where the LLM providers, models and roles are declared."""

    config: str = "llm.toml"
    # Every model answer, scored against what the market did next: it calibrates each model's confidence (a model
    # with no record, or a poor one, cannot outrank the rules). Empty: kept in memory for the run only.
    record: str = "llm_record.sqlite"


class Secrets(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Credentials: from the environment only, never from a file, each masked in any text form."""

    okx_api_key: Secret = msgspec.field(default_factory=_no_secret)
    okx_api_secret: Secret = msgspec.field(default_factory=_no_secret)
    okx_api_passphrase: Secret = msgspec.field(default_factory=_no_secret)
    chain_key: Secret = msgspec.field(default_factory=_no_secret)
    validator_key: Secret = msgspec.field(default_factory=_no_secret)  # `sextant trust validator` signs with it
    openrouter_api_key: Secret = msgspec.field(default_factory=_no_secret)


class SextantConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every setting of a Sextant process, one typed table each (docs/configuration.md)."""

    engine: EngineSettings = msgspec.field(default_factory=EngineSettings)
    bridge: BridgeSettings = msgspec.field(default_factory=BridgeSettings)
    trust: TrustSettings = msgspec.field(default_factory=TrustSettings)
    research: ResearchSettings = msgspec.field(default_factory=ResearchSettings)
    llm: LlmSettings = msgspec.field(default_factory=LlmSettings)
    secrets: Secrets = msgspec.field(default_factory=Secrets)

    def value(self, key: str) -> Any:
        """A setting by its key, "table.field"."""
        table, field = key.split(".", 1)
        return getattr(getattr(self, table), field)


TABLES: dict[str, type[msgspec.Struct]] = {"engine": EngineSettings, "bridge": BridgeSettings, "trust": TrustSettings,
                                   "research": ResearchSettings, "llm": LlmSettings}
SECRETS_TABLE = "secrets"


def _field_types(table: type[msgspec.Struct]) -> dict[str, Any]:
    return {info.name: info.type for info in msgspec.structs.fields(table)}


_ALL_TABLES: dict[str, type[msgspec.Struct]] = {**TABLES, SECRETS_TABLE: Secrets}
FIELD_TYPES: dict[str, Any] = {f"{table}.{name}": kind for table, struct in _ALL_TABLES.items()
                               for name, kind in _field_types(struct).items()}
SETTINGS: tuple[str, ...] = tuple(key for key in FIELD_TYPES if not key.startswith(SECRETS_TABLE + "."))
SECRET_SETTINGS: tuple[str, ...] = tuple(key for key in FIELD_TYPES if key.startswith(SECRETS_TABLE + "."))

# Each setting's environment variable is derived from its key: [engine] ws_port is SEXTANT_ENGINE_WS_PORT. The
# names the original used stay accepted as aliases: every [engine] setting as SEXTANT_<FIELD> (SEXTANT_WS_PORT),
# and the few below. Secrets have the one name each, the original's.
_ORIGINAL_NAMES: dict[str, str] = {
    "engine.okx_environment": "OKX_ENVIRONMENT",
    "engine.okx_region": "OKX_REGION",
    "trust.chain_rpc": "SEXTANT_CHAIN_RPC",
}
SECRET_ENV_NAMES: dict[str, str] = {
    "secrets.okx_api_key": "OKX_API_KEY",
    "secrets.okx_api_secret": "OKX_API_SECRET",
    "secrets.okx_api_passphrase": "OKX_API_PASSPHRASE",
    "secrets.chain_key": "SEXTANT_CHAIN_KEY",
    "secrets.validator_key": "SEXTANT_VALIDATOR_KEY",
    "secrets.openrouter_api_key": "OPENROUTER_API_KEY",
}


def env_name(key: str) -> str:
    """The environment variable of a setting ("engine.ws_port" → SEXTANT_ENGINE_WS_PORT), or of a secret."""
    if key in SECRET_ENV_NAMES:
        return SECRET_ENV_NAMES[key]
    return "SEXTANT_" + key.replace(".", "_").upper()


def env_aliases(key: str) -> tuple[str, ...]:
    """The other names a setting answers to in the environment: the original's."""
    table, field = key.split(".", 1)
    names = [_ORIGINAL_NAMES[key]] if key in _ORIGINAL_NAMES else []
    if table == "engine" and key not in _ORIGINAL_NAMES:
        names.append("SEXTANT_" + field.upper())
    return tuple(name for name in names if name != env_name(key))


ENV_NAMES: dict[str, tuple[str, ...]] = {key: (env_name(key), *env_aliases(key)) for key in FIELD_TYPES}
KEY_BY_ENV: dict[str, str] = {name: key for key, names in ENV_NAMES.items() for name in names}

CONFIG_FILE_ENV = "SEXTANT_CONFIG"
DEFAULT_CONFIG_FILE = "sextant.toml"
# SEXTANT_* variables that are not settings but are read by Sextant itself.
NON_SETTING_ENV: frozenset[str] = frozenset({CONFIG_FILE_ENV, "SEXTANT_SEQLOCK_UNFENCED"})

_HELP: dict[str, str] = {
    "engine.venue": "set it to sim, scene, catalog or okx",
    "engine.market": "name a scene folder (venue scene) or a catalog (venue catalog), e.g. scenes/chop",
    "engine.instrument": "use an instrument id SYMBOL.VENUE of at most 32 ASCII characters, e.g. BTC-USDT-SWAP.OKX",
    "engine.seed": "use a whole number from 0 to 2**63 - 1",
    "engine.leverage": "use a number above 0 and at most 125, e.g. 2",
    "engine.base_size": "use a positive number of contracts, e.g. 1.0",
    "engine.max_trades": "use a whole number, 0 for unlimited",
    "engine.dry_run": "use 1/0, true/false, yes/no or on/off",
    "engine.low_latency_idle": "use 1/0, true/false, yes/no or on/off",
    "engine.cooldown_secs": "use a number of seconds, 0 or more",
    "engine.reject_cooldown_secs": "use a number of seconds, 0 or more (0: a rejected trade may come back at once)",
    "engine.reject_rearm_bps": "use a positive number of basis points, e.g. 50",
    "engine.restart_limit": "use a whole number from 0 (never restart) to 100",
    "engine.sl_pct": "use a fraction of the entry price below 0.5, e.g. 0.02 for 2 %, or 0 to disable",
    "engine.ws_port": "use a TCP port between 1 and 65535 (0 picks any free port)",
    "engine.ws_allowed_origins": "list exact origins (comma-separated in the environment, a list in sextant.toml), "
                                 "each scheme://host[:port] with no path, e.g. http://localhost:3000, or none",
    "engine.context_path": "use a file path",
    "engine.events_path": "use a file path",
    "engine.commands_path": "use a file path",
    "engine.record_dir": "use a folder path, or leave it empty to record nothing",
    "engine.okx_environment": "set it to demo or live",
    "engine.okx_region": "set it to global (okx.com), eea (my.okx.com) or us (app.okx.com)",
    "engine.okx_base_url_http": "leave it empty for OKX itself, or give an http(s):// URL such as https://www.okx.com",
    "engine.okx_base_url_ws": "leave it empty for OKX itself, or give the ws(s):// base of /public, /private and "
                              "/business, such as wss://ws.okx.com:8443/ws/v5",
    "bridge.width": "use a width in pixels from 320 to 7680",
    "bridge.height": "use a height in pixels from 180 to 4320",
    "bridge.fullscreen": "use 1/0, true/false, yes/no or on/off",
    "bridge.tick_hz": "use a tick rate from 1 to 240 Hz",
    "bridge.stale_after_s": "use a positive number of seconds, e.g. 1",
    "bridge.history_s": "use a positive number of seconds, e.g. 300",
    "bridge.reconnect_every_s": "use a positive number of seconds, e.g. 0.5",
    "bridge.antialiasing": "use 1/0, true/false, yes/no or on/off",
    "bridge.sound": "use 1/0, true/false, yes/no or on/off",
    "trust.dir": "use a folder path, or leave it empty to attest nothing",
    "trust.chain_rpc": "leave it empty for the embedded chain, or give an http(s):// or ws(s):// RPC URL",
    "trust.validator": "give the validator's 0x address (40 hex digits) and an RPC chain (SEXTANT_CHAIN_RPC), or "
                       "leave it empty to ask no validator",
    "research.ledger": "use a file path, or leave it empty: the engine then takes no research results",
    "llm.config": "use the path of an llm.toml file",
    "llm.record": "use a file path, or leave it empty to keep the record in memory for the run",
    "secrets.chain_key": "use a 0x-prefixed 32-byte hex private key",
    "secrets.validator_key": "use a 0x-prefixed 32-byte hex private key",
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _describe(key: str, origin: str) -> str:
    if origin == "env" or origin.startswith("env:"):
        return origin[4:] if origin.startswith("env:") else env_name(key)
    if origin.startswith("--"):
        return origin  # a command-line flag names itself
    table, field = key.split(".", 1)
    return f"{field} (in [{table}] of {origin})" if origin != "defaults" else key


def _default_of(key: str) -> Any:
    table, field = key.split(".", 1)
    return getattr(_ALL_TABLES[table](), field)


def _checksum_holds(address: str) -> bool:
    """An address in one case carries no checksum; in mixed case, its case must be its EIP-55 checksum."""
    from eth_utils import is_checksum_address

    digits = address[2:]
    return digits == digits.lower() or digits == digits.upper() or is_checksum_address(address)


def _fail(key: str, origin: str, value: object, problem: str) -> ConfigError:
    secret = key in SECRET_ENV_NAMES
    shown = "<secret>" if secret else repr(value)
    default_text = "" if secret else f" (default {_default_of(key)!r})"
    help_text = _HELP.get(key, "see docs/configuration.md")
    return ConfigError(f"{_describe(key, origin)}={shown}: {problem}. Fix: {help_text}{default_text}.")


def _coerce_text(key: str, raw: str, origin: str) -> Any:
    """Turn an environment string (or a command-line one, from `origin`) into the setting's type, with a precise
    error."""
    kind = FIELD_TYPES[key]
    if kind is Secret:
        return Secret(raw)
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise _fail(key, origin, raw, "not a boolean")
    if kind is int:
        try:
            return int(raw.strip())
        except ValueError:
            raise _fail(key, origin, raw, "not a whole number") from None
    if kind is float:
        try:
            return float(raw.strip())
        except ValueError:
            raise _fail(key, origin, raw, "not a number") from None
    if kind == tuple[str, ...]:
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    return raw.strip()


def _suggest(key: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomli.load(handle)
    except tomli.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error}). Fix the syntax.") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror}). Fix the path or the permissions.") from None


def _table_of_field(field: str) -> str | None:
    return next((table for table in TABLES if f"{table}.{field}" in FIELD_TYPES), None)


def _secret_refusal(path: Path, written: str, key: str) -> ConfigError:
    return ConfigError(f"{path}: {written!r} is a secret and is read from the environment only. Remove it from the "
                       f"file and set {env_name(key)} in the environment instead.")


def _secret_named(name: str) -> str | None:
    """The secret a file's key names, under its field name or its variable's, or None."""
    return next((key for key in SECRET_SETTINGS if name in (key.split(".", 1)[1], env_name(key))), None)


def _file_values(path: Path) -> dict[str, Any]:
    """The settings of a sextant.toml, by key ("engine.ws_port"), every name checked."""
    values: dict[str, Any] = {}
    for name, content in _read_toml(path).items():
        secret = _secret_named(name)
        if secret is not None:
            raise _secret_refusal(path, name, secret)
        if name not in TABLES:
            owner = _table_of_field(name)
            if owner is not None:  # a flat file, as before tables
                hint = f" It belongs in the [{owner}] table: write [{owner}] above it."
            elif name in KEY_BY_ENV:
                table, field = KEY_BY_ENV[name].split(".", 1)
                hint = f" Use {field!r} in the [{table}] table (the file takes field names)."
            else:
                fields = difflib.get_close_matches(name, [key.split(".", 1)[1] for key in SETTINGS], n=1, cutoff=0.6)
                hint = _suggest(name, list(TABLES)) or (
                    f" Did you mean {fields[0]!r}, in [{_table_of_field(fields[0])}]?" if fields else "")
            raise ConfigError(f"{path}: unknown table {name!r}.{hint} Tables: {', '.join(f'[{t}]' for t in TABLES)}.")
        if not isinstance(content, dict):
            raise ConfigError(f"{path}: {name!r} must be a table ([{name}] with its settings below it), got "
                              f"{type(content).__name__}.")
        fields = list(_field_types(TABLES[name]))
        for field, value in content.items():
            secret = _secret_named(field)
            if secret is not None:
                raise _secret_refusal(path, field, secret)
            if field not in fields:
                if field in KEY_BY_ENV and KEY_BY_ENV[field].startswith(name + "."):
                    hint = f" Use {KEY_BY_ENV[field].split('.', 1)[1]!r} (the file takes field names)."
                else:
                    elsewhere = _table_of_field(field)
                    hint = f" It belongs in [{elsewhere}]." if elsewhere else _suggest(field, fields)
                raise ConfigError(f"{path}: unknown key {field!r} in [{name}].{hint} Known keys: "
                                  f"{', '.join(fields)}.")
            values[f"{name}.{field}"] = tuple(value) if isinstance(value, list) else value
    return values


def _env_values(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings the environment sets, by key, and the variable each came from."""
    known = set(KEY_BY_ENV)
    for name in env:
        if name.startswith("SEXTANT_") and name not in known and name not in NON_SETTING_ENV:
            raise ConfigError(f"unknown environment variable {name}.{_suggest(name, sorted(known))} Unset it, "
                              f"or see docs/configuration.md for the settings.")
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for key, names in ENV_NAMES.items():
        given = [name for name in names if name in env]
        if len(given) > 1 and len({env[name].strip() for name in given}) > 1:
            raise ConfigError(f"{' and '.join(given)} are the same setting ({key}) with different values. Fix: set "
                              f"only {env_name(key)}.")
        if given:
            origins[key] = f"env:{given[0]}"
            values[key] = _coerce_text(key, env[given[0]], origins[key])
    return values, origins


def load_config(config_file: str | os.PathLike[str] | None = None,
                environ: Mapping[str, str] | None = None) -> SextantConfig:
    """Load and validate the configuration.

    `config_file`: a sextant.toml path; None means $SEXTANT_CONFIG, or ./sextant.toml if it exists. An explicit
    path that does not exist is an error.
    """
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    explicit = config_file is not None or CONFIG_FILE_ENV in env
    path = Path(config_file if config_file is not None else env.get(CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE))
    if path.exists() or explicit:
        if not path.exists():
            raise ConfigError(f"config file {path} does not exist. Fix the path (--config or {CONFIG_FILE_ENV}).")
        values = _file_values(path)
        origins = dict.fromkeys(values, str(path))
    from_env, env_origins = _env_values(env)
    values.update(from_env)
    origins.update(env_origins)
    return _convert_and_validate(values, origins)


def override(config: SextantConfig, values: Mapping[str, object], origins: Mapping[str, str]) -> SextantConfig:
    """`config` with `values` (key -> value, e.g. from the command line) in place of its own, validated exactly as
    the same values set in the environment would be: each goes through its variable's string parsing and every
    check of `load_config`. `origins` names where each value came from, for the message (a flag such as "--seed",
    or a file). Raises ConfigError; `config` itself is never changed."""
    merged = {key: config.value(key) for key in FIELD_TYPES}
    for key, value in values.items():
        if key not in SETTINGS:
            raise ValueError(f"{key!r} is not a setting a command line may override")
        text = str(value).lower() if isinstance(value, bool) else ",".join(value) if isinstance(value, tuple) \
            else str(value)
        merged[key] = _coerce_text(key, text, origins[key])
    return _convert_and_validate(merged, dict(origins))


def _nest(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    nested: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        table, field = key.split(".", 1)
        nested.setdefault(table, {})[field] = value
    return nested


def _convert_and_validate(values: dict[str, Any], origins: dict[str, str]) -> SextantConfig:
    try:
        config = msgspec.convert(_nest(values), SextantConfig, dec_hook=_dec_hook)
    except msgspec.ValidationError as error:
        key = _key_from_error(str(error))
        if key is None:
            raise ConfigError(f"invalid configuration: {error}") from None
        raise _fail(key, origins.get(key, "defaults"), values.get(key), str(error).split(" - at", 1)[0]) from None
    _validate(config, origins)
    return config


def _dec_hook(field_type: type, value: Any) -> Any:
    """msgspec's hook for our own types: only Secret, which must be text."""
    if field_type is not Secret:
        # msgspec's protocol for "this hook does not handle that type"; msgspec then reports the field.
        raise NotImplementedError(f"no conversion to {field_type}")
    if isinstance(value, Secret):
        return value
    if isinstance(value, str):
        return Secret(value)
    raise ValueError(f"a secret must be text, got {type(value).__name__}")


def _key_from_error(message: str) -> str | None:
    match = re.search(r"at `\$\.(\w+)\.(\w+)", message)
    return f"{match.group(1)}.{match.group(2)}" if match else None


# An origin as browsers send it (RFC 6454): scheme, host, optional port; no path, no trailing slash.
_ORIGIN = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(:[0-9]{1,5})?")


def _validate(config: SextantConfig, origins: dict[str, str]) -> None:
    def check(key: str, ok: bool, problem: str) -> None:
        if not ok:
            value = config.value(key)
            shown = ",".join(value) if isinstance(value, tuple) else value  # as the environment writes a list
            raise _fail(key, origins.get(key, "defaults"), shown, problem)

    def positive(key: str) -> None:
        value = config.value(key)
        check(key, math.isfinite(value) and value > 0, "must be a positive number")

    engine, bridge = config.engine, config.bridge
    check("engine.instrument", bool(re.fullmatch(r"[A-Za-z0-9_\-/]+\.[A-Za-z0-9_\-]+", engine.instrument))
          and len(engine.instrument.encode()) <= 32, "not an instrument id SYMBOL.VENUE")
    check("engine.leverage", math.isfinite(engine.leverage) and 0 < engine.leverage <= 125, "out of range")
    positive("engine.base_size")
    check("engine.market", engine.venue not in ("scene", "catalog") or bool(engine.market.strip()),
          f"the {engine.venue} venue plays a recorded market: name it")
    check("engine.max_trades", engine.max_trades >= 0, "must not be negative")
    check("engine.restart_limit", 0 <= engine.restart_limit <= 100, "out of range")
    for key in ("engine.cooldown_secs", "engine.reject_cooldown_secs"):
        seconds = config.value(key)
        check(key, math.isfinite(seconds) and seconds >= 0, "must be 0 or more seconds")
    positive("engine.reject_rearm_bps")
    check("engine.ws_port", 0 <= engine.ws_port <= 65535, "not a TCP port")
    not_origins = [origin for origin in engine.ws_allowed_origins if not _ORIGIN.fullmatch(origin)]
    check("engine.ws_allowed_origins", not not_origins, f"{', '.join(map(repr, not_origins))} not an origin")
    check("engine.sl_pct", math.isfinite(engine.sl_pct) and 0 <= engine.sl_pct < 0.5, "out of range")
    check("engine.seed", 0 <= engine.seed < 2**63, "out of range")
    for key in ("engine.events_path", "engine.context_path", "engine.commands_path", "llm.config"):
        check(key, bool(config.value(key).strip()), "must not be empty")
    paths = {key: config.value(key) for key in ("engine.events_path", "engine.context_path", "engine.commands_path")}
    if len({os.path.abspath(p) for p in paths.values()}) != 3:
        described = [_describe(key, origins.get(key, "defaults")) for key in paths]
        names = f"{', '.join(described[:-1])} and {described[-1]}"
        raise ConfigError(f"{names} must be three different files, got {list(paths.values())}. Fix: give each its "
                          f"own path.")
    check("engine.okx_base_url_http", not engine.okx_base_url_http
          or bool(re.fullmatch(r"https?://[^\s/]+(/\S*)?", engine.okx_base_url_http)), "not an http(s) URL")
    check("engine.okx_base_url_ws", not engine.okx_base_url_ws
          or bool(re.fullmatch(r"wss?://[^\s/]+(/\S*)?", engine.okx_base_url_ws)), "not a ws(s) URL")
    check("bridge.width", 320 <= bridge.width <= 7680, "out of range")
    check("bridge.height", 180 <= bridge.height <= 4320, "out of range")
    check("bridge.tick_hz", math.isfinite(bridge.tick_hz) and 1 <= bridge.tick_hz <= 240, "out of range")
    for key in ("bridge.stale_after_s", "bridge.history_s", "bridge.reconnect_every_s"):
        positive(key)
    check("trust.chain_rpc", not config.trust.chain_rpc
          or bool(re.match(r"^(https?|wss?)://\S+$", config.trust.chain_rpc)), "not an RPC URL")
    check("trust.validator", not config.trust.validator
          or bool(re.fullmatch(r"0x[0-9a-fA-F]{40}", config.trust.validator)), "not an address")
    check("trust.validator", not config.trust.validator or _checksum_holds(config.trust.validator),
          "mistyped: its mixed case is an EIP-55 checksum that does not match its digits")
    check("trust.validator", not config.trust.validator or bool(config.trust.chain_rpc),
          "needs an RPC chain (trust.chain_rpc): the embedded chain lives inside the attestor, where no validator "
          "can reach it")
    for name in ("chain_key", "validator_key"):
        key = getattr(config.secrets, name).reveal()
        check(f"secrets.{name}", not key or bool(re.fullmatch(r"0x[0-9a-fA-F]{64}", key)), "not a private key")
    if engine.venue == "okx":
        missing = [env_name(f"secrets.{name}") for name in ("okx_api_key", "okx_api_secret", "okx_api_passphrase")
                   if not getattr(config.secrets, name)]
        if missing:
            venue = _describe("engine.venue", origins.get("engine.venue", "env"))
            raise ConfigError(f"{venue}=okx needs OKX credentials, missing: {', '.join(missing)}. Fix: export "
                              f"them (demo keys for okx_environment demo), or use the sim venue.")


def describe_config(config: SextantConfig) -> list[tuple[str, str, str]]:
    """(key, shown value, environment variable) for every setting and secret; secrets masked."""
    rows = []
    for key, kind in FIELD_TYPES.items():
        value = config.value(key)
        if kind is Secret:
            shown = "<set>" if value else "<unset>"
        elif isinstance(value, str):
            shown = repr(value)
        elif isinstance(value, bool):
            shown = str(value).lower()  # as TOML writes it
        elif isinstance(value, tuple):
            shown = repr(list(value))  # as TOML writes a list
        else:
            shown = str(value)
        rows.append((key, shown, env_name(key)))
    return rows


# ------------------------------------------------------------------------------------------------------ llm.toml


class ProviderConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    api_base: str
    api_key: Secret = msgspec.field(default_factory=lambda: Secret(""))
    timeout_secs: float = 30.0
    default_model: str | None = None
    # How to ask for structured output: OpenAI's "json_schema" (OpenAI, OpenRouter, vLLM), "json_object" with the
    # schema attached (llama.cpp's server, which rejects json_schema with HTTP 500), or "none" (prompt only).
    structured_output: Literal["json_schema", "json_object", "none"] = "json_schema"
    # A response body larger than this is dropped unread (a failed call); an answer needs a few hundred bytes.
    max_response_bytes: int = 262_144
    # Ask for a streamed answer, so that a call given up at its deadline stops the generation (a server stops
    # generating for a client that has gone); false only for a server that cannot stream.
    stream: bool = True


class ModelConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    provider: str
    model: str
    temperature: float = 0.7
    max_tokens: int = 512
    system_prompt: str | None = None


class RolesConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    perception: str
    strategy: str
    risk: str | None = None  # defaults to strategy
    fallback: str | None = None  # defaults to perception
    research: str | None = None  # research proposals (`sextant research --proposer llm`); defaults to strategy


class PerceptionSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """llm.toml's [perception]: when the router asks a model, how long it waits, what an answer is worth and for how
    long, and what it may spend (sextant/swarm/router.py, docs/configuration.md#the-perception-router)."""

    l1_threshold: float = 0.5  # the rules less sure than this: ask L2
    l2_threshold: float = 0.6  # L2 less sure than this: ask L3
    l3_threshold: float = 0.6  # an L3 answer less sure than this places nothing
    l2_deadline_s: float = 5.0
    l3_deadline_s: float = 15.0
    answer_ttl_s: float = 10.0  # an answer applies at most this long after it arrives …
    answer_max_move_bps: float = 5.0  # … while the mid stays this close to the mid it was asked on, in the same sea
    cache_ttl_s: float = 10.0  # the answer for a market state seen again: the same age bound by default
    warm_quotes: int = 60  # no question before this many quotes (the features are still zeros)
    answer_horizon_s: float = 60.0  # a directional answer is scored on the mid this long after it was asked
    tokens_per_hour: int = 200_000
    usd_per_hour: float = 1.0
    retry_after_failure_s: float = 30.0  # after an escalation that got nothing usable, rules only for this long
    max_retry_after_failure_s: float = 300.0  # the back-off doubles up to this while failures repeat
    failed_call_tokens: int = 1_000  # the least a failed call is charged (it reports no usage, or none to trust)
    failed_call_usd: float = 0.001


class LlmConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    providers: dict[str, ProviderConfig]
    models: dict[str, ModelConfig]
    roles: RolesConfig
    perception: PerceptionSettings = msgspec.field(default_factory=PerceptionSettings)

    def model_for(self, role: Literal["perception", "strategy", "risk", "fallback", "research"]) -> ModelConfig:
        name = getattr(self.roles, role)
        if name is None:
            name = self.roles.strategy if role in ("risk", "research") else self.roles.perception
        return self.models[name]

    def provider_for(self, model: ModelConfig) -> ProviderConfig:
        return self.providers[model.provider]

    def keyless(self, role: Literal["perception", "strategy", "risk", "fallback", "research"]) -> str | None:
        """Why `role` cannot be asked (a remote provider without an API key; a server on this machine needs none),
        or None when it can."""
        provider = self.provider_for(self.model_for(role))
        local = provider.api_base.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]"))
        return None if provider.api_key or local else f"{provider.api_base} has no API key"


_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _substitute(value: Any, env: Mapping[str, str]) -> Any:
    """Replace ${NAME} in every string with the environment's value ('' when unset: the provider is then keyless)."""
    if isinstance(value, str):
        return _ENV_REFERENCE.sub(lambda match: env.get(match.group(1), ""), value)
    if isinstance(value, dict):
        return {key: _substitute(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, env) for item in value]
    return value


def load_llm_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> LlmConfig:
    """Load llm.toml, substitute ${ENV}, and check every cross-reference."""
    source = Path(path)
    if not source.exists():
        raise ConfigError(f"LLM config {source} does not exist. Fix: create it (see the shipped llm.toml) or set "
                          f"SEXTANT_LLM_CONFIG to its path.")
    table = _substitute(_read_toml(source), os.environ if environ is None else environ)
    for section in ("providers", "models", "roles"):
        if section not in table:
            raise ConfigError(f"{source}: missing [{section}] table. Fix: add it (see the shipped llm.toml).")
    try:
        config = msgspec.convert(table, LlmConfig, dec_hook=_dec_hook)
    except msgspec.ValidationError as error:
        raise ConfigError(f"{source}: {error}. Fix that entry (see docs/configuration.md).") from None
    for name, provider in config.providers.items():
        if not re.match(r"^https?://\S+$", provider.api_base):
            raise ConfigError(f"{source}: providers.{name}.api_base={provider.api_base!r} is not an http(s) URL. "
                              f"Fix: e.g. http://127.0.0.1:8000/v1.")
        if not (math.isfinite(provider.timeout_secs) and provider.timeout_secs > 0):
            raise ConfigError(f"{source}: providers.{name}.timeout_secs must be a positive number of seconds.")
        if not 1024 <= provider.max_response_bytes <= 64 * 1024 * 1024:
            raise ConfigError(f"{source}: providers.{name}.max_response_bytes={provider.max_response_bytes} must be "
                              f"between 1024 and 67108864 bytes.")
    for name, model in config.models.items():
        if model.provider not in config.providers:
            raise ConfigError(f"{source}: models.{name}.provider={model.provider!r} names no provider."
                              f"{_suggest(model.provider, list(config.providers))} Known providers: "
                              f"{', '.join(config.providers) or 'none'}.")
        if not (math.isfinite(model.temperature) and 0 <= model.temperature <= 2):
            raise ConfigError(f"{source}: models.{name}.temperature={model.temperature} must be between 0 and 2.")
        if model.max_tokens <= 0:
            raise ConfigError(f"{source}: models.{name}.max_tokens={model.max_tokens} must be positive.")
    for role in RolesConfig.__struct_fields__:
        name = getattr(config.roles, role)
        if name is not None and name not in config.models:
            raise ConfigError(f"{source}: roles.{role}={name!r} names no model.{_suggest(name, list(config.models))} "
                              f"Known models: {', '.join(config.models) or 'none'}.")
    _check_perception(source, config.perception)
    return config


def _check_perception(source: Path, settings: PerceptionSettings) -> None:
    def fail(name: str, problem: str) -> NoReturn:
        raise ConfigError(f"{source}: perception.{name}={getattr(settings, name)!r} {problem}.")

    for name in ("l1_threshold", "l2_threshold", "l3_threshold"):
        value = getattr(settings, name)
        if not (math.isfinite(value) and 0 <= value <= 1):
            fail(name, "must be a confidence between 0 and 1")
    for name in ("l2_deadline_s", "l3_deadline_s", "answer_ttl_s", "cache_ttl_s", "answer_horizon_s",
                 "answer_max_move_bps", "usd_per_hour", "retry_after_failure_s", "max_retry_after_failure_s"):
        value = getattr(settings, name)
        if not (math.isfinite(value) and value > 0):
            fail(name, "must be a positive number")
    for name in ("warm_quotes", "failed_call_tokens"):
        if getattr(settings, name) < 0:
            fail(name, "must not be negative")
    if settings.tokens_per_hour <= 0:
        fail("tokens_per_hour", "must be positive")
    if not (math.isfinite(settings.failed_call_usd) and settings.failed_call_usd >= 0):
        fail("failed_call_usd", "must be 0 or more")
    if settings.max_retry_after_failure_s < settings.retry_after_failure_s:
        fail("max_retry_after_failure_s", f"must be at least retry_after_failure_s ({settings.retry_after_failure_s})")


def has_display(environ: Mapping[str, str] | None = None) -> bool:
    """Whether a window can open here: an X11 or Wayland display is named in the environment."""
    env = os.environ if environ is None else environ
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
