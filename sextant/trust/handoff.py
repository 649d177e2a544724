"""The engine's write-ahead file of closed decisions: what the engine hands the attestor is on disk before the
hand-off, so a dead, restarting or slow attestor loses nothing.

One JSON object a line, appended by the engine (one `write` on an O_APPEND descriptor per decision) and read by
the attestor child from the byte offset it has journaled up to (kept in its journal's meta). A line is acted on
only once it is complete (ends in a newline); a line torn by a crash mid-write is closed off with a newline when
the file is opened again, so it cannot swallow the next decision. Attesting is idempotent by record id, so a line
read twice (a child killed after journaling, before saving its offset) changes nothing.

Durability: the bytes reach the OS (the kernel's page cache) before the hand-off, which outlives the death of
either process; they are not fsync'ed on the engine thread, because an fsync there costs milliseconds against the
quote → order budget. The attestor journals each decision with SQLite synchronous=FULL within moments, so only a
power cut in that window can lose a decision.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HANDOFF_FILE = "handoff.jsonl"


class HandoffError(ValueError):
    """A line of the write-ahead file is not a decision; the message says which line and why."""


class HandoffWriter:
    """The engine's end: append a decision, durable (to the OS) when `append` returns."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        size = os.fstat(self._fd).st_size
        if size and _last_byte(path, size) != b"\n":
            os.write(self._fd, b"\n")  # close off a line torn by a crash: it must not join the next decision
        self.offset = os.fstat(self._fd).st_size

    def append(self, entry: dict[str, Any]) -> int:
        """Write one decision; returns the file's offset after it (the attestor acknowledges by offset)."""
        line = json.dumps(entry, separators=(",", ":")).encode() + b"\n"
        view = memoryview(line)
        while view:  # a regular file takes the whole write at once; a short write only on a full disk
            written = os.write(self._fd, view)
            view = view[written:]
        self.offset += len(line)
        return self.offset

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _last_byte(path: Path, size: int) -> bytes:
    with open(path, "rb") as file:
        file.seek(size - 1)
        return file.read(1)


@dataclass(frozen=True, slots=True)
class HandoffLine:
    end_offset: int  # the file offset just after this line: journaled up to here once it is attested
    entry: dict[str, Any] | None  # None: the line is not a decision (see `error`)
    error: str = ""


def read_from(path: Path, offset: int) -> list[HandoffLine]:
    """The complete lines from `offset` on (a partial last line waits for its newline). An offset beyond the
    file's end (the file was removed and begun again) reads from the start."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return []
    if offset > size:
        offset = 0
    with open(path, "rb") as file:
        file.seek(offset)
        data = file.read()
    end = data.rfind(b"\n")
    if end < 0:
        return []
    lines = []
    position = offset
    for raw in data[:end + 1].splitlines(keepends=True):
        position += len(raw)
        text = raw.strip()
        if not text:
            continue
        try:
            entry = json.loads(text)
            if not isinstance(entry, dict):
                raise HandoffError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as error:
            lines.append(HandoffLine(position, None, f"{path.name} bytes {position - len(raw)}–{position}: {error}"))
            continue
        lines.append(HandoffLine(position, entry))
    return lines
