"""The OKX clients are configured from Sextant's settings alone: environment, region, endpoints and credentials."""

from __future__ import annotations

import pytest
from nautilus_trader.adapters.okx import OKX
from nautilus_trader.core.nautilus_pyo3 import OKXEnvironment, OKXRegion

from sextant.config import ConfigError, Secret, load_config
from sextant.engine.config import EngineConfig, EngineSecrets
from sextant.engine.node import _okx_node_config, okx_endpoints

SECRETS = EngineSecrets(okx_api_key=Secret("k"), okx_api_secret=Secret("s"), okx_api_passphrase=Secret("p"))
KEYS = {"OKX_API_KEY": "k", "OKX_API_SECRET": "s", "OKX_API_PASSPHRASE": "p"}


def clients(config: EngineConfig, secrets: EngineSecrets = SECRETS) -> tuple:
    node = _okx_node_config(config, secrets)
    return node.data_clients[OKX], node.exec_clients[OKX]


def test_demo_in_the_eea_reaches_nautilus_as_its_environment_and_region() -> None:
    for client in clients(EngineConfig(venue="okx", okx_environment="demo", okx_region="eea")):
        assert client.environment == OKXEnvironment.DEMO and client.region == OKXRegion.EEA
        assert client.base_url_http is None and client.base_url_ws is None  # OKX's own endpoints, chosen by Nautilus
    for client in clients(EngineConfig(venue="okx", okx_environment="live", okx_region="us")):
        assert client.environment == OKXEnvironment.LIVE and client.region == OKXRegion.US


def test_a_websocket_base_gives_the_data_client_public_and_the_execution_client_private() -> None:
    config = EngineConfig(venue="okx", okx_base_url_http="http://127.0.0.1:9000",
                          okx_base_url_ws="ws://127.0.0.1:9001/ws/v5/")
    data, execution = clients(config)
    assert data.base_url_ws == "ws://127.0.0.1:9001/ws/v5/public"
    assert execution.base_url_ws == "ws://127.0.0.1:9001/ws/v5/private"
    assert data.base_url_http == execution.base_url_http == "http://127.0.0.1:9000"
    assert okx_endpoints(config)["public"] == data.base_url_ws


def test_credentials_come_from_the_settings_not_from_what_nautilus_would_read(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Nautilus reads OKX_API_* itself when a field is None; ours are always passed, so the process environment
    # cannot swap them, and the old OKX_BASE_URL_* overrides do nothing.
    monkeypatch.setenv("OKX_API_KEY", "from-the-environment")
    monkeypatch.setenv("OKX_BASE_URL_HTTP", "http://elsewhere.invalid")
    for client in clients(EngineConfig(venue="okx")):
        assert (client.api_key, client.api_secret, client.api_passphrase) == ("k", "s", "p")
        assert client.base_url_http is None


def test_the_settings_carry_region_and_endpoints_into_the_engine_and_keep_keys_out_of_it(
        clean_env: dict[str, str]) -> None:
    settings = load_config(environ={**KEYS, "SEXTANT_VENUE": "okx", "OKX_REGION": "eea",
                                    "SEXTANT_OKX_BASE_URL_HTTP": "https://proxy.example",
                                    "SEXTANT_OKX_BASE_URL_WS": "wss://proxy.example/ws/v5"})
    config = EngineConfig.from_settings(settings)
    assert (config.okx_region, config.okx_base_url_http, config.okx_base_url_ws) == (
        "eea", "https://proxy.example", "wss://proxy.example/ws/v5")
    assert not {"okx_api_key", "okx_api_secret", "okx_api_passphrase", "chain_key"} & set(config.__struct_fields__)
    assert EngineSecrets.from_settings(settings) == SECRETS
    assert "'k'" not in repr(EngineSecrets.from_settings(settings))


@pytest.mark.parametrize(("name", "value", "fix"), [
    ("OKX_REGION", "asia", "global (okx.com), eea (my.okx.com) or us"),
    ("SEXTANT_OKX_BASE_URL_HTTP", "ftp://x", "http(s)://"),
    ("SEXTANT_OKX_BASE_URL_WS", "https://ws.okx.com", "ws(s)://"),
])
def test_a_malformed_okx_setting_names_the_variable_and_the_fix(clean_env: dict[str, str], name: str, value: str,
                                                                 fix: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(environ={name: value})
    assert name in str(error.value) and fix in str(error.value)
