"""The research ledger (SQLite): every hypothesis, its metrics and its verdict; it survives restarts.

A hypothesis is written when it is proposed (with its place in the proposal order), its metrics and verdict when
it has been judged, in one transaction each. So a run killed at any point resumes where it stopped: a proposed but
unjudged hypothesis is evaluated (it never was), a judged one never again, and the best is what the verdicts say.
`evaluations` counts completed evaluations per hypothesis; it is 1 for every judged row (a test holds it to that).
`instruments` keeps, per hypothesis, each instrument's IRs (JSON, in the data's order): the row's own selection IR
and hold IR are their means, which the ratchet judged on (research/ratchet.py). `screen` keeps the screen's result
(its IR and rank in its round); a hypothesis the screen left out is judged with it alone (no selection IR).

The schema grows by MIGRATIONS, numbered by SQLite's user_version: a ledger of an older Sextant gains the new columns
when it is opened (its rows keep NULL there: one instrument, whose IRs are the row's own), and its identity (the data
and settings it was started on) still binds it as before.

The live engine reads accepted hypotheses from here and records what the captain (or Auto) did with each in
`applications`; that table is the engine's, the rest the research run's. WAL mode lets both work at once.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
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


# Applied in order, each once, at the user_version it brings the ledger to (its place here, from 1).
MIGRATIONS: tuple[str, ...] = (
    "ALTER TABLE hypotheses ADD COLUMN instruments TEXT",  # 1: each instrument's IRs (data of several instruments)
    "ALTER TABLE hypotheses ADD COLUMN screen TEXT",  # 2: the screen's result (two-stage evaluation)
)


class LedgerMismatch(RuntimeError):
    """The ledger was started on other data or settings; resuming it would mix incomparable results."""


@dataclass(frozen=True, slots=True)
class InstrumentResult:
    """A hypothesis on one instrument of the data: its selection IR, hold's, and the holdout's if it got that far."""

    instrument: str
    base_size: float
    selection_ir: float
    hold_ir: float
    holdout_ir: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in InstrumentResult.__slots__}


@dataclass(frozen=True, slots=True)
class ScreenResult:
    """What the screen made of a hypothesis: its selection IR by the screen's fills (the mean over the instruments,
    and each one's), and its rank in its round (1 = best) of how many were screened together."""

    ir: float
    irs: tuple[float, ...]
    rank: int
    of: int

    def as_dict(self) -> dict[str, Any]:
        return {"ir": self.ir, "irs": list(self.irs), "rank": self.rank, "of": self.of}


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
    instruments: tuple[InstrumentResult, ...] = ()  # empty in a ledger of an older Sextant
    screen: ScreenResult | None = None  # None: not screened (a baseline, or a run without the screen)

    @property
    def screened_out(self) -> bool:
        """Judged on the screen alone: it ranked below the round's confirmed few and never reached Nautilus."""
        return self.judged and self.screen is not None and self.selection_ir is None

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
        self._migrate()

    def _migrate(self) -> None:
        """Bring the schema to MIGRATIONS' last version, each step with the version in one transaction (an engine
        may open the ledger at the same time: whoever takes the write lock first migrates, the other sees it)."""
        if self._version() >= len(MIGRATIONS):
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for number in range(self._version() + 1, len(MIGRATIONS) + 1):
                self._db.execute(MIGRATIONS[number - 1])
                self._db.execute(f"PRAGMA user_version = {number}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

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
              best_ir_before: float | None, verdict: str, accepted: bool,
              instruments: Sequence[InstrumentResult] = ()) -> None:
        """The metrics and verdict, at once: a hypothesis is either unjudged or completely judged."""
        updated = self._db.execute(
            "UPDATE hypotheses SET selection=?, selection_ir=?, selection_sharpe=?, hold_ir=?, holdout=?, dsr=?, "
            "best_ir_before=?, verdict=?, accepted=?, evaluations=evaluations+1, decided_ns=?, instruments=? "
            "WHERE id=? AND verdict IS NULL",
            (json.dumps(selection), selection_ir, selection_sharpe, hold_ir,
             json.dumps(holdout) if holdout is not None else None, dsr, best_ir_before, verdict, int(accepted),
             time.time_ns(), json.dumps([each.as_dict() for each in instruments]) if instruments else None,
             hypothesis_id))
        if updated.rowcount != 1:
            raise RuntimeError(f"hypothesis {hypothesis_id} is unknown or already judged")

    def record_screen(self, results: Sequence[tuple[str, ScreenResult, str | None]], hold_ir: float) -> None:
        """One round's screen, in one transaction: each hypothesis's result, and for those it leaves out of the
        confirmation (a verdict given) that verdict, so a resumed run finds the round's confirmed few still to do."""
        now = time.time_ns()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for hypothesis_id, result, verdict in results:
                if verdict is None:
                    self._db.execute("UPDATE hypotheses SET screen=? WHERE id=? AND verdict IS NULL",
                                     (json.dumps(result.as_dict()), hypothesis_id))
                else:
                    self._db.execute(
                        "UPDATE hypotheses SET screen=?, hold_ir=?, verdict=?, accepted=0, "
                        "evaluations=evaluations+1, decided_ns=? WHERE id=? AND verdict IS NULL",
                        (json.dumps(result.as_dict()), hold_ir, verdict, now, hypothesis_id))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

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
     selection_sharpe, hold_ir, holdout, dsr, best_ir_before, verdict, accepted, evaluations, decided_ns,
     instruments, screen) = values
    return Row(seq=seq, id=hypothesis_id, family=family, params=json.loads(params), parent_id=parent_id,
               origin=origin, rationale=rationale, proposed_ns=proposed_ns,
               selection=json.loads(selection) if selection else None, selection_ir=selection_ir,
               selection_sharpe=selection_sharpe, hold_ir=hold_ir,
               holdout=json.loads(holdout) if holdout else None, dsr=dsr, best_ir_before=best_ir_before,
               verdict=verdict, accepted=bool(accepted), evaluations=evaluations, decided_ns=decided_ns,
               instruments=tuple(InstrumentResult(**each) for each in json.loads(instruments)) if instruments else (),
               screen=_screen(json.loads(screen)) if screen else None)


def _screen(stored: dict[str, Any]) -> ScreenResult:
    return ScreenResult(ir=stored["ir"], irs=tuple(stored["irs"]), rank=stored["rank"], of=stored["of"])
