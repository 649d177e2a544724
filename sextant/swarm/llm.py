"""LLM calls for the perception router: llm.toml roles → AsyncOpenAI, schema-checked answers, deadlines, budgets.

The model is asked for {"action": BUY|SELL|HOLD, "confidence": 0..1, "reasoning": "..."} as a JSON schema
(structured output). Whatever comes back is re-validated here with coercion, because servers and small models do
not honour schemas reliably: "buy" → BUY, "15%" → 0.15, "0.7" → 0.7; "N/A", null, NaN, out-of-range or missing
values make the answer invalid, and an invalid answer becomes a Hold with its reason, never an order.

The client never raises. Whatever goes wrong (the connection, the deadline, an HTTP status, a body that is not
JSON, an envelope of the wrong shape, a body over the size cap, an invalid answer) comes back as an LlmResult with
a typed `failure` and a reason; the router charges it to the budget and backs off. The body is read incrementally
and dropped at `max_response_bytes` before anything parses it, and the envelope and the answer are parsed in a
worker thread: a hostile or broken server costs the event loop neither memory nor time.

Every call has a hard deadline (asyncio.wait_for: the client's own timeout is per socket read, not a total) and
at most one retry. The answer is asked for as a stream (`stream`, on by default): a call abandoned at its deadline
closes the connection, and llama.cpp, vLLM and the hosted APIs stop generating for a client that has gone, where a
plain request would keep a local model busy to the end and the next call would queue behind it. For the same
reason a stream longer than `max_tokens` chunks is cut (each chunk carries at least one token), whatever the
server does with `max_tokens`. One call at a time goes to each provider (a local server has one slot); the others
wait their turn inside their own deadline, and `queue_depth` says how many wait.

Spend is counted from the response's usage (tokens, and `usage.cost` where the provider reports it, as OpenRouter
does; a stream reports it in its last chunk) over a rolling hour; over budget, the router runs on rules only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx2
import msgspec
import openai

from sextant.config import LlmConfig, ModelConfig, ProviderConfig, RolesConfig

log = logging.getLogger("sextant.llm")

Action = Literal["BUY", "SELL", "HOLD"]
REASONING_CHARS = 300  # what a model may say about its answer; the schema asks for as much
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": ["BUY", "SELL", "HOLD"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "reasoning": {"type": "string", "maxLength": REASONING_CHARS},
    },
    "required": ["action", "confidence", "reasoning"],
    "additionalProperties": False,
}
SYSTEM_PROMPT = ("You are the perception officer of a trading crew. Judge the market state you are given. Answer "
                 "only with JSON: {\"action\": \"BUY\"|\"SELL\"|\"HOLD\", \"confidence\": 0..1, \"reasoning\": "
                 "one sentence}.")
_ACTIONS = {"BUY": "BUY", "LONG": "BUY", "SELL": "SELL", "SHORT": "SELL", "HOLD": "HOLD", "WAIT": "HOLD",
            "NONE": "HOLD"}
_NONE_WORDS = {"", "n/a", "na", "none", "null", "nan", "unknown", "-"}


class InvalidAnswer(ValueError):
    """The model's answer cannot be used; the message says why (it is logged and shown as the Hold's reason)."""


class Judgement(msgspec.Struct, frozen=True, kw_only=True):
    action: Action
    confidence: float
    reasoning: str


def coerce_confidence(value: Any) -> float | None:
    """0.7, "0.7", "70%", "70 %" → 0.7; "N/A", None, NaN → None; anything else raises InvalidAnswer."""
    if value is None or isinstance(value, bool):
        if isinstance(value, bool):
            raise InvalidAnswer(f"confidence {value!r} is not a number")
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if text in _NONE_WORDS:
            return None
        percent = text.endswith("%")
        try:
            number = float(text.rstrip("%").strip())
        except ValueError:
            raise InvalidAnswer(f"confidence {value!r} is not a number") from None
        if percent:
            number /= 100.0
    else:
        raise InvalidAnswer(f"confidence of type {type(value).__name__} is not a number")
    if math.isnan(number):
        return None
    if not (0.0 <= number <= 1.0):
        raise InvalidAnswer(f"confidence {number} is outside 0..1")
    return number


def json_object(text: str | None) -> dict[str, Any]:
    """The JSON object in a model's answer (models wrap it in prose or code fences), or InvalidAnswer saying why
    there is none."""
    if text is None or not text.strip():
        raise InvalidAnswer("empty answer")
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise InvalidAnswer(f"no JSON object in the answer: {text[:60]!r}")
    try:
        data = json.loads(text[start:end + 1])
    except json.JSONDecodeError as error:
        raise InvalidAnswer(f"malformed JSON ({error.msg})") from None
    except RecursionError:
        raise InvalidAnswer("JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise InvalidAnswer("the answer is not a JSON object")
    return data


def parse_answer(text: str | None) -> Judgement:
    """Validate (with coercion) one model answer."""
    data = json_object(text)
    action = data.get("action")
    if not isinstance(action, str) or action.strip().upper() not in _ACTIONS:
        raise InvalidAnswer(f"action {action!r} is not BUY, SELL or HOLD")
    confidence = coerce_confidence(data.get("confidence"))
    if confidence is None:
        raise InvalidAnswer("confidence is missing or not available")
    return Judgement(action=_ACTIONS[action.strip().upper()], confidence=confidence,  # type: ignore[arg-type]
                     reasoning=plain_text(data.get("reasoning", "")))


def plain_text(value: Any, limit: int = REASONING_CHARS) -> str:
    """A model's free text as one printable line of at most `limit` characters (what is not text becomes '')."""
    if not isinstance(value, str):
        return ""
    text = re.sub(r"\s+", " ", value)
    return "".join(ch for ch in text if ch.isprintable()).strip()[:limit]


Role = Literal["perception", "strategy", "risk", "fallback", "research"]
FailureKind = Literal["transport", "timeout", "http_status", "too_large", "not_json", "bad_envelope",
                      "invalid_answer", "budget", "unexpected"]


@dataclass(frozen=True, slots=True)
class LlmFailure:
    """Why a call gave nothing usable: a kind to act on and a reason for people. Reasons are ours, never the
    server's text (which could carry anything, a key included)."""

    kind: FailureKind
    reason: str


@dataclass(frozen=True, slots=True)
class LlmResult:
    judgement: Judgement | None  # a perception answer (`ask`); None from `complete`, or when there is none
    failure: LlmFailure | None = None  # None: the call succeeded (`text`, and from `ask` a `judgement`)
    tokens: int = 0  # as the response's usage reported them (0: not reported)
    cost_usd: float = 0.0
    latency_s: float = 0.0
    text: str | None = None  # the model's raw answer

    @property
    def reason(self) -> str:
        return "ok" if self.failure is None else self.failure.reason

    @staticmethod
    def failed(kind: FailureKind, reason: str, tokens: int = 0, cost_usd: float = 0.0,
               latency_s: float = 0.0) -> LlmResult:
        return LlmResult(None, LlmFailure(kind, reason), tokens, cost_usd, latency_s)


class SpendBudget:
    """Tokens and money spent over a rolling hour, in all and per role."""

    def __init__(self, tokens_per_hour: int, usd_per_hour: float) -> None:
        self.tokens_per_hour = tokens_per_hour
        self.usd_per_hour = usd_per_hour
        self._spend: deque[tuple[float, int, float, str]] = deque()
        self.records = 0  # calls charged since the start

    def _trim(self, now: float) -> None:
        while self._spend and now - self._spend[0][0] > 3600.0:
            self._spend.popleft()

    def record(self, tokens: int, cost_usd: float, now: float | None = None, role: str = "") -> None:
        self._spend.append((time.monotonic() if now is None else now, tokens, cost_usd, role))
        self.records += 1

    def spent(self, now: float | None = None) -> tuple[int, float]:
        self._trim(time.monotonic() if now is None else now)
        return sum(t for _, t, _, _ in self._spend), sum(c for _, _, c, _ in self._spend)

    def spent_by_role(self, now: float | None = None) -> dict[str, tuple[int, float]]:
        """(tokens, USD) over the last hour for each role that spent anything."""
        self._trim(time.monotonic() if now is None else now)
        by_role: dict[str, tuple[int, float]] = {}
        for _, tokens, cost, role in self._spend:
            spent_tokens, spent_cost = by_role.get(role, (0, 0.0))
            by_role[role] = (spent_tokens + tokens, spent_cost + cost)
        return by_role

    def exhausted(self, now: float | None = None) -> bool:
        tokens, cost = self.spent(now)
        return tokens >= self.tokens_per_hour or cost >= self.usd_per_hour


@dataclass(frozen=True, slots=True)
class LlmSpend:
    """What a crew member's models cost over the last hour, and its calls now: what the ContextWindow shows."""

    by_role: dict[str, tuple[int, float]]  # role → (tokens, USD)
    exhausted: bool  # the hour's budget is spent: rules only
    in_flight: int = 0
    queued: int = 0


class Backoff:
    """Quiet time after failures: `initial_s`, doubling with each failure in a row up to `max_s`; a success resets
    it. Pure: the caller passes the time."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        if not (0 <= initial_s <= max_s):
            raise ValueError(f"back-off must satisfy 0 <= initial ({initial_s}) <= max ({max_s})")
        self.initial_s = initial_s
        self.max_s = max_s
        self.failures = 0  # in a row
        self.until = 0.0

    def failed(self, now: float) -> float:
        """Record a failure at `now`; the quiet time it starts, in seconds."""
        delay = min(self.max_s, self.initial_s * 2.0 ** min(self.failures, 64))
        self.failures += 1
        self.until = now + delay
        return delay

    def succeeded(self) -> None:
        self.failures = 0
        self.until = 0.0

    def quiet(self, now: float) -> bool:
        return now < self.until


# ------------------------------------------------------------------------------------------------ the wire


class ResponseRefused(openai.OpenAIError):
    """Raised inside the transport for a body we will not parse. An OpenAIError, so the SDK passes it up as it is,
    without a retry: the same server would send the same body again."""

    def __init__(self, kind: FailureKind, reason: str) -> None:
        super().__init__(reason)
        self.kind: FailureKind = kind
        self.reason = reason


class _CappedStream(httpx2.AsyncByteStream):
    """An uncompressed body passed on as it arrives (a streamed answer is read while it is generated), refused as
    soon as it passes the cap; closing it closes the connection, which is how a server learns the client left."""

    def __init__(self, response: httpx2.Response, max_bytes: int) -> None:
        self._response = response
        self._max_bytes = max_bytes

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._response.aiter_raw():
            seen += len(chunk)
            if seen > self._max_bytes:
                raise ResponseRefused("too_large", f"response over the {self._max_bytes}-byte cap")
            yield chunk

    async def aclose(self) -> None:
        await self._response.aclose()


class CappedTransport(httpx2.AsyncBaseTransport):
    """Sends through `inner` (a default client: its proxies from the environment, its pool) and passes the body on
    incrementally, refusing it as soon as it passes `max_bytes`, before anything parses it. We ask for an
    uncompressed body; a gzip or deflate one is read whole and inflated here under the same cap (never a
    decompression bomb)."""

    def __init__(self, inner: httpx2.AsyncClient, max_bytes: int) -> None:
        self._inner = inner
        self._max_bytes = max_bytes

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.send(request, stream=True)
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self._max_bytes:
                raise ResponseRefused("too_large", f"response of {int(declared)} bytes is over the "
                                                   f"{self._max_bytes}-byte cap")
            encoding = response.headers.get("content-encoding", "identity").strip().lower()
            if encoding in ("", "identity"):
                return httpx2.Response(response.status_code, headers=response.headers.multi_items(),
                                       stream=_CappedStream(response, self._max_bytes))
            body = bytearray()
            async for chunk in response.aiter_raw():
                body += chunk
                if len(body) > self._max_bytes:
                    raise ResponseRefused("too_large", f"response over the {self._max_bytes}-byte cap")
        except BaseException:
            await response.aclose()
            raise
        await response.aclose()
        content = self._inflated(bytes(body), encoding)
        headers = [(name, value) for name, value in response.headers.multi_items()
                   if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
        return httpx2.Response(response.status_code, headers=headers, content=content)

    def _inflated(self, body: bytes, encoding: str) -> bytes:
        if encoding not in ("gzip", "x-gzip", "deflate"):
            raise ResponseRefused("not_json", f"response in an encoding we did not ask for ({encoding[:20]!r})")
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib framing, whichever it is
        try:
            content = inflater.decompress(body, self._max_bytes + 1)
        except zlib.error:
            raise ResponseRefused("not_json", f"{encoding} response does not inflate") from None
        if len(content) > self._max_bytes or inflater.unconsumed_tail:
            raise ResponseRefused("too_large", f"{encoding} response inflates over the {self._max_bytes}-byte cap")
        return content

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass(frozen=True, slots=True)
class Envelope:
    """What a chat completion's body says, checked: the answer's text, or the failure, and the usage."""

    text: str | None
    failure: LlmFailure | None
    tokens: int = 0
    cost_usd: float = 0.0


def _usage_number(usage: dict[str, Any], name: str) -> float:
    value = usage.get(name)
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidAnswer(f"usage.{name} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise InvalidAnswer(f"usage.{name} is not a number") from None
    if not (math.isfinite(number) and number >= 0):
        raise InvalidAnswer(f"usage.{name} is not a finite non-negative number")
    return number


def read_envelope(body: bytes, content_type: str) -> Envelope:
    """Check a chat completion's body (any bytes at all) without trusting its shape. Pure; never raises."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return Envelope(None, LlmFailure("not_json", f"response body is not JSON (content-type "
                                                     f"{content_type[:40]!r}, {len(body)} bytes)"))
    if not isinstance(data, dict):
        return Envelope(None, LlmFailure("bad_envelope", f"response is a JSON {type(data).__name__}, not an object"))
    try:
        tokens, cost = _usage(data.get("usage"))
    except InvalidAnswer as error:
        return Envelope(None, LlmFailure("bad_envelope", str(error)))
    try:
        choice = _first_choice(data, allow_none=False)
        assert choice is not None
        content = _text_of(choice, "message")
    except InvalidAnswer as error:
        return Envelope(None, LlmFailure("bad_envelope", str(error)), tokens, cost)
    return _answered(content, choice.get("finish_reason"), tokens, cost)


def read_stream(lines: list[str], max_chunks: int | None = None) -> Envelope:
    """Check a streamed chat completion (its server-sent-event lines, as they came) without trusting its shape:
    the deltas' text joined, the usage of the chunk that reports it, the finish reason of the last. A stream that
    reports no usage (llama-cpp-python's server ignores `include_usage`) is counted as one token per chunk of text,
    the completion's tokens as the server sent them. Pure; never raises. `max_chunks`: the stream was cut after
    that many chunks (the answer ran past `max_tokens`)."""
    parts: list[str] = []
    tokens, cost, finish_reason, done, chunks, reported = 0, 0.0, None, False, 0, False
    for line in lines:
        if line.startswith("error:") or line.startswith("event: error"):
            return Envelope(None, LlmFailure("http_status", "the server reported an error in the stream"),
                            tokens, cost)
        if not line.startswith("data:"):
            continue  # comments (": ping"), event names, blank separators
        payload = line[5:].strip()
        if payload == "[DONE]":
            done = True
            break
        chunks += 1
        try:
            data = json.loads(payload)
        except (ValueError, RecursionError):
            return Envelope(None, LlmFailure("not_json", f"stream chunk {chunks} is not JSON"), tokens, cost)
        if not isinstance(data, dict):
            return Envelope(None, LlmFailure("bad_envelope", f"stream chunk {chunks} is a JSON "
                                                             f"{type(data).__name__}, not an object"), tokens, cost)
        if "error" in data:
            return Envelope(None, LlmFailure("http_status", "the server reported an error in the stream"),
                            tokens, cost)
        try:
            if data.get("usage") is not None:
                tokens, cost = _usage(data["usage"])
                reported = True
            choice = _first_choice(data, allow_none=True)
            if choice is not None:
                text = _text_of(choice, "delta")
                if text:
                    parts.append(text)
                    tokens += 0 if reported else 1
                finish_reason = choice.get("finish_reason") or finish_reason
        except InvalidAnswer as error:
            return Envelope(None, LlmFailure("bad_envelope", f"stream chunk {chunks}: {error}"), tokens, cost)
    if max_chunks is not None and chunks > max_chunks:
        return Envelope(None, LlmFailure("invalid_answer", f"answer truncated: the stream ran past max_tokens "
                                                           f"({max_chunks}) and was cut"), tokens, cost)
    if not done and finish_reason is None:
        return Envelope(None, LlmFailure("transport", "the stream ended before the answer did"), tokens, cost)
    return _answered("".join(parts), finish_reason, tokens, cost)


def _usage(usage: Any) -> tuple[int, float]:
    """(tokens, USD) of a usage object; none reported is (0, 0.0)."""
    if usage is None:
        return 0, 0.0
    if not isinstance(usage, dict):
        raise InvalidAnswer("usage is not an object")
    return int(min(_usage_number(usage, "total_tokens"), 1e12)), _usage_number(usage, "cost")


def _first_choice(data: dict[str, Any], *, allow_none: bool) -> dict[str, Any] | None:
    """choices[0], checked; a stream's usage chunk has no choices (`allow_none`)."""
    choices = data.get("choices")
    if not isinstance(choices, list):
        if allow_none and choices is None:
            return None
        raise InvalidAnswer("choices is not a list")
    if not choices:
        if allow_none:
            return None
        raise InvalidAnswer("no choices in the response")
    if not isinstance(choices[0], dict):
        raise InvalidAnswer("choices[0] is not an object")
    return choices[0]


def _text_of(choice: dict[str, Any], part: Literal["message", "delta"]) -> str | None:
    """The text of a choice's message (a whole answer) or delta (a stream's piece of one)."""
    message = choice.get(part)
    if part == "delta" and message is None:
        return None
    if not isinstance(message, dict):
        raise InvalidAnswer(f"choices[0].{part} is not an object")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise InvalidAnswer(f"{part} content is a JSON {type(content).__name__}, not a string")
    return content


def _answered(content: str | None, finish_reason: Any, tokens: int, cost: float) -> Envelope:
    if finish_reason == "length":
        return Envelope(None, LlmFailure("invalid_answer", "answer truncated (finish_reason=length)"), tokens, cost)
    if content is None or not content.strip():
        return Envelope(None, LlmFailure("invalid_answer", "invalid answer: empty answer"), tokens, cost)
    return Envelope(content, None, tokens, cost)


def _judged(envelope: Envelope) -> tuple[Envelope, Judgement | None]:
    """The envelope and, when it holds an answer, that answer validated (or the envelope turned into a failure)."""
    if envelope.failure is not None:
        return envelope, None
    try:
        return envelope, parse_answer(envelope.text)
    except InvalidAnswer as error:
        return Envelope(envelope.text, LlmFailure("invalid_answer", f"invalid answer: {error}"), envelope.tokens,
                        envelope.cost_usd), None


def _unparsed(envelope: Envelope) -> tuple[Envelope, Judgement | None]:
    return envelope, None


def stream_chunk_bound(max_tokens: int) -> int:
    """The most chunks a streamed answer of `max_tokens` tokens can take: one per token at most, plus the role,
    finish and usage chunks."""
    return max_tokens + 3


class ProviderGate:
    """One call at a time to a provider; the rest wait their turn (and are counted while they wait)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self.waiting = 0

    async def __aenter__(self) -> None:
        self.waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self.waiting -= 1

    async def __aexit__(self, *exc: object) -> None:
        self._lock.release()

    @property
    def busy(self) -> bool:
        return self._lock.locked()


class LlmClient:
    """One AsyncOpenAI client per provider, made here (at startup: making one is slow work that must not land on a
    trading loop's call); `ask` and `complete` never raise, they return an LlmResult."""

    def __init__(self, config: LlmConfig, *, deadline_s: float, max_retries: int = 1) -> None:
        if max_retries > 1:
            raise ValueError("max_retries must be at most 1: a trading loop cannot wait for long backoffs")
        self._config = config
        self._deadline_s = deadline_s
        self._max_retries = max_retries
        used = {config.model_for(role).provider for role in RolesConfig.__struct_fields__}  # type: ignore[arg-type]
        self._clients = {name: self._new_client(config.providers[name]) for name in sorted(used)}
        self._gates = {name: ProviderGate() for name in self._clients}

    def _new_client(self, provider: ProviderConfig) -> openai.AsyncOpenAI:
        inner = openai.DefaultAsyncHttpxClient(follow_redirects=False)  # the default's proxies and pool
        http_client = openai.DefaultAsyncHttpxClient(
            transport=CappedTransport(inner, provider.max_response_bytes),
            headers={"accept-encoding": "identity"})
        return openai.AsyncOpenAI(base_url=provider.api_base, api_key=provider.api_key.reveal() or "not-needed",
                                  timeout=min(provider.timeout_secs, self._deadline_s), max_retries=self._max_retries,
                                  http_client=http_client)

    def queue_depth(self) -> int:
        """Calls waiting for their provider's one slot, all providers together."""
        return sum(gate.waiting for gate in self._gates.values())

    def in_flight(self) -> int:
        """Calls being answered now (one per provider at most)."""
        return sum(gate.busy for gate in self._gates.values())

    async def _fetch(self, gate: ProviderGate, client: openai.AsyncOpenAI, request: dict[str, Any],
                     max_chunks: int | None, served: list[bool]) -> tuple[bytes | list[str], str]:
        """The response's body: a streamed answer's lines (read to its end, or cut past `max_chunks` chunks), or a
        whole body. Cancelled at the deadline, the response is closed, and with it the connection."""
        async with gate:
            served.append(True)
            async with client.chat.completions.with_streaming_response.create(**request) as response:
                http = response.http_response
                content_type = http.headers.get("content-type", "")
                if not content_type.startswith("text/event-stream"):
                    return await http.aread(), content_type  # a server that answers whole, streamed or not
                lines: list[str] = []
                chunks = 0
                async for line in http.aiter_lines():
                    lines.append(line)
                    if line.startswith("data:"):
                        if line[5:].strip() == "[DONE]":
                            break
                        chunks += 1
                        if max_chunks is not None and chunks > max_chunks:
                            break  # closing the stream stops the generation
                return lines, content_type

    def model_name(self, role: Literal["perception", "strategy", "risk", "fallback", "research"]) -> str:
        """provider/model serving `role`: what a model's record is kept under."""
        model = self._config.model_for(role)
        return f"{model.provider}/{model.model}"

    async def ask(self, role: Literal["perception", "strategy", "risk", "fallback"], prompt: str,
                  deadline_s: float | None = None) -> LlmResult:
        """A perception judgement (ANSWER_SCHEMA), validated."""
        try:
            model = self._config.model_for(role)
            return await self._call(role, model.system_prompt or SYSTEM_PROMPT, prompt, ANSWER_SCHEMA, "judgement",
                                    deadline_s, _judged)
        except Exception as error:  # the promise is "never raises"; the reason names what it was
            log.exception("LLM ask failed unexpectedly")
            return LlmResult.failed("unexpected", f"unexpected {type(error).__name__}")

    async def complete(self, role: Role, system: str, prompt: str, schema: dict[str, Any], schema_name: str,
                       deadline_s: float | None = None) -> LlmResult:
        """One structured-output chat completion for `role`; the raw text, or why there is none. Never raises."""
        try:
            return await self._call(role, system, prompt, schema, schema_name, deadline_s, _unparsed)
        except Exception as error:  # as in ask
            log.exception("LLM completion failed unexpectedly")
            return LlmResult.failed("unexpected", f"unexpected {type(error).__name__}")

    async def _call(self, role: Role, system: str, prompt: str, schema: dict[str, Any], schema_name: str,
                    deadline_s: float | None,
                    judge: Callable[[Envelope], tuple[Envelope, Judgement | None]]) -> LlmResult:
        model: ModelConfig = self._config.model_for(role)
        provider = self._config.provider_for(model)
        client = self._clients[model.provider]
        extra: dict[str, Any] = {}
        if provider.structured_output == "json_schema":
            extra["response_format"] = {"type": "json_schema", "json_schema": {"name": schema_name, "strict": True,
                                                                               "schema": schema}}
        elif provider.structured_output == "json_object":
            extra["response_format"] = {"type": "json_object", "schema": schema}
        request: dict[str, Any] = {
            "model": model.model, "temperature": model.temperature, "max_tokens": model.max_tokens,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": prompt}], **extra}
        max_chunks = stream_chunk_bound(model.max_tokens) if provider.stream else None
        if provider.stream:
            request.update(stream=True, stream_options={"include_usage": True})
        deadline = deadline_s or self._deadline_s
        started = time.monotonic()
        served: list[bool] = []  # the slot was ours (the call got past the queue)
        try:
            body, content_type = await asyncio.wait_for(
                self._fetch(self._gates[model.provider], client, request, max_chunks, served), timeout=deadline)
        except TimeoutError:
            behind = "" if served else " (it waited its turn behind another call)"
            return LlmResult.failed("timeout", f"no answer within the {deadline:g} s deadline{behind}",
                                    latency_s=time.monotonic() - started)
        except ResponseRefused as error:
            return LlmResult.failed(error.kind, error.reason, latency_s=time.monotonic() - started)
        except openai.APIStatusError as error:
            return LlmResult.failed("http_status", f"HTTP {error.status_code} from {model.provider}",
                                    latency_s=time.monotonic() - started)
        except openai.APITimeoutError:
            return LlmResult.failed("timeout", f"{model.provider} timed out", latency_s=time.monotonic() - started)
        except openai.APIConnectionError as error:
            cause = type(error.__cause__).__name__ if error.__cause__ is not None else "connection error"
            return LlmResult.failed("transport", f"{cause} from {model.provider}",
                                    latency_s=time.monotonic() - started)
        except httpx2.TransportError as error:  # while the body was read, after the SDK handed it over
            return LlmResult.failed("transport", f"{type(error).__name__} from {model.provider}",
                                    latency_s=time.monotonic() - started)
        except openai.OpenAIError as error:
            return LlmResult.failed("transport", f"{type(error).__name__} from {model.provider}",
                                    latency_s=time.monotonic() - started)
        latency = time.monotonic() - started

        def checked() -> tuple[Envelope, Judgement | None]:
            if isinstance(body, list):
                return judge(read_stream(body, max_chunks))
            return judge(read_envelope(body, content_type))

        # Off the loop: even a body at the cap takes a while to decode and check.
        envelope, judgement = await asyncio.to_thread(checked)
        return LlmResult(judgement, envelope.failure, envelope.tokens, envelope.cost_usd, latency, envelope.text)
