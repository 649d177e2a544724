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
at most one retry. Spend is counted from the response's usage (tokens, and `usage.cost` where the provider
reports it, as OpenRouter does) over a rolling hour; over budget, the router runs on rules only.
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
from collections.abc import Callable
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
    """Tokens and money spent over a rolling hour."""

    def __init__(self, tokens_per_hour: int, usd_per_hour: float) -> None:
        self.tokens_per_hour = tokens_per_hour
        self.usd_per_hour = usd_per_hour
        self._spend: deque[tuple[float, int, float]] = deque()
        self.records = 0  # calls charged since the start

    def _trim(self, now: float) -> None:
        while self._spend and now - self._spend[0][0] > 3600.0:
            self._spend.popleft()

    def record(self, tokens: int, cost_usd: float, now: float | None = None) -> None:
        self._spend.append((time.monotonic() if now is None else now, tokens, cost_usd))
        self.records += 1

    def spent(self, now: float | None = None) -> tuple[int, float]:
        self._trim(time.monotonic() if now is None else now)
        return sum(t for _, t, _ in self._spend), sum(c for _, _, c in self._spend)

    def exhausted(self, now: float | None = None) -> bool:
        tokens, cost = self.spent(now)
        return tokens >= self.tokens_per_hour or cost >= self.usd_per_hour


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


class CappedTransport(httpx2.AsyncBaseTransport):
    """Sends through `inner` (a default client: its proxies from the environment, its pool) and reads the body
    incrementally, refusing it as soon as it passes `max_bytes`, before anything parses it. We ask for an
    uncompressed body; a gzip or deflate one is inflated here under the same cap (never a decompression bomb)."""

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
            body = bytearray()
            async for chunk in response.aiter_raw():
                body += chunk
                if len(body) > self._max_bytes:
                    raise ResponseRefused("too_large", f"response over the {self._max_bytes}-byte cap")
        finally:
            await response.aclose()
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        content = self._inflated(bytes(body), encoding)
        headers = [(name, value) for name, value in response.headers.multi_items()
                   if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
        return httpx2.Response(response.status_code, headers=headers, content=content)

    def _inflated(self, body: bytes, encoding: str) -> bytes:
        if encoding in ("", "identity"):
            return body
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
    tokens, cost = 0, 0.0
    usage = data.get("usage")
    if usage is not None:
        if not isinstance(usage, dict):
            return Envelope(None, LlmFailure("bad_envelope", "usage is not an object"))
        try:
            tokens = int(min(_usage_number(usage, "total_tokens"), 1e12))
            cost = _usage_number(usage, "cost")
        except InvalidAnswer as error:
            return Envelope(None, LlmFailure("bad_envelope", str(error)))

    def bad(reason: str) -> Envelope:
        return Envelope(None, LlmFailure("bad_envelope", reason), tokens, cost)

    choices = data.get("choices")
    if not isinstance(choices, list):
        return bad("choices is not a list")
    if not choices:
        return bad("no choices in the response")
    choice = choices[0]
    if not isinstance(choice, dict):
        return bad("choices[0] is not an object")
    if choice.get("finish_reason") == "length":
        return Envelope(None, LlmFailure("invalid_answer", "answer truncated (finish_reason=length)"), tokens, cost)
    message = choice.get("message")
    if not isinstance(message, dict):
        return bad("choices[0].message is not an object")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        return bad(f"message content is a JSON {type(content).__name__}, not a string")
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

    def _new_client(self, provider: ProviderConfig) -> openai.AsyncOpenAI:
        inner = openai.DefaultAsyncHttpxClient(follow_redirects=False)  # the default's proxies and pool
        http_client = openai.DefaultAsyncHttpxClient(
            transport=CappedTransport(inner, provider.max_response_bytes),
            headers={"accept-encoding": "identity"})
        return openai.AsyncOpenAI(base_url=provider.api_base, api_key=provider.api_key.reveal() or "not-needed",
                                  timeout=min(provider.timeout_secs, self._deadline_s), max_retries=self._max_retries,
                                  http_client=http_client)

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
        deadline = deadline_s or self._deadline_s
        started = time.monotonic()
        try:
            raw = await asyncio.wait_for(client.chat.completions.with_raw_response.create(
                model=model.model, temperature=model.temperature, max_tokens=model.max_tokens,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": prompt}], **extra),
                timeout=deadline)
        except TimeoutError:
            return LlmResult.failed("timeout", f"no answer within the {deadline:g} s deadline",
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
        except openai.OpenAIError as error:
            return LlmResult.failed("transport", f"{type(error).__name__} from {model.provider}",
                                    latency_s=time.monotonic() - started)
        latency = time.monotonic() - started
        http = raw.http_response
        # Off the loop: even a body at the cap takes a while to decode and check.
        envelope, judgement = await asyncio.to_thread(
            lambda: judge(read_envelope(http.content, http.headers.get("content-type", ""))))
        return LlmResult(judgement, envelope.failure, envelope.tokens, envelope.cost_usd, latency, envelope.text)
