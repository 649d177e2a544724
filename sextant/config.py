"""Sextant's configuration: one frozen, typed struct, loaded from `sextant.toml` and the environment.

Precedence: built-in defaults < `sextant.toml` < environment variables (docs/configuration.md). The environment
names are the original's (`OKX_API_KEY`, `SEXTANT_WS_PORT`, …); in `sextant.toml` the same settings use the field
names below (`ws_port = 8765`). Secrets (API keys, the chain key) are accepted from the environment only, so they
never sit in a file that might be committed, and they are wrapped in `Secret`, whose text form is masked.

Everything is checked at start: an unknown key, a malformed value or an inconsistent combination raises
`ConfigError`, whose message names the key, the bad value and the fix. The CLI turns it into exit code 2.

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
from typing import Any, Literal

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


class SextantConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every setting of a Sextant process. Field docs: docs/configuration.md."""

    okx_api_key: Secret = msgspec.field(default_factory=lambda: Secret(""))
    okx_api_secret: Secret = msgspec.field(default_factory=lambda: Secret(""))
    okx_api_passphrase: Secret = msgspec.field(default_factory=lambda: Secret(""))
    okx_environment: Literal["demo", "live"] = "demo"
    okx_region: Literal["global", "eea", "us"] = "global"  # where the account is: okx.com, my.okx.com, app.okx.com
    okx_base_url_http: str = ""  # empty: OKX's own REST endpoint for the region
    # Empty: OKX's own WebSocket endpoints for the environment and region. Else the base that /public, /private and
    # /business hang off, e.g. wss://ws.okx.com:8443/ws/v5.
    okx_base_url_ws: str = ""
    instrument: str = "BTC-USDT-SWAP.OKX"
    leverage: float = 2.0
    base_size: float = 1.0  # contracts
    max_trades: int = 0  # 0 = unlimited
    dry_run: bool = False
    low_latency_idle: bool = False  # hold the CPUs' wake-up latency at 0 while the engine runs (engine/idle.py)
    cooldown_secs: float = 30.0
    sl_pct: float = 0.02  # stop-loss distance from the entry price; 0 disables
    ws_port: int = 8765  # 0 = any free port (tests)
    # Comma-separated exact origins (http://localhost:3000) whose web pages may read the stream; empty: none. A
    # client that sends no Origin (the bridge, the CLI, scripts) is always accepted.
    ws_allowed_origins: str = ""
    events_path: str = "sextant_events.mmap"
    context_path: str = "sextant_context.mmap"
    commands_path: str = "sextant_commands.mmap"
    openrouter_api_key: Secret = msgspec.field(default_factory=lambda: Secret(""))
    chain_rpc: str = ""  # empty = the embedded py-evm chain
    chain_key: Secret = msgspec.field(default_factory=lambda: Secret(""))
    venue: Literal["sim", "scene", "okx"] = "sim"
    seed: int = 42
    llm_config: str = "llm.toml"
    record_dir: str = "recordings"  # every engine run records a scene here; empty: no recording
    trust_dir: str = "trust"  # the attestor's journal and signed decision records; empty: no attestation
    research_ledger: str = "research/ledger.sqlite"  # `sextant research` writes it, the engine applies from it


# field -> environment variable. Every field has one; secrets are environment-only.
ENV_NAMES: dict[str, str] = {
    "okx_api_key": "OKX_API_KEY",
    "okx_api_secret": "OKX_API_SECRET",
    "okx_api_passphrase": "OKX_API_PASSPHRASE",
    "okx_environment": "OKX_ENVIRONMENT",
    "okx_region": "OKX_REGION",
    "okx_base_url_http": "SEXTANT_OKX_BASE_URL_HTTP",
    "okx_base_url_ws": "SEXTANT_OKX_BASE_URL_WS",
    "instrument": "SEXTANT_INSTRUMENT",
    "leverage": "SEXTANT_LEVERAGE",
    "base_size": "SEXTANT_BASE_SIZE",
    "max_trades": "SEXTANT_MAX_TRADES",
    "dry_run": "SEXTANT_DRY_RUN",
    "low_latency_idle": "SEXTANT_LOW_LATENCY_IDLE",
    "cooldown_secs": "SEXTANT_COOLDOWN_SECS",
    "sl_pct": "SEXTANT_SL_PCT",
    "ws_port": "SEXTANT_WS_PORT",
    "ws_allowed_origins": "SEXTANT_WS_ALLOWED_ORIGINS",
    "events_path": "SEXTANT_EVENTS_PATH",
    "context_path": "SEXTANT_CONTEXT_PATH",
    "commands_path": "SEXTANT_COMMANDS_PATH",
    "openrouter_api_key": "OPENROUTER_API_KEY",
    "chain_rpc": "SEXTANT_CHAIN_RPC",
    "chain_key": "SEXTANT_CHAIN_KEY",
    "venue": "SEXTANT_VENUE",
    "seed": "SEXTANT_SEED",
    "llm_config": "SEXTANT_LLM_CONFIG",
    "record_dir": "SEXTANT_RECORD_DIR",
    "trust_dir": "SEXTANT_TRUST_DIR",
    "research_ledger": "SEXTANT_RESEARCH_LEDGER",
}
FIELD_BY_ENV: dict[str, str] = {name: field for field, name in ENV_NAMES.items()}
SECRET_FIELDS: frozenset[str] = frozenset(
    name for name, field_type in SextantConfig.__annotations__.items() if field_type in ("Secret", Secret))

CONFIG_FILE_ENV = "SEXTANT_CONFIG"
DEFAULT_CONFIG_FILE = "sextant.toml"
# SEXTANT_* variables that are not settings but are read by Sextant itself.
NON_SETTING_ENV: frozenset[str] = frozenset({CONFIG_FILE_ENV, "SEXTANT_SEQLOCK_UNFENCED"})

_FIELD_HELP: dict[str, str] = {
    "okx_environment": "set it to demo or live",
    "okx_region": "set it to global (okx.com), eea (my.okx.com) or us (app.okx.com)",
    "okx_base_url_http": "leave it empty for OKX itself, or give an http(s):// URL such as https://www.okx.com",
    "okx_base_url_ws": "leave it empty for OKX itself, or give the ws(s):// base of /public, /private and /business, "
                       "such as wss://ws.okx.com:8443/ws/v5",
    "instrument": "use an instrument id SYMBOL.VENUE of at most 32 ASCII characters, e.g. BTC-USDT-SWAP.OKX",
    "leverage": "use a number above 0 and at most 125, e.g. 2",
    "base_size": "use a positive number of contracts, e.g. 1.0",
    "max_trades": "use a whole number, 0 for unlimited",
    "dry_run": "use 1/0, true/false, yes/no or on/off",
    "low_latency_idle": "use 1/0, true/false, yes/no or on/off",
    "cooldown_secs": "use a number of seconds, 0 or more",
    "sl_pct": "use a fraction of the entry price below 0.5, e.g. 0.02 for 2 %, or 0 to disable",
    "ws_port": "use a TCP port between 1 and 65535 (0 picks any free port)",
    "ws_allowed_origins": "list exact origins, comma-separated, each scheme://host[:port] with no path, e.g. "
                          "http://localhost:3000, or leave it empty to allow none",
    "events_path": "use a file path",
    "context_path": "use a file path",
    "commands_path": "use a file path",
    "chain_rpc": "leave it empty for the embedded chain, or give an http(s):// or ws(s):// RPC URL",
    "chain_key": "use a 0x-prefixed 32-byte hex private key",
    "venue": "set it to sim, scene or okx",
    "seed": "use a whole number from 0 to 2**63 - 1",
    "llm_config": "use the path of an llm.toml file",
    "record_dir": "use a folder path, or leave it empty to record nothing",
    "trust_dir": "use a folder path, or leave it empty to attest nothing",
    "research_ledger": "use a file path, or leave it empty: the engine then takes no research results",
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _describe(field: str, origin: str) -> str:
    if origin == "env":
        return ENV_NAMES[field]
    return origin if origin.startswith("--") else f"{field} (in {origin})"  # a command-line flag names itself


def _fail(field: str, origin: str, value: object, problem: str) -> ConfigError:
    shown = "<secret>" if field in SECRET_FIELDS else repr(value)
    default = SextantConfig.__struct_defaults__[SextantConfig.__struct_fields__.index(field)]
    default_text = "" if field in SECRET_FIELDS else f" (default {default!r})"
    help_text = _FIELD_HELP.get(field, "see docs/configuration.md")
    return ConfigError(f"{_describe(field, origin)}={shown}: {problem}. Fix: {help_text}{default_text}.")


def _coerce_env(field: str, raw: str, origin: str = "env") -> Any:
    """Turn an environment string (or a command-line one, from `origin`) into the field's type, with a precise
    error."""
    field_type = SextantConfig.__annotations__[field]
    if field in SECRET_FIELDS:
        return Secret(raw)
    if field_type == "bool":
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise _fail(field, origin, raw, "not a boolean")
    if field_type == "int":
        try:
            return int(raw.strip())
        except ValueError:
            raise _fail(field, origin, raw, "not a whole number") from None
    if field_type == "float":
        try:
            return float(raw.strip())
        except ValueError:
            raise _fail(field, origin, raw, "not a number") from None
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
        table = _read_toml(path)
        fields = list(SextantConfig.__struct_fields__)
        for key, value in table.items():
            field = FIELD_BY_ENV.get(key, key)  # someone may write the environment name in the file
            if field in SECRET_FIELDS:
                raise ConfigError(f"{path}: {key!r} is a secret and is read from the environment only. Remove it "
                                  f"from the file and set {ENV_NAMES[field]} in the environment instead.")
            if key not in ENV_NAMES:
                hint = f" Use {field!r} (the file takes field names)." if key in FIELD_BY_ENV else \
                    _suggest(key, fields)
                raise ConfigError(f"{path}: unknown key {key!r}.{hint} Known keys: {', '.join(fields)}.")
            values[key] = value
            origins[key] = str(path)

    known_env = set(ENV_NAMES.values())
    for name in env:
        if name.startswith("SEXTANT_") and name not in known_env and name not in NON_SETTING_ENV:
            raise ConfigError(f"unknown environment variable {name}.{_suggest(name, sorted(known_env))} Unset it, "
                              f"or see docs/configuration.md for the settings.")
    for field, name in ENV_NAMES.items():
        if name in env:
            values[field] = _coerce_env(field, env[name])
            origins[field] = "env"

    return _convert_and_validate(values, origins)


def override(config: SextantConfig, values: Mapping[str, object], origins: Mapping[str, str]) -> SextantConfig:
    """`config` with `values` (field -> value, e.g. from the command line) in place of its own, validated exactly
    as the same values set in the environment would be: each goes through its variable's string parsing and every
    check of `load_config`. `origins` names where each value came from, for the message (a flag such as "--seed",
    or a file). Raises ConfigError; `config` itself is never changed."""
    merged: dict[str, Any] = msgspec.structs.asdict(config)
    for field, value in values.items():
        if field not in ENV_NAMES or field in SECRET_FIELDS:
            raise ValueError(f"{field!r} is not a setting a command line may override")
        merged[field] = _coerce_env(field, str(value).lower() if isinstance(value, bool) else str(value),
                                    origins[field])
    return _convert_and_validate(merged, dict(origins))


def _convert_and_validate(values: dict[str, Any], origins: dict[str, str]) -> SextantConfig:
    try:
        config = msgspec.convert(values, SextantConfig, dec_hook=_dec_hook)
    except msgspec.ValidationError as error:
        field = _field_from_error(str(error))
        if field is None:
            raise ConfigError(f"invalid configuration: {error}") from None
        raise _fail(field, origins.get(field, "defaults"), values.get(field), str(error).split(" - at", 1)[0]) \
            from None
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


def _field_from_error(message: str) -> str | None:
    match = re.search(r"at `\$\.(\w+)`", message)
    return match.group(1) if match else None


# An origin as browsers send it (RFC 6454): scheme, host, optional port; no path, no trailing slash.
_ORIGIN = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(:[0-9]{1,5})?")


def split_origins(text: str) -> tuple[str, ...]:
    """The origins of a ws_allowed_origins value, in order, blanks skipped."""
    return tuple(origin.strip() for origin in text.split(",") if origin.strip())


def _validate(config: SextantConfig, origins: dict[str, str]) -> None:
    def check(field: str, ok: bool, problem: str) -> None:
        if not ok:
            raise _fail(field, origins.get(field, "defaults"), getattr(config, field), problem)

    check("instrument", bool(re.fullmatch(r"[A-Za-z0-9_\-/]+\.[A-Za-z0-9_\-]+", config.instrument))
          and len(config.instrument.encode()) <= 32, "not an instrument id SYMBOL.VENUE")
    check("leverage", math.isfinite(config.leverage) and 0 < config.leverage <= 125, "out of range")
    check("base_size", math.isfinite(config.base_size) and config.base_size > 0, "must be a positive number")
    check("max_trades", config.max_trades >= 0, "must not be negative")
    check("cooldown_secs", math.isfinite(config.cooldown_secs) and config.cooldown_secs >= 0,
          "must be 0 or more seconds")
    check("ws_port", 0 <= config.ws_port <= 65535, "not a TCP port")
    check("ws_allowed_origins", all(_ORIGIN.fullmatch(origin) for origin in split_origins(config.ws_allowed_origins)),
          "not a comma-separated list of origins")
    check("sl_pct", math.isfinite(config.sl_pct) and 0 <= config.sl_pct < 0.5, "out of range")
    check("seed", 0 <= config.seed < 2**63, "out of range")
    for field in ("events_path", "context_path", "commands_path", "llm_config"):
        check(field, bool(getattr(config, field).strip()), "must not be empty")
    paths = [config.events_path, config.context_path, config.commands_path]
    if len({os.path.abspath(p) for p in paths}) != 3:
        raise ConfigError(f"SEXTANT_EVENTS_PATH, SEXTANT_CONTEXT_PATH and SEXTANT_COMMANDS_PATH must be three "
                          f"different files, got {paths}. Fix: give each its own path.")
    check("okx_base_url_http", not config.okx_base_url_http
          or bool(re.fullmatch(r"https?://[^\s/]+(/\S*)?", config.okx_base_url_http)), "not an http(s) URL")
    check("okx_base_url_ws", not config.okx_base_url_ws
          or bool(re.fullmatch(r"wss?://[^\s/]+(/\S*)?", config.okx_base_url_ws)), "not a ws(s) URL")
    check("chain_rpc", not config.chain_rpc or bool(re.match(r"^(https?|wss?)://\S+$", config.chain_rpc)),
          "not an RPC URL")
    key = config.chain_key.reveal()
    check("chain_key", not key or bool(re.fullmatch(r"0x[0-9a-fA-F]{64}", key)), "not a private key")
    if config.venue == "okx":
        missing = [ENV_NAMES[f] for f in ("okx_api_key", "okx_api_secret", "okx_api_passphrase")
                   if not getattr(config, f)]
        if missing:
            raise ConfigError(f"SEXTANT_VENUE=okx needs OKX credentials, missing: {', '.join(missing)}. Fix: export "
                              f"them (demo keys for OKX_ENVIRONMENT=demo), or use SEXTANT_VENUE=sim.")


def describe_config(config: SextantConfig) -> list[tuple[str, str, str]]:
    """(field, shown value, environment variable) for every setting; secrets masked."""
    rows = []
    for field in SextantConfig.__struct_fields__:
        value = getattr(config, field)
        if field in SECRET_FIELDS:
            shown = "<set>" if value else "<unset>"
        elif isinstance(value, str):
            shown = repr(value)
        elif isinstance(value, bool):
            shown = str(value).lower()  # as TOML writes it
        else:
            shown = str(value)
        rows.append((field, shown, ENV_NAMES[field]))
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


class LlmConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    providers: dict[str, ProviderConfig]
    models: dict[str, ModelConfig]
    roles: RolesConfig

    def model_for(self, role: Literal["perception", "strategy", "risk", "fallback", "research"]) -> ModelConfig:
        name = getattr(self.roles, role)
        if name is None:
            name = self.roles.strategy if role in ("risk", "research") else self.roles.perception
        return self.models[name]

    def provider_for(self, model: ModelConfig) -> ProviderConfig:
        return self.providers[model.provider]


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
    return config


def has_display(environ: Mapping[str, str] | None = None) -> bool:
    """Whether a window can open here: an X11 or Wayland display is named in the environment."""
    env = os.environ if environ is None else environ
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
