"""Specification of Sextant's configuration (sextant/config.py).

Precedence is defaults < sextant.toml < environment; the file has one table per subsystem, each a typed struct; every
environment name derives from its setting's key, with the original's names kept as aliases; every problem is a
ConfigError that names the key, the bad value and the fix; secrets come from the environment only and never show
in text. Every test runs in an empty
tmp_path with `clean_env`, so neither a real ./sextant.toml nor the developer's shell leaks in.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from sextant.config import (
    ENV_NAMES,
    FIELD_TYPES,
    SECRET_SETTINGS,
    SETTINGS,
    TABLES,
    ConfigError,
    EngineSettings,
    LlmConfig,
    Secret,
    SextantConfig,
    describe_config,
    env_name,
    load_config,
    load_llm_config,
    override,
)
from sextant.engine.config import EngineConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED_LLM_TOML = REPO_ROOT / "llm.toml"

VALID_CHAIN_KEY = "0x" + "ab" * 32
OKX_CREDENTIALS = {"OKX_API_KEY": "k-123", "OKX_API_SECRET": "s-456", "OKX_API_PASSPHRASE": "p-789"}


@pytest.fixture(autouse=True)
def isolated(clean_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Sextant variable in the environment and an empty working directory (no ./sextant.toml)."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def write_toml(tmp_path: Path) -> Callable[[str, str], Path]:
    def write(text: str, name: str = "sextant.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


def config_error(environ: dict[str, str] | None = None, config_file: Path | None = None) -> str:
    """Load with the given inputs, expect a ConfigError, return its message."""
    with pytest.raises(ConfigError) as caught:
        load_config(config_file, environ={} if environ is None else environ)
    return str(caught.value)


# ----------------------------------------------------------------------------------------------- sextant.toml


class TestDefaults:
    def test_defaults_equal_the_originals(self) -> None:
        engine = load_config(environ={}).engine
        assert engine.okx_environment == "demo"
        assert engine.instrument == "BTC-USDT-SWAP.OKX"
        assert engine.leverage == 2
        assert engine.base_size == 1.0
        assert engine.max_trades == 0
        assert engine.dry_run is False
        assert engine.cooldown_secs == 30
        assert engine.ws_port == 8765
        assert engine.events_path == "sextant_events.mmap"
        assert engine.context_path == "sextant_context.mmap"
        assert engine.venue == "sim"

    def test_secrets_default_to_empty_secrets(self) -> None:
        config = load_config(environ={})
        for key in SECRET_SETTINGS:
            value = config.value(key)
            assert isinstance(value, Secret)
            assert not value
            assert value.reveal() == ""

    def test_no_config_file_in_the_working_directory_is_fine(self, tmp_path: Path) -> None:
        assert not (tmp_path / "sextant.toml").exists()
        assert load_config(environ={}) == SextantConfig()

    def test_load_config_reads_os_environ_when_no_environ_is_given(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SEXTANT_WS_PORT", "9001")
        assert load_config().engine.ws_port == 9001


class TestConfigStruct:
    def test_is_frozen_table_by_table(self) -> None:
        config = load_config(environ={})
        with pytest.raises(AttributeError):
            config.engine.ws_port = 1  # type: ignore[misc]
        with pytest.raises(AttributeError):
            config.engine = EngineSettings()  # type: ignore[misc]

    def test_one_table_per_subsystem(self) -> None:
        assert list(TABLES) == ["engine", "bridge", "trust", "research", "llm"]
        assert [name for name in SextantConfig.__struct_fields__] == [*TABLES, "secrets"]

    def test_fields_are_typed_end_to_end(self) -> None:
        hints = typing.get_type_hints(EngineSettings)
        assert hints["ws_port"] is int
        assert hints["max_trades"] is int
        assert hints["seed"] is int
        assert hints["leverage"] is float
        assert hints["dry_run"] is bool
        assert hints["instrument"] is str
        assert hints["ws_allowed_origins"] == tuple[str, ...]
        assert set(typing.get_args(hints["venue"])) == {"sim", "scene", "catalog", "okx"}
        assert set(typing.get_args(hints["okx_environment"])) == {"demo", "live"}
        assert FIELD_TYPES["secrets.okx_api_key"] is Secret

    def test_loaded_values_have_the_declared_types(self) -> None:
        config = load_config(environ={"SEXTANT_LEVERAGE": "3", "SEXTANT_WS_PORT": "9000", "SEXTANT_DRY_RUN": "1"})
        assert isinstance(config.engine.leverage, float) and config.engine.leverage == 3.0
        assert isinstance(config.engine.ws_port, int) and config.engine.ws_port == 9000
        assert config.engine.dry_run is True

    def test_unknown_constructor_field_is_rejected(self) -> None:
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert({"engine": {"ws_prot": 1}}, SextantConfig)

    def test_the_engine_and_bridge_configs_extend_their_tables_rather_than_copy_them(self) -> None:
        from sextant.bridge.config import BridgeConfig
        from sextant.config import BridgeSettings

        assert issubclass(EngineConfig, EngineSettings) and issubclass(BridgeConfig, BridgeSettings)
        settings = load_config(environ={"SEXTANT_INSTRUMENT": "ETH-USDT-SWAP.OKX", "SEXTANT_BRIDGE_TICK_HZ": "30"})
        assert EngineConfig.from_settings(settings).instrument == "ETH-USDT-SWAP.OKX"
        assert BridgeConfig.from_settings(settings).tick_hz == 30.0


class TestEnvironmentNames:
    def test_each_name_derives_from_the_settings_key(self) -> None:
        assert env_name("engine.ws_port") == "SEXTANT_ENGINE_WS_PORT"
        assert env_name("bridge.tick_hz") == "SEXTANT_BRIDGE_TICK_HZ"
        assert env_name("trust.chain_rpc") == "SEXTANT_TRUST_CHAIN_RPC"
        assert env_name("research.ledger") == "SEXTANT_RESEARCH_LEDGER"
        assert env_name("llm.config") == "SEXTANT_LLM_CONFIG"
        for key in SETTINGS:
            assert ENV_NAMES[key][0] == "SEXTANT_" + key.replace(".", "_").upper()

    @pytest.mark.parametrize(("alias", "key", "value", "expected"), [
        ("SEXTANT_WS_PORT", "engine.ws_port", "9001", 9001),
        ("SEXTANT_INSTRUMENT", "engine.instrument", "BTC-USDT-SWAP.OKX", "BTC-USDT-SWAP.OKX"),
        ("OKX_ENVIRONMENT", "engine.okx_environment", "live", "live"),
        ("OKX_REGION", "engine.okx_region", "eea", "eea"),
        ("SEXTANT_OKX_BASE_URL_WS", "engine.okx_base_url_ws", "wss://x.example/ws/v5", "wss://x.example/ws/v5"),
        ("SEXTANT_CHAIN_RPC", "trust.chain_rpc", "http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("SEXTANT_TRUST_DIR", "trust.dir", "elsewhere", "elsewhere"),
    ])
    def test_the_originals_names_stay_accepted(self, alias: str, key: str, value: str, expected: object) -> None:
        assert alias in ENV_NAMES[key]
        assert load_config(environ={alias: value}).value(key) == expected
        assert load_config(environ={env_name(key): value}).value(key) == expected

    def test_a_setting_under_two_names_with_two_values_is_refused(self) -> None:
        message = config_error({"SEXTANT_WS_PORT": "9001", "SEXTANT_ENGINE_WS_PORT": "9002"})
        assert "SEXTANT_WS_PORT" in message and "SEXTANT_ENGINE_WS_PORT" in message and "Fix:" in message

    def test_the_same_value_under_both_names_is_fine(self) -> None:
        config = load_config(environ={"SEXTANT_WS_PORT": "9001", "SEXTANT_ENGINE_WS_PORT": "9001"})
        assert config.engine.ws_port == 9001

    def test_secrets_keep_the_originals_names(self) -> None:
        assert {key: ENV_NAMES[key] for key in SECRET_SETTINGS} == {
            "secrets.okx_api_key": ("OKX_API_KEY",), "secrets.okx_api_secret": ("OKX_API_SECRET",),
            "secrets.okx_api_passphrase": ("OKX_API_PASSPHRASE",), "secrets.chain_key": ("SEXTANT_CHAIN_KEY",),
            "secrets.validator_key": ("SEXTANT_VALIDATOR_KEY",), "secrets.openrouter_api_key": ("OPENROUTER_API_KEY",)}


class TestPrecedence:
    def test_file_overrides_defaults(self, write_toml: Callable[..., Path]) -> None:
        path = write_toml('[engine]\nws_port = 9100\ninstrument = "ETH-USDT-SWAP.OKX"\nleverage = 3\ndry_run = true\n'
                          '[bridge]\ntick_hz = 30\n')
        config = load_config(path, environ={})
        assert config.engine.ws_port == 9100
        assert config.engine.instrument == "ETH-USDT-SWAP.OKX"
        assert config.engine.leverage == 3.0
        assert config.engine.dry_run is True
        assert config.bridge.tick_hz == 30.0
        assert config.engine.base_size == 1.0  # untouched: still the default

    def test_environment_overrides_file(self, write_toml: Callable[..., Path]) -> None:
        path = write_toml("[engine]\nws_port = 9100\nmax_trades = 5\n")
        config = load_config(path, environ={"SEXTANT_WS_PORT": "9200"})
        assert config.engine.ws_port == 9200
        assert config.engine.max_trades == 5  # not in the environment: the file's value

    def test_environment_overrides_defaults(self) -> None:
        config = load_config(environ={"SEXTANT_ENGINE_VENUE": "scene", "SEXTANT_ENGINE_MARKET": "scenes/chop"})
        assert (config.engine.venue, config.engine.market) == ("scene", "scenes/chop")

    def test_sextant_toml_in_working_directory_is_picked_up(self, write_toml: Callable[..., Path]) -> None:
        write_toml("[engine]\nws_port = 9300\n")
        assert load_config(environ={}).engine.ws_port == 9300

    def test_sextant_config_variable_names_the_file(self, write_toml: Callable[..., Path]) -> None:
        path = write_toml("[engine]\nws_port = 9400\n", name="other.toml")
        assert load_config(environ={"SEXTANT_CONFIG": str(path)}).engine.ws_port == 9400

    def test_a_list_in_the_file_is_a_list_of_origins(self, write_toml: Callable[..., Path]) -> None:
        path = write_toml('[engine]\nws_allowed_origins = ["http://localhost:3000", "https://dash.example"]\n')
        assert load_config(path, environ={}).engine.ws_allowed_origins == ("http://localhost:3000",
                                                                            "https://dash.example")


class TestUnknownKeys:
    def test_unknown_toml_key_is_named_with_a_suggestion(self, write_toml: Callable[..., Path]) -> None:
        message = config_error(config_file=write_toml("[engine]\nws_prot = 1\n"))
        assert "'ws_prot'" in message and "[engine]" in message
        assert "Did you mean 'ws_port'?" in message

    def test_unknown_toml_key_far_from_any_name_lists_the_known_keys(self, write_toml: Callable[..., Path]) -> None:
        message = config_error(config_file=write_toml("[engine]\nzzzz = 1\n"))
        assert "'zzzz'" in message
        assert "Did you mean" not in message
        assert "ws_port" in message

    def test_a_key_in_the_wrong_table_says_where_it_belongs(self, write_toml: Callable[..., Path]) -> None:
        message = config_error(config_file=write_toml("[bridge]\nws_port = 1\n"))
        assert "'ws_port'" in message and "belongs in [engine]" in message

    def test_a_flat_file_from_before_tables_says_which_table(self, write_toml: Callable[..., Path]) -> None:
        message = config_error(config_file=write_toml("ws_port = 9000\n"))
        assert "'ws_port'" in message and "[engine]" in message

    def test_an_unknown_table_is_named_with_a_suggestion(self, write_toml: Callable[..., Path]) -> None:
        message = config_error(config_file=write_toml("[engin]\nws_port = 1\n"))
        assert "'engin'" in message and "Did you mean 'engine'?" in message

    def test_environment_name_in_the_file_gets_a_field_name_hint(self, write_toml: Callable[..., Path]) -> None:
        message = config_error(config_file=write_toml("[engine]\nSEXTANT_WS_PORT = 1\n"))
        assert "SEXTANT_WS_PORT" in message
        assert "Use 'ws_port'" in message

    def test_unknown_sextant_environment_variable_is_named_with_a_suggestion(self) -> None:
        message = config_error({"SEXTANT_WS_PROT": "1"})
        assert "SEXTANT_WS_PROT" in message
        assert "Did you mean 'SEXTANT_WS_PORT'?" in message

    def test_non_setting_sextant_variables_are_not_unknown(self) -> None:
        assert load_config(environ={"SEXTANT_SEQLOCK_UNFENCED": "1"}) == SextantConfig()

    def test_unrelated_environment_variables_are_ignored(self) -> None:
        assert load_config(environ={"HOME": "/nowhere", "WS_PORT": "abc"}) == SextantConfig()


class TestBadValues:
    @pytest.mark.parametrize(
        ("env_name", "value"),
        [
            ("SEXTANT_WS_PORT", "abc"),
            ("SEXTANT_WS_PORT", "70000"),
            ("SEXTANT_DRY_RUN", "maybe"),
            ("OKX_ENVIRONMENT", "paper"),
            ("SEXTANT_LEVERAGE", "0"),
            ("SEXTANT_LEVERAGE", "500"),
            ("SEXTANT_LEVERAGE", "two"),
            ("SEXTANT_BASE_SIZE", "-1"),
            ("SEXTANT_BASE_SIZE", "nan"),
            ("SEXTANT_MAX_TRADES", "-1"),
            ("SEXTANT_MAX_TRADES", "1.5"),
            ("SEXTANT_COOLDOWN_SECS", "-5"),
            ("SEXTANT_INSTRUMENT", "BTCUSDT"),
            ("SEXTANT_CHAIN_RPC", "localhost:8545"),
            ("SEXTANT_TRUST_VALIDATOR", "validator.eth"),
            ("SEXTANT_VENUE", "binance"),
            ("SEXTANT_SEED", "-1"),
            ("SEXTANT_ENGINE_SEED", "-1"),
            ("SEXTANT_BRIDGE_TICK_HZ", "0"),
            ("SEXTANT_BRIDGE_WIDTH", "100"),
            ("SEXTANT_BRIDGE_STALE_AFTER_S", "nan"),
            ("SEXTANT_BRIDGE_FULLSCREEN", "maybe"),
            ("SEXTANT_REJECT_COOLDOWN_SECS", "-1"),
            ("SEXTANT_ENGINE_REJECT_REARM_BPS", "0"),
        ],
    )
    def test_bad_value_names_the_variable_the_value_and_the_fix(self, env_name: str, value: str) -> None:
        message = config_error({env_name: value})
        assert env_name in message
        assert value in message
        assert "Fix:" in message

    def test_malformed_chain_key_names_the_variable_and_the_fix_but_not_the_key(self) -> None:
        bad_key = "0xdeadbeef"
        message = config_error({"SEXTANT_CHAIN_KEY": bad_key})
        assert "SEXTANT_CHAIN_KEY" in message
        assert "Fix:" in message
        assert bad_key not in message  # a secret is never echoed, even when malformed

    def test_valid_chain_settings_load(self) -> None:
        config = load_config(environ={"SEXTANT_CHAIN_RPC": "http://127.0.0.1:8545",
                                      "SEXTANT_CHAIN_KEY": VALID_CHAIN_KEY})
        assert config.trust.chain_rpc == "http://127.0.0.1:8545"
        assert config.secrets.chain_key.reveal() == VALID_CHAIN_KEY

    def test_a_validator_needs_a_chain_it_can_reach(self) -> None:
        validator = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # anvil's second account
        message = config_error({"SEXTANT_TRUST_VALIDATOR": validator})
        assert "SEXTANT_TRUST_VALIDATOR" in message and "needs an RPC chain" in message and "Fix:" in message
        config = load_config(environ={"SEXTANT_TRUST_VALIDATOR": validator,
                                      "SEXTANT_CHAIN_RPC": "http://127.0.0.1:8545"})
        assert config.trust.validator == validator
        mistyped = "0x70997970C51812dc3A010C7d01b50e4f4ce0B6C8"  # a valid address's case over other digits
        message = config_error({"SEXTANT_TRUST_VALIDATOR": mistyped, "SEXTANT_CHAIN_RPC": "http://127.0.0.1:8545"})
        assert "mistyped" in message and "EIP-55" in message
        lower = load_config(environ={"SEXTANT_TRUST_VALIDATOR": validator.lower(),
                                     "SEXTANT_CHAIN_RPC": "http://127.0.0.1:8545"})
        assert lower.trust.validator == validator.lower(), "one case carries no checksum: taken as it is"

    def test_malformed_validator_key_is_refused_but_never_shown(self) -> None:
        message = config_error({"SEXTANT_VALIDATOR_KEY": "0xdeadbeef"})
        assert "SEXTANT_VALIDATOR_KEY" in message and "0xdeadbeef" not in message

    def test_identical_events_and_context_paths_are_refused(self) -> None:
        message = config_error({"SEXTANT_EVENTS_PATH": "same.mmap", "SEXTANT_CONTEXT_PATH": "same.mmap"})
        assert "SEXTANT_EVENTS_PATH" in message
        assert "SEXTANT_CONTEXT_PATH" in message
        assert "same.mmap" in message
        assert "Fix:" in message

    def test_bad_value_in_the_file_names_the_field_the_table_and_the_file(
            self, write_toml: Callable[..., Path]) -> None:
        path = write_toml('[engine]\nws_port = "abc"\n')
        message = config_error(config_file=path)
        assert "ws_port" in message and "[engine]" in message
        assert str(path) in message
        assert "'abc'" in message
        assert "Fix:" in message

    def test_out_of_range_value_in_the_file_is_refused(self, write_toml: Callable[..., Path]) -> None:
        message = config_error(config_file=write_toml("[engine]\nleverage = 500\n"))
        assert "leverage" in message
        assert "500" in message
        assert "Fix:" in message

    def test_a_table_that_is_not_a_table_is_refused(self, write_toml: Callable[..., Path]) -> None:
        message = config_error(config_file=write_toml("engine = 1\n"))
        assert "'engine' must be a table" in message

    @pytest.mark.parametrize("env_name", ["SEXTANT_LEVERAGE", "SEXTANT_BASE_SIZE", "SEXTANT_COOLDOWN_SECS"])
    def test_nan_is_refused_by_every_number_setting(self, env_name: str) -> None:
        message = config_error({env_name: "nan"})
        assert env_name in message
        assert "Fix:" in message

    def test_port_zero_means_any_free_port_and_is_accepted(self) -> None:
        assert load_config(environ={"SEXTANT_WS_PORT": "0"}).engine.ws_port == 0

    def test_leverage_at_the_upper_bound_is_accepted(self) -> None:
        assert load_config(environ={"SEXTANT_LEVERAGE": "125"}).engine.leverage == 125.0


class TestBooleans:
    @pytest.mark.parametrize("raw", ["1", "true", "TRUE", "True", "yes", "YES", "on", "On"])
    def test_true_spellings(self, raw: str) -> None:
        assert load_config(environ={"SEXTANT_DRY_RUN": raw}).engine.dry_run is True

    @pytest.mark.parametrize("raw", ["0", "false", "FALSE", "False", "no", "No", "off", "OFF"])
    def test_false_spellings(self, raw: str) -> None:
        assert load_config(environ={"SEXTANT_DRY_RUN": raw}).engine.dry_run is False

    def test_surrounding_whitespace_is_ignored(self) -> None:
        assert load_config(environ={"SEXTANT_DRY_RUN": " yes "}).engine.dry_run is True


class TestSecrets:
    def test_secret_in_the_file_is_refused_and_points_to_the_variable(self, write_toml: Callable[..., Path]) -> None:
        message = config_error(config_file=write_toml('[engine]\nokx_api_key = "filekey-abc"\n'))
        assert "okx_api_key" in message
        assert "OKX_API_KEY" in message
        assert "filekey-abc" not in message

    @pytest.mark.parametrize("key", SECRET_SETTINGS)
    @pytest.mark.parametrize("table", [*TABLES, None])
    def test_every_secret_is_refused_anywhere_in_the_file(
            self, key: str, table: str | None, write_toml: Callable[..., Path]) -> None:
        field = key.split(".", 1)[1]
        text = f'[{table}]\n{field} = "x"\n' if table else f'{field} = "x"\n'
        message = config_error(config_file=write_toml(text))
        assert env_name(key) in message and "environment only" in message

    def test_secret_under_its_environment_name_in_the_file_points_to_the_environment(
            self, write_toml: Callable[..., Path]) -> None:
        message = config_error(config_file=write_toml('[engine]\nOKX_API_KEY = "filekey-abc"\n'))
        assert "OKX_API_KEY" in message
        assert "environment only" in message
        assert "Use 'okx_api_key'" not in message  # never steer a secret into the file under its field name
        assert "filekey-abc" not in message

    def test_secret_from_the_environment_is_wrapped_and_masked(self) -> None:
        config = load_config(environ={"OKX_API_KEY": "supersecretvalue123"})
        key = config.secrets.okx_api_key
        assert isinstance(key, Secret)
        assert key.reveal() == "supersecretvalue123"
        assert key
        for text in (repr(key), str(key), repr(config), str(config), f"{key}"):
            assert "supersecretvalue123" not in text
        assert "<set>" in repr(key)

    def test_unset_secret_is_falsy_and_says_unset(self) -> None:
        key = Secret("")
        assert not key
        assert "<unset>" in repr(key)

    def test_secrets_compare_by_value(self) -> None:
        assert Secret("a") == Secret("a")
        assert Secret("a") != Secret("b")
        assert Secret("a") != "a"

    def test_describe_config_masks_secrets(self) -> None:
        config = load_config(environ={"OKX_API_KEY": "supersecretvalue123", "SEXTANT_CHAIN_KEY": VALID_CHAIN_KEY})
        rows = {key: (shown, name) for key, shown, name in describe_config(config)}
        assert rows["secrets.okx_api_key"] == ("<set>", "OKX_API_KEY")
        assert rows["secrets.chain_key"] == ("<set>", "SEXTANT_CHAIN_KEY")
        assert rows["secrets.okx_api_secret"] == ("<unset>", "OKX_API_SECRET")
        assert all("supersecretvalue123" not in shown and VALID_CHAIN_KEY not in shown for shown, _ in rows.values())

    def test_describe_config_lists_every_setting_with_its_variable(self) -> None:
        rows = describe_config(load_config(environ={}))
        assert [key for key, _, _ in rows] == list(FIELD_TYPES)
        shown = {key: value for key, value, _ in rows}
        assert shown["engine.ws_port"] == "8765"
        assert shown["engine.dry_run"] == "false"
        assert shown["engine.instrument"] == "'BTC-USDT-SWAP.OKX'"
        assert shown["engine.ws_allowed_origins"] == "[]"
        assert {name for _, _, name in rows} == {ENV_NAMES[key][0] for key in FIELD_TYPES}


class TestOkxVenue:
    def test_okx_without_credentials_lists_every_missing_variable(self) -> None:
        message = config_error({"SEXTANT_VENUE": "okx"})
        for name in ("OKX_API_KEY", "OKX_API_SECRET", "OKX_API_PASSPHRASE"):
            assert name in message
        assert "Fix:" in message

    def test_okx_with_partial_credentials_lists_only_the_missing_ones(self) -> None:
        message = config_error({"SEXTANT_VENUE": "okx", "OKX_API_KEY": "k-123"})
        assert "OKX_API_SECRET" in message and "OKX_API_PASSPHRASE" in message
        assert "missing: OKX_API_KEY" not in message
        assert "k-123" not in message

    def test_okx_with_all_credentials_loads(self) -> None:
        config = load_config(environ={"SEXTANT_VENUE": "okx", **OKX_CREDENTIALS})
        assert config.engine.venue == "okx"
        assert config.secrets.okx_api_passphrase.reveal() == "p-789"


class TestWebSocketOrigins:
    def test_no_web_origin_is_allowed_by_default(self) -> None:
        assert load_config(environ={}).engine.ws_allowed_origins == ()
        assert EngineConfig.from_settings(load_config(environ={})).ws_allowed_origins == ()

    def test_comma_separated_exact_origins_reach_the_engine_in_order(self) -> None:
        settings = load_config(environ={"SEXTANT_WS_ALLOWED_ORIGINS": "http://localhost:3000, https://[::1]:8443,"})
        origins = EngineConfig.from_settings(settings).ws_allowed_origins
        assert origins == ("http://localhost:3000", "https://[::1]:8443")

    @pytest.mark.parametrize("value", ["localhost:3000", "http://localhost:3000/", "http://a.example/path", "*",
                                       "http://localhost:3000,file://x", "ftp://host"])
    def test_anything_but_an_origin_is_refused_with_the_fix(self, value: str) -> None:
        message = config_error({"SEXTANT_WS_ALLOWED_ORIGINS": value})
        assert "SEXTANT_WS_ALLOWED_ORIGINS" in message and value in message and "Fix:" in message


class TestConfigFile:
    def test_explicit_missing_file_is_an_error(self, tmp_path: Path) -> None:
        missing = tmp_path / "nope.toml"
        message = config_error(config_file=missing)
        assert str(missing) in message
        assert "does not exist" in message

    def test_missing_file_named_by_sextant_config_is_an_error(self, tmp_path: Path) -> None:
        message = config_error({"SEXTANT_CONFIG": str(tmp_path / "nope.toml")})
        assert "nope.toml" in message

    def test_invalid_toml_syntax_names_the_file(self, write_toml: Callable[..., Path]) -> None:
        path = write_toml("[engine]\nws_port = = 1\n")
        message = config_error(config_file=path)
        assert str(path) in message
        assert "not valid TOML" in message


class TestCommandLineOverrides:
    """A value from the command line (`sextant engine --seed 7`) goes through `override`: it is checked exactly as
    the same string in the setting's environment variable, and the message names the flag."""

    @pytest.mark.parametrize(
        ("key", "flag", "value", "env_name"),
        [
            ("engine.seed", "--seed", -5, "SEXTANT_ENGINE_SEED"),
            ("engine.seed", "--seed", 12345678901234567890123, "SEXTANT_ENGINE_SEED"),
            ("engine.seed", "--seed", "seven", "SEXTANT_ENGINE_SEED"),
            ("engine.dry_run", "--dry-run", "maybe", "SEXTANT_ENGINE_DRY_RUN"),
            ("engine.venue", "--venue", "binance", "SEXTANT_ENGINE_VENUE"),
            ("engine.context_path", "--mmap", " ", "SEXTANT_ENGINE_CONTEXT_PATH"),
            ("bridge.width", "--size", 100, "SEXTANT_BRIDGE_WIDTH"),
        ],
    )
    def test_a_bad_value_fails_as_in_its_variable_but_names_the_flag(
            self, key: str, flag: str, value: object, env_name: str) -> None:
        with pytest.raises(ConfigError) as caught:
            override(load_config(environ={}), {key: value}, {key: flag})
        from_env = config_error({env_name: str(value)})
        assert str(caught.value) == from_env.replace(env_name, flag, 1)
        assert str(caught.value).startswith(f"{flag}=")

    def test_a_good_value_replaces_the_setting_and_leaves_the_original_alone(self) -> None:
        original = load_config(environ={"SEXTANT_SEED": "3"})
        changed = override(original, {"engine.seed": 7, "engine.dry_run": True, "engine.commands_path": "c.mmap"},
                           {"engine.seed": "--seed", "engine.dry_run": "--dry-run",
                            "engine.commands_path": "--commands"})
        assert (changed.engine.seed, changed.engine.dry_run, changed.engine.commands_path) == (7, True, "c.mmap")
        assert (original.engine.seed, original.engine.dry_run) == (3, False)
        engine = msgspec.structs.replace(changed.engine, seed=3, dry_run=False,
                                         commands_path=original.engine.commands_path)
        assert msgspec.structs.replace(changed, engine=engine) == original

    def test_paths_from_flags_must_still_be_three_different_files(self) -> None:
        with pytest.raises(ConfigError, match="three different files"):
            override(load_config(environ={}), {"engine.events_path": "x.mmap", "engine.context_path": "x.mmap"},
                     {"engine.events_path": "--events", "engine.context_path": "--mmap"})

    def test_a_value_from_a_file_names_the_file(self) -> None:
        with pytest.raises(ConfigError, match=r"^seed \(in \[engine\] of scene/metadata.json\)='None': not a whole"):
            override(load_config(environ={}), {"engine.seed": None}, {"engine.seed": "scene/metadata.json"})

    def test_secrets_are_never_taken_from_a_command_line(self) -> None:
        with pytest.raises(ValueError, match="not a setting a command line may override"):
            override(load_config(environ={}), {"secrets.chain_key": VALID_CHAIN_KEY}, {"secrets.chain_key": "--key"})


# ------------------------------------------------------------------------------------------------------ llm.toml

PROVIDER = '[providers.p]\napi_base = "http://127.0.0.1:8000/v1"\n'
MODEL = '[models.m]\nprovider = "p"\nmodel = "x"\n'
ROLES = '[roles]\nperception = "m"\nstrategy = "m"\n'


def llm_error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_llm_config(path, environ={})
    return str(caught.value)


class TestShippedLlmToml:
    def test_loads_with_the_documented_roles(self) -> None:
        llm = load_llm_config(SHIPPED_LLM_TOML, environ={})
        assert isinstance(llm, LlmConfig)
        assert llm.roles.perception == "small"
        assert llm.roles.strategy == "large"
        assert llm.model_for("perception") is llm.models["small"]
        assert llm.model_for("strategy") is llm.models["large"]
        assert llm.model_for("fallback") is llm.models["small"]

    def test_risk_defaults_to_the_strategy_model(self) -> None:
        llm = load_llm_config(SHIPPED_LLM_TOML, environ={})
        assert llm.roles.risk is None
        assert llm.model_for("risk") is llm.model_for("strategy")

    def test_openrouter_key_comes_from_the_environment(self) -> None:
        llm = load_llm_config(SHIPPED_LLM_TOML, environ={"OPENROUTER_API_KEY": "sk-or-test"})
        key = llm.provider_for(llm.model_for("strategy")).api_key
        assert isinstance(key, Secret)
        assert key.reveal() == "sk-or-test"
        assert "sk-or-test" not in repr(llm)

    def test_unset_variable_gives_an_empty_falsy_secret(self) -> None:
        llm = load_llm_config(SHIPPED_LLM_TOML, environ={})
        key = llm.providers["openrouter"].api_key
        assert isinstance(key, Secret)
        assert not key
        assert key.reveal() == ""

    def test_reads_os_environ_when_no_environ_is_given(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("OPENROUTER_API_KEY", "sk-from-os")
        llm = load_llm_config(SHIPPED_LLM_TOML)
        assert llm.providers["openrouter"].api_key.reveal() == "sk-from-os"


class TestLlmTomlValidation:
    def test_minimal_file_loads_with_role_defaults(self, write_toml: Callable[..., Path]) -> None:
        llm = load_llm_config(write_toml(PROVIDER + MODEL + ROLES, name="llm.toml"), environ={})
        assert llm.model_for("risk") is llm.models["m"]
        assert llm.model_for("fallback") is llm.models["m"]
        assert llm.models["m"].temperature == 0.7
        assert llm.providers["p"].timeout_secs == 30.0

    def test_fallback_defaults_to_the_perception_model(self, write_toml: Callable[..., Path]) -> None:
        roles = '[roles]\nperception = "m"\nstrategy = "big"\n'
        big = '[models.big]\nprovider = "p"\nmodel = "y"\n'
        llm = load_llm_config(write_toml(PROVIDER + MODEL + big + roles, name="llm.toml"), environ={})
        assert llm.model_for("fallback") is llm.models["m"]
        assert llm.model_for("risk") is llm.models["big"]

    def test_substitution_works_inside_any_string(self, write_toml: Callable[..., Path]) -> None:
        provider = '[providers.p]\napi_base = "http://${HOST}:8000/v1"\napi_key = "${KEY}"\n'
        llm = load_llm_config(write_toml(provider + MODEL + ROLES, name="llm.toml"),
                              environ={"HOST": "10.0.0.1", "KEY": "abc"})
        assert llm.providers["p"].api_base == "http://10.0.0.1:8000/v1"
        assert llm.providers["p"].api_key.reveal() == "abc"

    def test_role_naming_a_missing_model_is_named(self, write_toml: Callable[..., Path]) -> None:
        roles = '[roles]\nperception = "m"\nstrategy = "huge"\n'
        message = llm_error(write_toml(PROVIDER + MODEL + roles, name="llm.toml"))
        assert "roles.strategy" in message
        assert "'huge'" in message

    def test_model_naming_a_missing_provider_is_named(self, write_toml: Callable[..., Path]) -> None:
        model = '[models.m]\nprovider = "nowhere"\nmodel = "x"\n'
        message = llm_error(write_toml(PROVIDER + model + ROLES, name="llm.toml"))
        assert "models.m.provider" in message
        assert "'nowhere'" in message

    def test_missing_roles_table_is_an_error(self, write_toml: Callable[..., Path]) -> None:
        message = llm_error(write_toml(PROVIDER + MODEL, name="llm.toml"))
        assert "[roles]" in message

    def test_non_http_api_base_is_an_error(self, write_toml: Callable[..., Path]) -> None:
        provider = '[providers.p]\napi_base = "ftp://127.0.0.1/v1"\n'
        message = llm_error(write_toml(provider + MODEL + ROLES, name="llm.toml"))
        assert "providers.p.api_base" in message
        assert "ftp://127.0.0.1/v1" in message

    def test_unknown_key_in_a_model_table_is_an_error(self, write_toml: Callable[..., Path]) -> None:
        message = llm_error(write_toml(PROVIDER + MODEL + "temprature = 0.5\n" + ROLES, name="llm.toml"))
        assert "temprature" in message

    def test_out_of_range_temperature_is_an_error(self, write_toml: Callable[..., Path]) -> None:
        message = llm_error(write_toml(PROVIDER + MODEL + "temperature = 3.0\n" + ROLES, name="llm.toml"))
        assert "models.m.temperature" in message

    def test_missing_file_is_an_error(self, tmp_path: Path) -> None:
        message = llm_error(tmp_path / "absent.toml")
        assert "absent.toml" in message
        assert "SEXTANT_LLM_CONFIG" in message



class TestPerceptionTable:
    """llm.toml's [perception]: the router's thresholds, deadlines, answer bounds and budget, validated here."""

    def test_without_the_table_the_router_gets_its_defaults(self, write_toml: Callable[..., Path]) -> None:
        from sextant.config import PerceptionSettings

        llm = load_llm_config(write_toml(PROVIDER + MODEL + ROLES, name="llm.toml"), environ={})
        assert llm.perception == PerceptionSettings()

    def test_its_values_reach_the_router(self, write_toml: Callable[..., Path]) -> None:
        from sextant.swarm.router import PerceptionConfig

        table = "[perception]\nl1_threshold = 0.4\nanswer_ttl_s = 5\nanswer_max_move_bps = 3\nusd_per_hour = 0.25\n"
        llm = load_llm_config(write_toml(PROVIDER + MODEL + ROLES + table, name="llm.toml"), environ={})
        config = PerceptionConfig.from_settings(llm.perception, base_size=2.0)
        assert (config.l1_threshold, config.answer_ttl_s, config.answer_max_move_bps, config.usd_per_hour,
                config.base_size) == (0.4, 5.0, 3.0, 0.25, 2.0)

    @pytest.mark.parametrize(("line", "message"), [
        ("l2_threshold = 1.5", "perception.l2_threshold=1.5 must be a confidence between 0 and 1"),
        ("answer_ttl_s = 0", "perception.answer_ttl_s=0.0 must be a positive number"),
        ("tokens_per_hour = -5", "perception.tokens_per_hour=-5 must be positive"),
        ("max_retry_after_failure_s = 10", "must be at least retry_after_failure_s (30.0)"),
        ("answer_ttl = 5", "Object contains unknown field `answer_ttl`"),
    ])
    def test_a_bad_value_is_refused_by_name(self, write_toml: Callable[..., Path], line: str, message: str) -> None:
        path = write_toml(PROVIDER + MODEL + ROLES + f"[perception]\n{line}\n", name="llm.toml")
        assert message in llm_error(path)
