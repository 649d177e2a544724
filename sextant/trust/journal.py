"""The attestor's durable journal (SQLite, WAL): registries, agent ids and every attestation, written before any
transaction is sent. It is what makes "none lost" true across crashes and RPC outages, and what rebuilds the
embedded chain at start."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Attestation:
    seq: int
    record_id: str
    agent: str
    agent_id: int
    value: int
    decimals: int
    tag1: str
    tag2: str
    uri: str
    hash: str
    status: str  # queued | mined | failed
    tx_hash: str
    block: int
    feedback_index: int
    attempts: int
    last_error: str
    validator: str  # the address asked to re-run this decision once it is mined; empty: none
    validation: str  # '' (not asked yet) | requested | failed


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS agents (name TEXT PRIMARY KEY, agent_id INTEGER NOT NULL, uri TEXT NOT NULL,
                                   position INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS attestations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, record_id TEXT NOT NULL UNIQUE, agent TEXT NOT NULL,
    agent_id INTEGER NOT NULL, value INTEGER NOT NULL, decimals INTEGER NOT NULL, tag1 TEXT NOT NULL,
    tag2 TEXT NOT NULL, uri TEXT NOT NULL, hash TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'queued',
    tx_hash TEXT NOT NULL DEFAULT '', block INTEGER NOT NULL DEFAULT 0, feedback_index INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '', queued_ns INTEGER NOT NULL,
    mined_ns INTEGER NOT NULL DEFAULT 0);
"""
# columns added since the first journals: (name, declaration), added to an older journal when it is opened
_ADDED = (("validator", "TEXT NOT NULL DEFAULT ''"), ("validation", "TEXT NOT NULL DEFAULT ''"))
_COLUMNS = "seq, record_id, agent, agent_id, value, decimals, tag1, tag2, uri, hash, status, tx_hash, block, " \
           "feedback_index, attempts, last_error, validator, validation"


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a queued attestation survives a power cut
        self._db.executescript(_SCHEMA)
        present = {row[1] for row in self._db.execute("PRAGMA table_info(attestations)")}
        for name, declaration in _ADDED:
            if name not in present:
                self._db.execute(f"ALTER TABLE attestations ADD COLUMN {name} {declaration}")

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                             "excluded.value", (key, value))

    def agents(self) -> list[tuple[str, int, str]]:
        with self._lock:
            return [(r[0], int(r[1]), r[2]) for r in
                    self._db.execute("SELECT name, agent_id, uri FROM agents ORDER BY position")]

    def add_agent(self, name: str, agent_id: int, uri: str) -> None:
        with self._lock:
            position = self._db.execute("SELECT COUNT(*) FROM agents").fetchone()[0]
            self._db.execute("INSERT INTO agents(name, agent_id, uri, position) VALUES(?, ?, ?, ?)",
                             (name, agent_id, uri, position))

    def queue(self, record_id: str, agent: str, agent_id: int, value: int, decimals: int, tag1: str, tag2: str,
              uri: str, digest: str, validator: str = "") -> int:
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO attestations(record_id, agent, agent_id, value, decimals, tag1, tag2, uri, hash, "
                "queued_ns, validator) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record_id, agent, agent_id, value, decimals, tag1, tag2, uri, digest, time.time_ns(), validator))
            return int(cursor.lastrowid or 0)

    def pending(self, limit: int = 100) -> list[Attestation]:
        return self._select("WHERE status = 'queued' ORDER BY seq LIMIT ?", (limit,))

    def unrequested(self, limit: int = 100) -> list[Attestation]:
        """Mined decisions whose validator has not been asked yet."""
        return self._select("WHERE status = 'mined' AND validator != '' AND validation = '' ORDER BY seq LIMIT ?",
                            (limit,))

    def mark_validation(self, seq: int, validation: str, error: str = "") -> None:
        with self._lock:
            self._db.execute("UPDATE attestations SET validation = ?, last_error = ? WHERE seq = ?",
                             (validation, error[:500], seq))

    def validations(self) -> dict[str, int]:
        """How many journaled decisions have a validator to ask, by validation state ('' while not asked yet)."""
        with self._lock:
            return {state: int(count) for state, count in self._db.execute(
                "SELECT validation, COUNT(*) FROM attestations WHERE validator != '' GROUP BY validation")}

    def mined(self) -> list[Attestation]:
        return self._select("WHERE status = 'mined' ORDER BY seq", ())

    def all(self) -> list[Attestation]:
        return self._select("ORDER BY seq", ())

    def by_record(self, record_id: str) -> Attestation | None:
        rows = self._select("WHERE record_id = ?", (record_id,))
        return rows[0] if rows else None

    def mined_count(self, agent_id: int, before_seq: int) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM attestations WHERE agent_id = ? AND status = 'mined' "
                                        "AND seq < ?", (agent_id, before_seq)).fetchone()[0])

    def mark_mined(self, seq: int, tx_hash: str, block: int, feedback_index: int) -> None:
        with self._lock:
            self._db.execute("UPDATE attestations SET status = 'mined', tx_hash = ?, block = ?, feedback_index = ?, "
                             "attempts = attempts + 1, last_error = '', mined_ns = ? WHERE seq = ?",
                             (tx_hash, block, feedback_index, time.time_ns(), seq))

    def mark_attempt(self, seq: int, error: str, *, failed: bool) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE attestations SET attempts = attempts + 1, last_error = ?, status = ? WHERE seq = ?",
                (error[:500], "failed" if failed else "queued", seq))

    def requeue_beyond(self, agent_id: int, on_chain: int) -> int:
        """Mined rows of this agent whose feedback index the chain does not reach: back to the queue."""
        with self._lock:
            cursor = self._db.execute("UPDATE attestations SET status = 'queued', tx_hash = '', block = 0, "
                                      "feedback_index = 0, validation = '' WHERE agent_id = ? AND status = 'mined' AND "
                                      "feedback_index > ?", (agent_id, on_chain))
            return int(cursor.rowcount)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {status: int(count) for status, count in
                    self._db.execute("SELECT status, COUNT(*) FROM attestations GROUP BY status")}

    def _select(self, where: str, args: tuple) -> list[Attestation]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM attestations {where}", args).fetchall()
        return [Attestation(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
