"""The research ledger (SQLite): every hypothesis, its metrics and its verdict; it survives restarts.

A hypothesis is written when it is proposed (with its place in the proposal order), its metrics and verdict when
it has been judged, in one transaction each. So a run killed at any point resumes where it stopped: a proposed but
unjudged hypothesis is evaluated (it never was), a judged one never again, and the best is what the verdicts say.
`evaluations` counts completed evaluations per hypothesis; it is 1 for every judged row (a test holds it to that).

The live engine reads accepted hypotheses from here and records what the captain (or Auto) did with each in
`applications`; that table is the engine's, the rest the research run's. WAL mode lets both work at once.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hypotheses (
    seq INTEGER PRIMARY KEY,
    id TEXT UNIQUE NOT NULL,
    family TEXT NOT NULL,
    params TEXT NOT NULL,
    parent_id TEXT,
    origin TEXT NOT NULL,
    rationale TEXT NOT NULL DEFAULT '',
    proposed_ns INTEGER NOT NULL,
    selection TEXT,
    selection_ir REAL,
    selection_sharpe REAL,
    hold_ir REAL,
    holdout TEXT,
    dsr REAL,
    best_ir_before REAL,
    verdict TEXT,
    accepted INTEGER,
    evaluations INTEGER NOT NULL DEFAULT 0,
    decided_ns INTEGER
);
CREATE TABLE IF NOT EXISTS applications (
    hypothesis_id TEXT PRIMARY KEY,
    decision TEXT NOT NULL,
    decided_ns INTEGER NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
"""


class LedgerMismatch(RuntimeError):
    """The ledger was started on other data or settings; resuming it would mix incomparable results."""


@dataclass(frozen=True, slots=True)
class Row:
    seq: int
    id: str
    family: str
    params: dict[str, float]
    parent_id: str | None
    origin: str
    rationale: str
    proposed_ns: int
    selection: list[dict[str, float]] | None
    selection_ir: float | None
    selection_sharpe: float | None
    hold_ir: float | None
    holdout: dict[str, float] | None
    dsr: float | None
    best_ir_before: float | None
    verdict: str | None
    accepted: bool
    evaluations: int
    decided_ns: int | None

    @property
    def judged(self) -> bool:
        return self.verdict is not None


class Ledger:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The engine reads it from Nautilus' timer callbacks, which run on more than one thread (one at a time).
        self._db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    # ---------------------------------------------------------------------------------------------- run identity

    def bind(self, identity: dict[str, Any]) -> bool:
        """Tie the ledger to one data set and settings. True if it was fresh; LedgerMismatch if it holds another."""
        stored = self._db.execute("SELECT value FROM meta WHERE key='identity'").fetchone()
        text = json.dumps(identity, sort_keys=True)
        if stored is None:
            self._db.execute("INSERT INTO meta VALUES ('identity', ?)", (text,))
            return True
        if stored[0] != text:
            theirs = json.loads(stored[0])
            differ = sorted(key for key in set(theirs) | set(identity) if theirs.get(key) != identity.get(key))
            raise LedgerMismatch(f"{self.path} was started with other {', '.join(differ)}: resuming would compare "
                                 f"incomparable results. Fix: use another --ledger, or the same data and settings.")
        return False

    # ---------------------------------------------------------------------------------------------- writing

    def propose(self, hypothesis_id: str, family: str, params: dict[str, float], parent_id: str | None,
                origin: str, rationale: str = "") -> int:
        cursor = self._db.execute(
            "INSERT INTO hypotheses (id, family, params, parent_id, origin, rationale, proposed_ns) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (hypothesis_id, family, json.dumps(params, sort_keys=True), parent_id, origin, rationale,
             time.time_ns()))
        return int(cursor.lastrowid or 0)

    def judge(self, hypothesis_id: str, *, selection: list[dict[str, float]], selection_ir: float,
              selection_sharpe: float, hold_ir: float, holdout: dict[str, float] | None, dsr: float | None,
              best_ir_before: float | None, verdict: str, accepted: bool) -> None:
        """The metrics and verdict, at once: a hypothesis is either unjudged or completely judged."""
        updated = self._db.execute(
            "UPDATE hypotheses SET selection=?, selection_ir=?, selection_sharpe=?, hold_ir=?, holdout=?, dsr=?, "
            "best_ir_before=?, verdict=?, accepted=?, evaluations=evaluations+1, decided_ns=? "
            "WHERE id=? AND verdict IS NULL",
            (json.dumps(selection), selection_ir, selection_sharpe, hold_ir,
             json.dumps(holdout) if holdout is not None else None, dsr, best_ir_before, verdict, int(accepted),
             time.time_ns(), hypothesis_id))
        if updated.rowcount != 1:
            raise RuntimeError(f"hypothesis {hypothesis_id} is unknown or already judged")

    def next_proposal_index(self) -> int:
        """The next place in the proposal order (each proposal's random stream is derived from it)."""
        row = self._db.execute("SELECT value FROM meta WHERE key='next_index'").fetchone()
        index = int(row[0]) if row else 1
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('next_index', ?)", (str(index + 1),))
        return index

    def record_application(self, hypothesis_id: str, decision: str, detail: str = "") -> None:
        self._db.execute("INSERT OR REPLACE INTO applications VALUES (?, ?, ?, ?)",
                         (hypothesis_id, decision, time.time_ns(), detail))

    # ---------------------------------------------------------------------------------------------- reading

    def rows(self, *, after_seq: int = 0) -> list[Row]:
        cursor = self._db.execute("SELECT * FROM hypotheses WHERE seq > ? ORDER BY seq", (after_seq,))
        return [_row(values) for values in cursor.fetchall()]

    def get(self, hypothesis_id: str) -> Row | None:
        values = self._db.execute("SELECT * FROM hypotheses WHERE id=?", (hypothesis_id,)).fetchone()
        return _row(values) if values is not None else None

    def has(self, hypothesis_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM hypotheses WHERE id=?", (hypothesis_id,)).fetchone() is not None

    def best(self, family: str) -> Row | None:
        """The family's current best: its last accepted hypothesis, else its baseline."""
        values = self._db.execute(
            "SELECT * FROM hypotheses WHERE family=? AND (accepted=1 OR verdict='baseline') "
            "ORDER BY accepted DESC, seq DESC LIMIT 1", (family,)).fetchone()
        return _row(values) if values is not None else None

    def applications(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT hypothesis_id, decision FROM applications").fetchall())

    def counts(self) -> dict[str, int]:
        total, judged, accepted = self._db.execute(
            "SELECT COUNT(*), COUNT(verdict), COALESCE(SUM(accepted), 0) FROM hypotheses "
            "WHERE origin != 'baseline'").fetchone()
        return {"proposed": int(total), "judged": int(judged), "accepted": int(accepted)}


def _row(values: tuple[Any, ...]) -> Row:
    (seq, hypothesis_id, family, params, parent_id, origin, rationale, proposed_ns, selection, selection_ir,
     selection_sharpe, hold_ir, holdout, dsr, best_ir_before, verdict, accepted, evaluations, decided_ns) = values
    return Row(seq=seq, id=hypothesis_id, family=family, params=json.loads(params), parent_id=parent_id,
               origin=origin, rationale=rationale, proposed_ns=proposed_ns,
               selection=json.loads(selection) if selection else None, selection_ir=selection_ir,
               selection_sharpe=selection_sharpe, hold_ir=hold_ir,
               holdout=json.loads(holdout) if holdout else None, dsr=dsr, best_ir_before=best_ir_before,
               verdict=verdict, accepted=bool(accepted), evaluations=evaluations, decided_ns=decided_ns)
