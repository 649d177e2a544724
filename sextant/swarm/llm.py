"""LLM calls for the perception router: llm.toml roles → AsyncOpenAI, schema-checked answers, deadlines, budgets.

The model is asked for {"action": BUY|SELL|HOLD, "confidence": 0..1, "reasoning": "..."} as a JSON schema
(structured output). Whatever comes back is re-validated here with coercion, because servers and small models do
not honour schemas reliably: "buy" → BUY, "15%" → 0.15, "0.7" → 0.7; "N/A", null, NaN, out-of-range or missing
values make the answer invalid, and an invalid answer becomes a Hold with its reason, never an order.

Every call has a hard deadline (asyncio.wait_for: the client's own timeout is per socket read, not a total) and
at most one retry. Spend is counted from the response's usage (tokens, and `usage.cost` where the provider
reports it, as OpenRouter does) over a rolling hour; over budget, the router runs on rules only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import re
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
import openai

from sextant.config import LlmConfig, ModelConfig, ProviderConfig

Action = Literal["BUY", "SELL", "HOLD"]
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": ["BUY", "SELL", "HOLD"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "reasoning": {"type": "string", "maxLength": 300},
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
    reasoning = data.get("reasoning", "")
    if not isinstance(reasoning, str):
        reasoning = json.dumps(reasoning)[:300]
    reasoning = re.sub(r"\s+", " ", reasoning).strip()[:300]
    return Judgement(action=_ACTIONS[action.strip().upper()], confidence=confidence,  # type: ignore[arg-type]
                     reasoning=reasoning)


Role = Literal["perception", "strategy", "risk", "fallback", "research"]


@dataclass(frozen=True, slots=True)
class LlmResult:
    judgement: Judgement | None  # a perception answer (`ask`); None from `complete`, or when there is none
    reason: str  # why there is no answer, or "ok"
    tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    text: str | None = None  # the model's raw answer


class SpendBudget:
    """Tokens and money spent over a rolling hour."""

    def __init__(self, tokens_per_hour: int, usd_per_hour: float) -> None:
        self.tokens_per_hour = tokens_per_hour
        self.usd_per_hour = usd_per_hour
        self._spend: deque[tuple[float, int, float]] = deque()

    def _trim(self, now: float) -> None:
        while self._spend and now - self._spend[0][0] > 3600.0:
            self._spend.popleft()

    def record(self, tokens: int, cost_usd: float, now: float | None = None) -> None:
        self._spend.append((time.monotonic() if now is None else now, tokens, cost_usd))

    def spent(self, now: float | None = None) -> tuple[int, float]:
        self._trim(time.monotonic() if now is None else now)
        return sum(t for _, t, _ in self._spend), sum(c for _, _, c in self._spend)

    def exhausted(self, now: float | None = None) -> bool:
        tokens, cost = self.spent(now)
        return tokens >= self.tokens_per_hour or cost >= self.usd_per_hour


class LlmClient:
    """One AsyncOpenAI client per provider; `ask(role, prompt)` never raises, it returns an LlmResult."""

    def __init__(self, config: LlmConfig, *, deadline_s: float, max_retries: int = 1) -> None:
        if max_retries > 1:
            raise ValueError("max_retries must be at most 1: a trading loop cannot wait for long backoffs")
        self._config = config
        self._deadline_s = deadline_s
        self._clients: dict[str, openai.AsyncOpenAI] = {}
        self._max_retries = max_retries

    def _client(self, name: str, provider: ProviderConfig) -> openai.AsyncOpenAI:
        if name not in self._clients:
            self._clients[name] = openai.AsyncOpenAI(
                base_url=provider.api_base, api_key=provider.api_key.reveal() or "not-needed",
                timeout=min(provider.timeout_secs, self._deadline_s), max_retries=self._max_retries)
        return self._clients[name]

    async def ask(self, role: Literal["perception", "strategy", "risk", "fallback"], prompt: str,
                  deadline_s: float | None = None) -> LlmResult:
        """A perception judgement (ANSWER_SCHEMA), validated."""
        model = self._config.model_for(role)
        answer = await self.complete(role, model.system_prompt or SYSTEM_PROMPT, prompt, ANSWER_SCHEMA, "judgement",
                                     deadline_s)
        if answer.text is None:
            return answer
        try:
            return dataclasses.replace(answer, judgement=parse_answer(answer.text))
        except InvalidAnswer as error:
            return dataclasses.replace(answer, reason=f"invalid answer: {error}")

    async def complete(self, role: Role, system: str, prompt: str, schema: dict[str, Any], schema_name: str,
                       deadline_s: float | None = None) -> LlmResult:
        """One structured-output chat completion for `role`; the raw text, or why there is none. Never raises."""
        model: ModelConfig = self._config.model_for(role)
        provider = self._config.provider_for(model)
        client = self._client(model.provider, provider)
        extra: dict[str, Any] = {}
        if provider.structured_output == "json_schema":
            extra["response_format"] = {"type": "json_schema", "json_schema": {"name": schema_name, "strict": True,
                                                                               "schema": schema}}
        elif provider.structured_output == "json_object":
            extra["response_format"] = {"type": "json_object", "schema": schema}
        started = time.monotonic()
        try:
            response = await asyncio.wait_for(client.chat.completions.create(
                model=model.model, temperature=model.temperature, max_tokens=model.max_tokens,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": prompt}], **extra),
                timeout=deadline_s or self._deadline_s)
        except TimeoutError:
            return LlmResult(None, f"no answer within the {deadline_s or self._deadline_s:g} s deadline",
                           latency_s=time.monotonic() - started)
        except openai.APIStatusError as error:
            return LlmResult(None, f"HTTP {error.status_code} from {model.provider}", latency_s=time.monotonic() - started)
        except openai.APIError as error:
            return LlmResult(None, f"{type(error).__name__} from {model.provider}", latency_s=time.monotonic() - started)
        latency = time.monotonic() - started
        usage = response.usage
        tokens = int(usage.total_tokens) if usage is not None else 0
        usage_extra = (usage.model_extra or {}) if usage is not None else {}
        cost = float(usage_extra.get("cost", 0.0) or 0.0)
        if not response.choices:
            return LlmResult(None, "no choices in the response", tokens, cost, latency)
        choice = response.choices[0]
        if choice.finish_reason == "length":
            return LlmResult(None, "answer truncated (finish_reason=length)", tokens, cost, latency)
        return LlmResult(None, "ok", tokens, cost, latency, text=choice.message.content)
