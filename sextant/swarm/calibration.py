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


def confidence_bin(confidence: float) -> int:
    return min(BINS - 1, max(0, int(confidence * BINS)))


class AnswerRecord:
    """Answers, asked and scored, per model and role. `path` None: in memory (tests, a run without a record)."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path) if path is not None else ":memory:")
        self._db.execute("""CREATE TABLE IF NOT EXISTS answers (
            model TEXT NOT NULL, role TEXT NOT NULL, action TEXT NOT NULL, confidence REAL NOT NULL,
            asked_mid REAL NOT NULL, due_ns INTEGER NOT NULL, hit INTEGER)""")
        self._db.execute("CREATE INDEX IF NOT EXISTS due ON answers (hit, due_ns)")
        self._db.commit()

    def asked(self, model: str, role: str, action: str, confidence: float, mid: float, now_ns: int,
              horizon_s: float) -> None:
        """A directional answer, to be scored once its horizon has passed."""
        if action not in ("BUY", "SELL") or not mid > 0:
            return
        self._db.execute("INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?, NULL)",
                         (model, role, action, float(confidence), float(mid), now_ns + int(horizon_s * 1e9)))
        self._db.commit()

    def score_due(self, mid: float, now_ns: int) -> int:
        """Score every answer whose horizon has passed against `mid` now; returns how many were scored."""
        if not mid > 0:
            return 0
        due = self._db.execute("SELECT rowid, action, asked_mid FROM answers WHERE hit IS NULL AND due_ns <= ?",
                               (now_ns,)).fetchall()
        scored = 0
        for rowid, action, asked_mid in due:
            move_bps = (mid / asked_mid - 1) * 1e4
            if abs(move_bps) < MIN_MOVE_BPS:
                hit = -1  # no direction to be right on: kept, never counted
            else:
                hit = int((move_bps > 0) == (action == "BUY"))
                scored += 1
            self._db.execute("UPDATE answers SET hit = ? WHERE rowid = ?", (hit, rowid))
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
        """(model, role) of every record kept."""
        return [(m, r) for m, r in self._db.execute("SELECT DISTINCT model, role FROM answers ORDER BY model, role")]

    def pending(self, model: str, role: str) -> int:
        """Answers not scored yet (their horizon has not passed)."""
        return int(self._db.execute("SELECT COUNT(*) FROM answers WHERE model = ? AND role = ? AND hit IS NULL",
                                    (model, role)).fetchone()[0])

    def close(self) -> None:
        self._db.close()


def records_table(path: str | Path) -> list[str]:
    """`sextant llm status`: each model's record, overall and by stated confidence, as text lines."""
    record = AnswerRecord(path)
    try:
        lines = []
        for model, role in record.models():
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
