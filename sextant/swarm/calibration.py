"""A model earns its vote: every directional answer (BUY or SELL) is scored against what the mid did over its
horizon, per model and role, and kept; before an answer goes to consensus, its confidence is replaced by the hit
rate that model has shown at that stated confidence.

The stated confidence of a small model is noise (one scattered 0.1 to 1.0 while saying BUY 34 times in 34); its
record is not. The calibrated confidence is a shrunk hit rate: (hits + prior × PRIOR_HIT_RATE) / (answers + prior),
in the stated confidence's bin, so a model with no record stands at a coin flip (0.5), below any rule that claims
more, and a model with a bad record sinks below it. Only a record better than the rules' stated confidence can
outrank them.

The core is pure (times and prices passed in); `AnswerRecord` keeps it in SQLite so the record outlives a run.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

PRIOR_HIT_RATE = 0.5  # no record: a coin flip
PRIOR_WEIGHT = 20.0  # answers' worth of the prior: a record of a few answers moves it little
BINS = 5  # stated confidence in [0, 0.2), [0.2, 0.4) … [0.8, 1.0]
MIN_MOVE_BPS = 0.5  # a mid that moved less than this over the horizon scores nothing (no direction to be right on)


@dataclass(frozen=True, slots=True)
class Score:
    answers: int  # scored, in the bin
    hits: int

    @property
    def calibrated(self) -> float:
        return (self.hits + PRIOR_WEIGHT * PRIOR_HIT_RATE) / (self.answers + PRIOR_WEIGHT)


@dataclass(frozen=True, slots=True)
class ScoredAnswer:
    """A directional answer its horizon decided."""

    model: str
    role: str
    action: str
    confidence: float
    asked_mid: float
    mid: float  # at its horizon
    hit: int  # 1 right, 0 wrong

    @property
    def move_bps(self) -> float:
        """The mid's move in the direction the answer called, in bps: what it was worth."""
        move = move_bps(self.asked_mid, self.mid)
        return move if self.action == "BUY" else -move


def model_agent(model: str, role: str) -> str:
    """The name a model serving a role goes by as an agent of its own (its ERC-8004 identity): `local/small@perception`.
    Crew members are `name-NN`; a model's name has its provider's slash and the role after an @."""
    return f"{model}@{role}"


def is_model_agent(name: str) -> bool:
    return "@" in name and "/" in name


@dataclass(frozen=True, slots=True)
class CallStats:
    calls: int
    answered: int  # with a usable answer (the rest failed: transport, deadline, invalid answer …)
    tokens: int
    cost_usd: float
    latency_median_s: float | None  # of the answered calls
    latency_p99_s: float | None


def _quantile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def move_bps(asked_mid: float, mid: float) -> float:
    """The mid's move from `asked_mid` to `mid`, in bps (signed)."""
    return (mid / asked_mid - 1) * 1e4


def direction_hit(action: str, asked_mid: float, mid: float) -> int | None:
    """1 when the mid moved from `asked_mid` to `mid` the way a BUY or SELL said, 0 when the other way, None when it
    moved less than MIN_MOVE_BPS (no direction to be right on)."""
    move = move_bps(asked_mid, mid)
    if abs(move) < MIN_MOVE_BPS:
        return None
    return int((move > 0) == (action == "BUY"))


def confidence_bin(confidence: float) -> int:
    return min(BINS - 1, max(0, int(confidence * BINS)))


class AnswerRecord:
    """Answers, asked and scored, per model and role. `path` None: in memory (tests, a run without a record)."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path) if path is not None else ":memory:")
        # Written from the engine's loop: WAL with NORMAL sync commits without an fsync each time (a crash may lose
        # the last answers, never corrupt the record).
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("""CREATE TABLE IF NOT EXISTS answers (
            model TEXT NOT NULL, role TEXT NOT NULL, action TEXT NOT NULL, confidence REAL NOT NULL,
            asked_mid REAL NOT NULL, due_ns INTEGER NOT NULL, hit INTEGER)""")
        self._db.execute("CREATE INDEX IF NOT EXISTS due ON answers (hit, due_ns)")
        self._db.execute("""CREATE TABLE IF NOT EXISTS calls (
            model TEXT NOT NULL, role TEXT NOT NULL, at_ns INTEGER NOT NULL, tokens INTEGER NOT NULL,
            cost_usd REAL NOT NULL, latency_s REAL NOT NULL, failure TEXT)""")
        self._db.commit()

    def called(self, model: str, role: str, at_ns: int, tokens: int, cost_usd: float, latency_s: float,
               failure: str | None) -> None:
        """One call to a model: what it cost, how long it took, and the kind of failure if it failed."""
        self._db.execute("INSERT INTO calls VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (model, role, at_ns, int(tokens), float(cost_usd), float(latency_s), failure))
        self._db.commit()

    def calls(self, model: str, role: str, since_ns: int) -> CallStats:
        """The calls of `model` in `role` from `since_ns` on."""
        rows = self._db.execute("SELECT tokens, cost_usd, latency_s, failure FROM calls WHERE model = ? AND role = ? "
                                "AND at_ns >= ?", (model, role, since_ns)).fetchall()
        latencies = sorted(latency for _, _, latency, failure in rows if failure is None)
        return CallStats(len(rows), sum(1 for *_, failure in rows if failure is None), sum(r[0] for r in rows),
                         sum(r[1] for r in rows), _quantile(latencies, 0.5), _quantile(latencies, 0.99))

    def asked(self, model: str, role: str, action: str, confidence: float, mid: float, now_ns: int,
              horizon_s: float) -> None:
        """A directional answer, to be scored once its horizon has passed."""
        if action not in ("BUY", "SELL") or not mid > 0:
            return
        self._db.execute("INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?, NULL)",
                         (model, role, action, float(confidence), float(mid), now_ns + int(horizon_s * 1e9)))
        self._db.commit()

    def score_due(self, mid: float, now_ns: int) -> list[ScoredAnswer]:
        """Score every answer whose horizon has passed against `mid` now; returns those the mid decided."""
        if not mid > 0:
            return []
        due = self._db.execute("SELECT rowid, model, role, action, confidence, asked_mid FROM answers "
                               "WHERE hit IS NULL AND due_ns <= ?", (now_ns,)).fetchall()
        scored = []
        for rowid, model, role, action, confidence, asked_mid in due:
            hit = direction_hit(action, asked_mid, mid)
            # -1: no direction to be right on, kept but never counted
            self._db.execute("UPDATE answers SET hit = ? WHERE rowid = ?", (-1 if hit is None else hit, rowid))
            if hit is not None:
                scored.append(ScoredAnswer(model, role, action, confidence, asked_mid, mid, hit))
        if due:
            self._db.commit()
        return scored

    def score(self, model: str, role: str, confidence: float | None = None) -> Score:
        """The record of `model` in `role`: all its scored answers, or those in `confidence`'s bin."""
        query = "SELECT COUNT(*), COALESCE(SUM(hit), 0) FROM answers WHERE model = ? AND role = ? AND hit >= 0"
        args: tuple = (model, role)
        if confidence is not None:
            low = confidence_bin(confidence) / BINS
            high = low + 1 / BINS if confidence_bin(confidence) < BINS - 1 else 1.0 + 1e-9
            query += " AND confidence >= ? AND confidence < ?"
            args += (low, high)
        answers, hits = self._db.execute(query, args).fetchone()
        return Score(int(answers), int(hits))

    def calibrated(self, model: str, role: str, confidence: float) -> float:
        return self.score(model, role, confidence).calibrated

    def models(self) -> list[tuple[str, str]]:
        """(model, role) of every record kept: asked or scored."""
        return [(m, r) for m, r in self._db.execute(
            "SELECT model, role FROM answers UNION SELECT model, role FROM calls ORDER BY 1, 2")]

    def pending(self, model: str, role: str) -> int:
        """Answers not scored yet (their horizon has not passed)."""
        return int(self._db.execute("SELECT COUNT(*) FROM answers WHERE model = ? AND role = ? AND hit IS NULL",
                                    (model, role)).fetchone()[0])

    def close(self) -> None:
        self._db.close()


def records_table(path: str | Path, now_ns: int) -> list[str]:
    """`sextant llm status`: each model's calls over the last hour and its record, overall and by stated
    confidence, as text lines."""
    record = AnswerRecord(path)
    try:
        lines = []
        for model, role in record.models():
            hour = record.calls(model, role, now_ns - 3600 * 10**9)
            if hour.calls:
                latency = (f", latency median {hour.latency_median_s:.2f} s, p99 {hour.latency_p99_s:.2f} s"
                           if hour.latency_median_s is not None else "")
                lines.append(f"{model} as {role}, last hour: {hour.calls} calls, {hour.answered} answered, "
                             f"{hour.tokens:,} tokens, ${hour.cost_usd:,.4f}{latency}")
            overall = record.score(model, role)
            rate = f"{overall.hits / overall.answers:.0%}" if overall.answers else "—"
            lines.append(f"{model} as {role}: {overall.answers} scored ({rate} right), {record.pending(model, role)} "
                         f"waiting for their horizon")
            for index in range(BINS):
                stated = (index + 0.5) / BINS
                score = record.score(model, role, stated)
                if score.answers:
                    lines.append(f"  stated {index / BINS:.1f}–{(index + 1) / BINS:.1f}: {score.answers:>5} scored, "
                                 f"{score.hits / score.answers:>4.0%} right → consensus sees {score.calibrated:.2f}")
        return lines or ["no answers on the record yet"]
    finally:
        record.close()
