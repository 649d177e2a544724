"""`sextant llm eval`: how good is a model at the perception officer's job, measured on recorded markets.

Recorded market states (a scene's ContextWindow snapshots, one every `every_s` of engine time once the features
are warm) are put to the configured model with the router's own prompt, role and deadline, one call at a time as
the router makes them. Each answer is scored as the router's record scores it (calibration.py): a BUY or SELL is
right when the mid moved its way over `horizon_s`, wrong when it moved the other way, unscored when it moved less
than MIN_MOVE_BPS. The rules (the router's L1) answer the same states as the baseline.

Reported per source: how many answers were valid and how fast they came (median, p99), what it said (BUY / SELL /
HOLD), how often it agreed with the rules, its directional skill (hit rate, and the mean move in bps in the
direction it called, after the fact), the Brier score of its stated confidence as the chance of being right, and
a reliability diagram: in each bin of stated confidence, how often it was right. A calibrated model's points lie
on the diagonal; a model whose confidence means nothing draws a flat line at its hit rate.

The core is pure (states in, answers and reports out); the CLI reads the scenes and draws the PNG.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sextant.swarm.calibration import (
    BINS,
    PRIOR_HIT_RATE,
    PRIOR_WEIGHT,
    confidence_bin,
    direction_hit,
    move_bps,
)
from sextant.swarm.llm import LlmResult


@dataclass(frozen=True, slots=True)
class MarketState:
    """One recorded ContextWindow record to ask about, and what the mid did next."""

    scene: str
    ts_ns: int  # engine time of the record
    record: np.void
    mid_after: float  # the mid `horizon_s` later


@dataclass(frozen=True, slots=True)
class Answer:
    action: str | None  # BUY, SELL or HOLD; None: no valid answer (failure says why)
    confidence: float
    latency_s: float
    failure: str | None
    hit: int | None  # 1 right, 0 wrong, None: not directional, or the mid did not move enough to say
    move_bps: float  # the mid's move over the horizon, in bps (signed)
    tokens: int = 0


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    low: float
    high: float
    answers: int  # scored directional answers with a stated confidence in [low, high)
    hits: int
    mean_confidence: float

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.answers if self.answers else None


@dataclass(frozen=True, slots=True)
class SourceReport:
    name: str  # "local/smollm2 as perception", "rules (L1)"
    states: int
    valid: int
    failures: dict[str, int]  # reason → count, for the answers that were not valid
    latency_median_s: float | None
    latency_p99_s: float | None
    actions: dict[str, int]  # BUY / SELL / HOLD → count
    agreement: float | None  # share of valid answers whose action is the rules'
    directional: int  # BUY or SELL answers
    scored: int  # of those, the ones the mid decided
    hits: int
    edge_bps: float | None  # mean move in the called direction, over the scored answers
    brier: float | None  # mean (confidence - hit)^2 over the scored answers
    bins: list[ReliabilityBin] = field(default_factory=list)
    tokens: int = 0

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.scored if self.scored else None

    @property
    def calibrated_hit_rate(self) -> float:
        """The record's hit rate as consensus would see it: shrunk toward a coin flip (calibration.py)."""
        return (self.hits + PRIOR_WEIGHT * PRIOR_HIT_RATE) / (self.scored + PRIOR_WEIGHT)


def market_states(scene: str, ts_ns: np.ndarray, records: np.ndarray, *, every_s: float, horizon_s: float,
                  warm_quotes: int) -> list[MarketState]:
    """The states to ask about: one every `every_s` of engine time, from the first warm record (at least
    `warm_quotes` quotes and a volatility above zero, as the router asks) to the last with `horizon_s` after it."""
    states: list[MarketState] = []
    if len(records) == 0:
        return states
    horizon_ns, every_ns = int(horizon_s * 1e9), int(every_s * 1e9)
    next_ns = None
    for index in range(len(records)):
        record = records[index]
        at = int(ts_ns[index])
        if int(record["quote_count"]) < warm_quotes or not float(record["volatility"][1]) > 0:
            continue
        if not float(record["mid"]) > 0 or (next_ns is not None and at < next_ns):
            continue
        after = int(np.searchsorted(ts_ns, at + horizon_ns, side="left"))
        if after >= len(records):
            break
        states.append(MarketState(scene, at, record, float(records[after]["mid"])))
        next_ns = at + every_ns
    return states


def score(action: str | None, state: MarketState) -> tuple[int | None, float]:
    """(hit, move in bps) of an action on a state, as the router's record would score it."""
    asked = float(state.record["mid"])
    move = move_bps(asked, state.mid_after)
    if action not in ("BUY", "SELL"):
        return None, move
    return direction_hit(action, asked, state.mid_after), move


def rising_share(states: Sequence[MarketState]) -> tuple[int, int]:
    """(states after which the mid rose, states the mid decided): what a source that always says BUY would score.
    A scene that trends makes a one-sided model look skilled; this is the bar it must clear."""
    decided = [hit for hit in (score("BUY", state)[0] for state in states) if hit is not None]
    return sum(decided), len(decided)


def rules_answers(states: Sequence[MarketState], rules: Callable[[np.void], tuple[str, float]]) -> list[Answer]:
    """The baseline: the rules' action on each state (REDUCE counts as the rules' HOLD: it trades no direction)."""
    answers = []
    for state in states:
        started = time.perf_counter()
        action, confidence = rules(state.record)
        action = action if action in ("BUY", "SELL") else "HOLD"
        hit, move = score(action, state)
        answers.append(Answer(action, confidence, time.perf_counter() - started, None, hit, move))
    return answers


async def model_answers(states: Sequence[MarketState], ask: Callable[[np.void], Awaitable[LlmResult]],
                        progress: Callable[[int], None] | None = None) -> list[Answer]:
    """The model's answer on each state, one call at a time (as the router asks)."""
    answers = []
    for number, state in enumerate(states, 1):
        result = await ask(state.record)
        judgement = result.judgement
        action = judgement.action if judgement is not None else None
        hit, move = score(action, state)
        answers.append(Answer(action, judgement.confidence if judgement is not None else math.nan,
                              result.latency_s, None if judgement is not None else result.reason, hit, move,
                              result.tokens))
        if progress is not None:
            progress(number)
    return answers


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return float(np.quantile(np.asarray(values), q))


def summarize(name: str, answers: Sequence[Answer], rules: Sequence[Answer] | None = None) -> SourceReport:
    """One source's report over its answers; `rules`: the baseline's answers on the same states, for agreement."""
    valid = [answer for answer in answers if answer.action is not None]
    failures = Counter(_failure_kind(answer.failure) for answer in answers if answer.action is None)
    agreement = None
    if rules is not None and valid:
        pairs = [(answer, baseline) for answer, baseline in zip(answers, rules, strict=True) if answer.action]
        agreement = sum(answer.action == baseline.action for answer, baseline in pairs) / len(pairs)
    directional = [answer for answer in valid if answer.action in ("BUY", "SELL")]
    scored = [answer for answer in directional if answer.hit is not None]
    hits = sum(answer.hit or 0 for answer in scored)
    edge = (float(np.mean([answer.move_bps if answer.action == "BUY" else -answer.move_bps for answer in scored]))
            if scored else None)
    brier = float(np.mean([(answer.confidence - (answer.hit or 0)) ** 2 for answer in scored])) if scored else None
    bins = []
    for index in range(BINS):
        inside = [answer for answer in scored if confidence_bin(answer.confidence) == index]
        bins.append(ReliabilityBin(index / BINS, (index + 1) / BINS, len(inside), sum(a.hit or 0 for a in inside),
                                   float(np.mean([a.confidence for a in inside])) if inside else math.nan))
    latencies = [answer.latency_s for answer in valid]
    return SourceReport(name, len(answers), len(valid), dict(failures), _quantile(latencies, 0.5),
                        _quantile(latencies, 0.99), dict(Counter(answer.action or "" for answer in valid)), agreement,
                        len(directional), len(scored), hits, edge, brier, bins, sum(a.tokens for a in answers))


def _failure_kind(reason: str | None) -> str:
    """A failure's reason without its particulars (deadlines, sizes), so that like failures count together."""
    text = reason or "unknown"
    for kind in ("invalid answer", "answer truncated", "no answer within", "HTTP", "timed out"):
        if text.startswith(kind):
            return kind
    return text.split(":")[0][:40]


def report_lines(reports: Sequence[SourceReport], horizon_s: float) -> list[str]:
    """The reports as a table, one column per source."""
    def percent(value: float | None) -> str:
        return "—" if value is None else f"{value:.0%}"

    def seconds(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f} s" if value >= 0.01 else f"{value * 1e6:.0f} µs"

    rows: list[tuple[str, list[str]]] = [
        ("states asked", [f"{r.states}" for r in reports]),
        ("valid answers", [f"{r.valid} ({percent(r.valid / r.states if r.states else None)})" for r in reports]),
        ("latency median", [seconds(r.latency_median_s) for r in reports]),
        ("latency p99", [seconds(r.latency_p99_s) for r in reports]),
        ("BUY / SELL / HOLD", [f"{r.actions.get('BUY', 0)} / {r.actions.get('SELL', 0)} / {r.actions.get('HOLD', 0)}"
                               for r in reports]),
        ("agrees with the rules", [percent(r.agreement) for r in reports]),
        (f"directional, scored ({horizon_s:g} s)", [f"{r.directional}, {r.scored}" for r in reports]),
        ("right", [f"{r.hits} ({percent(r.hit_rate)})" for r in reports]),
        ("consensus would see", [f"{r.calibrated_hit_rate:.2f}" for r in reports]),
        ("edge (mean bps its way)", ["—" if r.edge_bps is None else f"{r.edge_bps:+.2f}" for r in reports]),
        ("Brier score", ["—" if r.brier is None else f"{r.brier:.3f}" for r in reports]),
        ("tokens", [f"{r.tokens:,}" for r in reports]),
    ]
    failures = sorted({kind for r in reports for kind in r.failures})
    rows += [(f"failed: {kind}", [f"{r.failures.get(kind, 0)}" for r in reports]) for kind in failures]
    width = max(len(name) for name, _ in rows) + 2
    columns = [max(len(r.name), *(len(values[i]) for _, values in rows)) + 2 for i, r in enumerate(reports)]
    lines = [" " * width + "".join(r.name.ljust(columns[i]) for i, r in enumerate(reports)).rstrip()]
    lines += [name.ljust(width) + "".join(value.ljust(columns[i]) for i, value in enumerate(values)).rstrip()
              for name, values in rows]
    return lines


def scene_lines(states: Sequence[MarketState], sources: Sequence[tuple[str, Sequence[Answer]]]) -> list[str]:
    """Per scene: the states, the share after which the mid rose (always-BUY's score) and each source's hit rate;
    scenes differ (a trend flatters a one-sided source, a crash punishes it) and the totals hide it."""
    scenes = list(dict.fromkeys(state.scene for state in states))
    width = max(len("scene"), *(len(scene) for scene in scenes)) + 2
    header = f"{'scene':<{width}}{'states':>7}{'mid rose':>10}" + "".join(f"  {name}" for name, _ in sources)
    lines = [header]
    for scene in scenes:
        inside = [index for index, state in enumerate(states) if state.scene == scene]
        rose, decided = rising_share([states[index] for index in inside])
        cells = []
        for name, answers in sources:
            report = summarize(name, [answers[index] for index in inside])
            rate = "—" if report.hit_rate is None else f"{report.hit_rate:.0%}"
            cells.append(f"  {f'{report.hits}/{report.scored} right ({rate})':<{len(name)}}")
        rising = f"{rose / decided:.0%}" if decided else "—"
        lines.append(f"{scene:<{width}}{len(inside):>7}{rising:>10}" + "".join(cells))
    return lines


def answers_json(states: Sequence[MarketState], answers: Sequence[Answer]) -> list[dict[str, Any]]:
    """Each answer with the state it was asked on: for a closer look than the report's."""
    return [{"scene": state.scene, "ts_ns": state.ts_ns, "mid": float(state.record["mid"]),
             "mid_after": state.mid_after, "action": answer.action,
             "confidence": None if math.isnan(answer.confidence) else answer.confidence, "hit": answer.hit,
             "move_bps": answer.move_bps, "latency_s": answer.latency_s, "failure": answer.failure}
            for state, answer in zip(states, answers, strict=True)]


def report_json(reports: Sequence[SourceReport]) -> list[dict[str, Any]]:
    def clean(value: Any) -> Any:
        return None if isinstance(value, float) and math.isnan(value) else value

    return [{**{name: clean(getattr(r, name)) for name in ("name", "states", "valid", "failures", "latency_median_s",
                                                           "latency_p99_s", "actions", "agreement", "directional",
                                                           "scored", "hits", "edge_bps", "brier", "tokens")},
             "calibrated_hit_rate": r.calibrated_hit_rate,
             "bins": [{"low": b.low, "high": b.high, "answers": b.answers, "hits": b.hits,
                       "mean_confidence": clean(b.mean_confidence)} for b in r.bins]} for r in reports]


def reliability_png(reports: Sequence[SourceReport], path: Path, title: str, rising: float | None = None) -> None:
    """The reliability diagram: per source, the hit rate in each bin of stated confidence (marker area by the
    number of answers), against the diagonal a calibrated source would follow and the share of states after which
    the mid rose (`rising`: what always saying BUY scores); beneath, the answers per bin."""
    import matplotlib

    matplotlib.use("Agg")  # a file, never a window
    from matplotlib import pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(6.4, 6.4), height_ratios=(3, 1), sharex=True,
                                         layout="constrained")
    top.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="calibrated")
    top.axhline(0.5, color="0.8", linewidth=0.8)
    if rising is not None:
        top.axhline(rising, color="0.45", linestyle=":", linewidth=1.2, label=f"always BUY ({rising:.0%})")
    width = 0.8 / BINS / max(1, len(reports))
    for index, report in enumerate(reports):
        filled = [b for b in report.bins if b.answers]
        xs = [b.mean_confidence for b in filled]
        ys = [b.hit_rate for b in filled]
        line, = top.plot(xs, ys, marker="o", linewidth=1.5, label=f"{report.name} ({report.scored} scored)")
        top.scatter(xs, ys, s=[20 + 4 * b.answers for b in filled], color=line.get_color(), alpha=0.35)
        centres = [(b.low + b.high) / 2 + (index - (len(reports) - 1) / 2) * width for b in report.bins]
        bottom.bar(centres, [b.answers for b in report.bins], width=width, color=line.get_color())
    top.set(xlim=(0, 1), ylim=(0, 1), ylabel="right, of the scored answers", title=title)
    top.legend(loc="upper left", fontsize=8)
    bottom.set(xlabel="stated confidence", ylabel="answers")
    figure.savefig(path, dpi=110)
    plt.close(figure)

