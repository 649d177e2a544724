"""The LLM client never raises: every HTTP envelope the item of issue #18 names (and the rest of what a broken or
hostile server can send) comes back, through the real `openai` client and a real local socket server, as a typed
failure with a reason; the body is capped before anything parses it, and parsed off the event loop."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from sextant.config import ConfigError
from sextant.swarm import llm as llm_module
from sextant.swarm.llm import Backoff, LlmClient, LlmResult, read_envelope, read_stream
from tests.fixtures.llm_toml import local_llm_config
from tests.fixtures.openai_standin import Envelope, OpenAIStandin, Rule

BUY = {"action": "BUY", "confidence": 0.8, "reasoning": "bids are stacking"}
CAP = 16_384


def completion(content: Any = BUY, *, usage: Any = None, choices: Any = None, finish_reason: str = "stop") -> bytes:
    """A chat completion's body; any part may be replaced by something of the wrong shape."""
    text = json.dumps(content) if isinstance(content, dict) else content
    body: dict[str, Any] = {"id": "x", "object": "chat.completion", "model": "small-model",
                            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
                            if usage is None else usage,
                            "choices": [{"index": 0, "finish_reason": finish_reason,
                                         "message": {"role": "assistant", "content": text}}]
                            if choices is None else choices}
    return json.dumps(body).encode()


def client_for(tmp_path: Path, standin: OpenAIStandin, *, deadline_s: float = 2.0, max_retries: int = 0,
               max_response_bytes: int = CAP, stream: bool = True, model_extra: str = "") -> LlmClient:
    provider = f"max_response_bytes = {max_response_bytes}\nstream = {str(stream).lower()}"
    config = local_llm_config(tmp_path, standin.url, model_extra=model_extra, provider_extra=provider)
    return LlmClient(config, deadline_s=deadline_s, max_retries=max_retries)


def ask_once(tmp_path: Path, envelope: Envelope, **options: Any) -> LlmResult:
    with OpenAIStandin([Rule(match="model", envelopes=[envelope])]) as standin:
        client = client_for(tmp_path, standin, **options)
        return asyncio.run(client.ask("perception", "state", options.get("deadline_s")))


class TestEnvelopesNamedInTheIssue:
    @pytest.mark.parametrize(("envelope", "kind", "reason"), [
        (Envelope(b"<html><body>502 Bad Gateway</body></html>", content_type="text/html"), "not_json",
         "not JSON (content-type 'text/html'"),
        (Envelope(completion(choices={"0": "BUY"})), "bad_envelope", "choices is not a list"),
        (Envelope(completion(choices=[{"message": {"content": {"action": "BUY"}}}])), "bad_envelope",
         "content is a JSON dict"),
        (Envelope(completion(usage={"total_tokens": "lots"})), "bad_envelope", "usage.total_tokens is not a number"),
        (Envelope(completion(usage={"total_tokens": 15, "cost": {"usd": 1}})), "bad_envelope",
         "usage.cost is not a number"),
    ], ids=["html-200", "choices-not-a-list", "content-an-object", "tokens-not-numeric", "cost-not-numeric"])
    def test_each_becomes_a_typed_failure_instead_of_an_exception(self, tmp_path: Path, envelope: Envelope,
                                                                  kind: str, reason: str) -> None:
        result = ask_once(tmp_path, envelope)
        assert result.judgement is None and result.failure is not None
        assert result.failure.kind == kind and reason in result.failure.reason, result.failure


class TestTheWire:
    def test_a_5_mb_answer_is_dropped_at_the_cap_without_being_parsed(self, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
        parsed: list[int] = []
        real = llm_module.read_envelope
        monkeypatch.setattr(llm_module, "read_envelope", lambda body, kind: parsed.append(len(body)) or real(body, kind))
        huge = completion({**BUY, "reasoning": "x" * 5_000_000})
        for declared in (-1, None):  # with its content-length, and without one (read until the cap)
            result = ask_once(tmp_path, Envelope(huge, declared_length=declared, chunks=40))
            assert result.failure is not None and result.failure.kind == "too_large", result.failure
        assert parsed == []

    def test_a_compressed_answer_is_inflated_under_the_same_cap(self, tmp_path: Path) -> None:
        small = ask_once(tmp_path, Envelope(gzip.compress(completion()), headers=(("content-encoding", "gzip"),)))
        assert small.failure is None and small.judgement is not None and small.judgement.action == "BUY"
        bomb = ask_once(tmp_path, Envelope(gzip.compress(b" " * 10_000_000), headers=(("content-encoding", "gzip"),)))
        assert bomb.failure is not None and bomb.failure.kind == "too_large"

    def test_a_truncated_body_is_a_transport_failure(self, tmp_path: Path) -> None:
        body = completion()
        result = ask_once(tmp_path, Envelope(body[:40], declared_length=len(body)))
        assert result.failure is not None and result.failure.kind == "transport", result.failure

    def test_a_body_slower_than_the_deadline_is_a_timeout(self, tmp_path: Path) -> None:
        result = ask_once(tmp_path, Envelope(completion(), chunks=4, pause_s=0.4), deadline_s=0.5)
        assert result.failure is not None and result.failure.kind == "timeout", result.failure

    def test_an_error_status_is_an_http_status_failure_without_the_servers_text(self, tmp_path: Path) -> None:
        result = ask_once(tmp_path, Envelope(b'{"error": {"message": "key sk-secret is invalid"}}', status=401))
        assert result.failure is not None and result.failure.kind == "http_status"
        assert "401" in result.failure.reason and "sk-secret" not in result.failure.reason

    def test_an_unreachable_server_is_a_transport_failure(self, tmp_path: Path) -> None:
        with OpenAIStandin([]) as standin:
            url = standin.url
        config = local_llm_config(tmp_path, url)  # the server is gone: connection refused
        result = asyncio.run(LlmClient(config, deadline_s=2.0, max_retries=0).ask("perception", "state"))
        assert result.failure is not None and result.failure.kind == "transport", result.failure

    def test_the_envelope_and_the_answer_are_parsed_off_the_event_loop(self, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
        threads: list[threading.Thread] = []
        real = llm_module.parse_answer
        monkeypatch.setattr(llm_module, "parse_answer",
                            lambda text: threads.append(threading.current_thread()) or real(text))
        result = ask_once(tmp_path, Envelope(completion()))
        assert result.judgement is not None and threads and threads[0] is not threading.main_thread()

    def test_the_size_cap_is_a_checked_provider_setting(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="max_response_bytes"):
            local_llm_config(tmp_path, "http://127.0.0.1:1/v1", provider_extra="max_response_bytes = 10")


class TestReadEnvelope:
    @pytest.mark.parametrize(("body", "kind"), [
        (b"", "not_json"), (b"\xff\xfe", "not_json"), (b"[" * 100_000, "not_json"), (b"[]", "bad_envelope"),
        (completion(usage=[1]), "bad_envelope"), (completion(usage={"total_tokens": -3}), "bad_envelope"),
        (completion(usage={"total_tokens": True}), "bad_envelope"), (completion(choices=[]), "bad_envelope"),
        (completion(choices=["BUY"]), "bad_envelope"), (completion(choices=[{"message": "BUY"}]), "bad_envelope"),
        (completion(None), "invalid_answer"), (completion(finish_reason="length"), "invalid_answer"),
    ])
    def test_any_bytes_give_an_answer_or_a_typed_failure(self, body: bytes, kind: str) -> None:
        envelope = read_envelope(body, "application/json")
        assert envelope.text is None and envelope.failure is not None and envelope.failure.kind == kind

    def test_usage_in_numeric_strings_is_counted(self) -> None:
        envelope = read_envelope(completion(usage={"total_tokens": "15", "cost": "0.002"}), "application/json")
        assert envelope.failure is None and envelope.tokens == 15 and envelope.cost_usd == pytest.approx(0.002)


def sse(*chunks: Any, done: bool = True) -> list[str]:
    """A stream's lines as a server sends them: each chunk (JSON-encoded unless a string) as one `data:` event."""
    lines: list[str] = []
    for chunk in chunks:
        lines += [f"data: {chunk if isinstance(chunk, str) else json.dumps(chunk)}", ""]
    return lines + (["data: [DONE]", ""] if done else [])


def delta(content: str | None, finish_reason: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {} if content is None else {"content": content},
                         "finish_reason": finish_reason}]}


class TestStreamedCalls:
    """An answer is asked for as a stream, so that a call given up at its deadline stops the generation: a local
    server (one slot, as llama.cpp's) is then free for the next call, which a plain request would leave queued
    behind a generation nobody waits for (issue #24: a 0.30 s call took 5.02 s after an abandoned one)."""

    SLOW = Rule(match="slow-model", content={**BUY, "reasoning": "w" * 140}, token_s=0.1)  # 49 tokens, 4.9 s
    QUICK = Rule(match="quick-model", content=BUY)

    def two_calls(self, tmp_path: Path, standin: OpenAIStandin, *, stream: bool) -> tuple[LlmResult, LlmResult]:
        config = local_llm_config(tmp_path, standin.url, small="slow-model", large="quick-model",
                                  provider_extra=f"stream = {str(stream).lower()}")

        async def run() -> tuple[LlmResult, LlmResult]:
            client = LlmClient(config, deadline_s=5.0, max_retries=0)
            abandoned = await client.ask("perception", "state", 0.5)
            return abandoned, await client.ask("strategy", "state", 2.0)
        return asyncio.run(run())

    def test_a_call_given_up_at_its_deadline_stops_the_generation_and_the_next_call_is_served_at_once(
            self, tmp_path: Path) -> None:
        with OpenAIStandin([self.SLOW, self.QUICK], slots=1) as standin:
            abandoned, after = self.two_calls(tmp_path, standin, stream=True)
            threading.Event().wait(0.3)  # the slow generation would have gone on for 4 s more
        assert abandoned.failure is not None and abandoned.failure.kind == "timeout"
        slow, quick = standin.generations
        assert slow.streamed and slow.client_left and slow.made < slow.tokens, slow
        assert after.failure is None and after.judgement is not None and after.judgement.action == "BUY"
        assert quick.slot_wait_s < 2.0, quick  # not the 4.4 s the abandoned generation had left

    def test_a_plain_request_keeps_the_server_generating_for_nobody_which_is_why_calls_stream(
            self, tmp_path: Path) -> None:
        with OpenAIStandin([self.SLOW, self.QUICK], slots=1) as standin:
            abandoned, after = self.two_calls(tmp_path, standin, stream=False)
            slow = standin.generations[0]
            for _ in range(100):  # it generates to its end whoever waits
                if slow.made == slow.tokens:
                    break
                threading.Event().wait(0.1)
        assert abandoned.failure is not None and abandoned.failure.kind == "timeout"
        assert after.failure is not None and after.failure.kind == "timeout", after  # queued at the server
        assert not slow.streamed and slow.made == slow.tokens

    def test_an_answer_streamed_past_max_tokens_is_cut_there_whatever_the_server_does(self, tmp_path: Path) -> None:
        # The stand-in ignores max_tokens, as a misconfigured server may: 40 tokens asked to stop at 8.
        with OpenAIStandin([Rule(match="model", content={**BUY, "reasoning": "w" * 140}, token_s=0.01)]) as standin:
            client = client_for(tmp_path, standin, model_extra="max_tokens = 8")
            result = asyncio.run(client.ask("perception", "state"))
            threading.Event().wait(0.2)
        assert result.failure is not None and result.failure.kind == "invalid_answer"
        assert "ran past max_tokens (11)" in result.failure.reason, result.failure
        assert standin.generations[0].client_left and standin.generations[0].made < 40

    def test_one_call_at_a_time_goes_to_a_provider_and_the_others_are_counted_as_queued(
            self, tmp_path: Path) -> None:
        depths: list[int] = []
        with OpenAIStandin([Rule(match="model", content=BUY, token_s=0.02)]) as standin:
            client = client_for(tmp_path, standin, deadline_s=10.0)

            async def run() -> list[LlmResult]:
                calls = [asyncio.create_task(client.ask("perception", f"state {n}")) for n in range(3)]
                await asyncio.sleep(0)  # each has reached its provider's gate
                while not all(call.done() for call in calls):
                    depths.append(client.queue_depth())
                    await asyncio.sleep(0.01)
                return [call.result() for call in calls]
            results = asyncio.run(run())
        assert all(result.failure is None for result in results), results
        assert standin.max_in_flight == 1
        assert depths[0] == 2 and depths[-1] == 0 and set(depths) <= {0, 1, 2}
        assert client.queue_depth() == 0

    def test_a_call_that_waits_out_its_deadline_in_the_queue_says_so(self, tmp_path: Path) -> None:
        with OpenAIStandin([Rule(match="model", content=BUY, token_s=0.05)]) as standin:  # ~10 tokens, 0.5 s
            client = client_for(tmp_path, standin, deadline_s=10.0)

            async def run() -> LlmResult:
                first = asyncio.create_task(client.ask("perception", "first"))
                await asyncio.sleep(0)
                second = await client.ask("perception", "second", 0.1)
                await first
                return second
            result = asyncio.run(run())
        assert result.failure is not None and result.failure.kind == "timeout"
        assert "waited its turn behind another call" in result.failure.reason
        assert len(standin.requests) == 1  # it never reached the server

    def test_usage_comes_from_the_streams_usage_chunk(self, tmp_path: Path) -> None:
        with OpenAIStandin([Rule(match="model", content=BUY, cost=0.004)]) as standin:
            result = asyncio.run(client_for(tmp_path, standin).ask("perception", "state"))
        assert standin.requests[0]["stream"] is True
        assert standin.requests[0]["stream_options"] == {"include_usage": True}
        assert result.failure is None and result.tokens > 0 and result.cost_usd == pytest.approx(0.004)


class TestReadStream:
    def test_the_deltas_make_the_answer_and_the_usage_chunk_its_cost(self) -> None:
        text = json.dumps(BUY)
        lines = sse(delta(""), delta(text[:10]), delta(text[10:]), delta(None, "stop"),
                    {"choices": [], "usage": {"total_tokens": 31, "cost": 0.001}})
        envelope = read_stream([": ping", "event: message", *lines])
        assert envelope.failure is None and envelope.text == text
        assert envelope.tokens == 31 and envelope.cost_usd == pytest.approx(0.001)

    def test_a_stream_without_usage_is_counted_a_token_per_chunk_of_text(self) -> None:
        envelope = read_stream(sse(delta(""), delta('{"action"'), delta(': "BUY"}'), delta(None, "stop")))
        assert envelope.failure is None and envelope.tokens == 2

    @pytest.mark.parametrize(("lines", "kind", "reason"), [
        (sse(delta('{"act'), done=False), "transport", "ended before the answer did"),
        (sse(delta("{}"), "{not json"), "not_json", "chunk 2 is not JSON"),
        (sse([1, 2]), "bad_envelope", "chunk 1 is a JSON list"),
        (sse({"choices": [{"delta": "BUY"}]}), "bad_envelope", "delta is not an object"),
        (sse({"choices": [{"delta": {"content": 7}}]}), "bad_envelope", "content is a JSON int"),
        (sse({"choices": [], "usage": {"total_tokens": "many"}}), "bad_envelope", "usage.total_tokens"),
        (sse(delta("{}"), {"error": {"message": "key sk-secret revoked"}}), "http_status", "error in the stream"),
        (["error: {\"message\": \"overloaded\"}"], "http_status", "error in the stream"),
        (sse(delta('{"a'), delta(None, "length")), "invalid_answer", "finish_reason=length"),
        (sse(delta(""), delta(None, "stop")), "invalid_answer", "empty answer"),
    ], ids=["cut-short", "chunk-not-json", "chunk-a-list", "delta-a-string", "content-a-number", "usage-junk",
            "error-chunk", "error-event", "length", "empty"])
    def test_any_stream_gives_an_answer_or_a_typed_failure(self, lines: list[str], kind: str, reason: str) -> None:
        envelope = read_stream(lines)
        assert envelope.text is None and envelope.failure is not None, envelope
        assert envelope.failure.kind == kind and reason in envelope.failure.reason, envelope.failure
        assert "sk-secret" not in envelope.failure.reason


class TestBackoff:
    def test_it_doubles_with_each_failure_up_to_its_maximum_and_a_success_resets_it(self) -> None:
        backoff = Backoff(30.0, 300.0)
        delays = [backoff.failed(now=0.0) for _ in range(6)]
        assert delays == [30.0, 60.0, 120.0, 240.0, 300.0, 300.0]
        assert backoff.quiet(299.0) and not backoff.quiet(300.0)
        backoff.succeeded()
        assert not backoff.quiet(0.0) and backoff.failed(now=0.0) == 30.0

    def test_a_maximum_below_the_start_is_refused(self) -> None:
        with pytest.raises(ValueError, match="back-off"):
            Backoff(30.0, 10.0)
