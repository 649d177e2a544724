"""The attestor child process: an Attestor with its worker thread, fed from the engine's write-ahead file.

It reads the decisions the engine appended (from the offset its journal holds), journals each one (idempotent by
record id), saves the new offset, and tells the engine how far it got; events and scores go back over the same
pipe. It stops when the engine says so or when the engine is gone (the pipe reaches end of file).
"""

from __future__ import annotations

import os
import signal
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sextant.state import messages
from sextant.trust.attestor import Attestor
from sextant.trust.chain import Chain
from sextant.trust.handoff import HANDOFF_FILE, HandoffLine, read_from

OFFSET_KEY = "handoff_offset"  # journal meta: the write-ahead file is journaled up to this byte
POLL_S = 0.05  # how often the file is checked for new decisions, and the pipe for "stop"
STOP_FLUSH_S = 0.5  # at a stop, how long the worker may go on mining; what is left is mined at the next start


def run_child(directory: str, rpc_url: str, key: str, seed: int, agents: list[str], validator: str,
              conn: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops us in order
    # Attestation can wait a millisecond and a quote cannot, so the engine gets the CPU first; but not 19: beside
    # other busy processes on a small machine, nice 19 starves the child until its backlog never drains.
    os.nice(10)
    send_lock = threading.Lock()  # the worker thread publishes too

    def send(message: tuple[Any, ...]) -> None:
        try:
            with send_lock:
                conn.send(message)
        except OSError:
            pass  # the engine is gone; the main loop sees the pipe's end and stops

    journaled = [0]

    def publish(event: messages.Event) -> None:
        send(("event", event))
        if isinstance(event, messages.AttestationMined):
            send(("journaled", (journaled[0], attestor.journal.counts().get("queued", 0))))

    try:
        attestor = Attestor(Path(directory), lambda: Chain.connect(rpc_url, key, seed=seed), publish=publish,
                            on_reputation=lambda scores: send(("scores", scores)), validator=validator,
                            on_validated=lambda validated: send(("validated", validated)))
        ids = attestor.setup(agents)
        journaled[0] = int(attestor.journal.get_meta(OFFSET_KEY) or 0)
        send(("ready", (ids, attestor.scores(), attestor.journal.get_meta("endpoint") or "", journaled[0],
                        attestor.journal.counts().get("queued", 0))))
    except Exception as error:  # noqa: BLE001 - reported to the parent, which fails with the message
        send(("error", f"{type(error).__name__}: {error}"))
        return
    attestor.start()
    handoff = Path(directory) / HANDOFF_FILE
    while True:
        lines = read_from(handoff, journaled[0])
        for line in lines:
            _attest(attestor, line, send)
        if lines:
            attestor.journal.set_meta(OFFSET_KEY, str(lines[-1].end_offset))
            journaled[0] = lines[-1].end_offset
            send(("journaled", (journaled[0], attestor.journal.counts().get("queued", 0))))
        try:
            if conn.poll(POLL_S) and conn.recv()[0] == "stop":
                break
        except (EOFError, OSError):
            break  # the engine died (a crash, SIGKILL): go, never linger; the journal keeps the rest
    attestor.flush(STOP_FLUSH_S)
    attestor.close()


def attest_handoff(directory: Path, rpc_url: str, key: str, seed: int, agents: list[str], validator: str,
                   timeout_s: float = 600.0) -> dict[str, int]:
    """In this process, what the child does over a whole session at once (`sextant sim --attest`, after the run):
    journal every decision of the write-ahead file, put each on chain, ask the validator of each rule agent's.
    Returns the journal's counts: mined and failed attestations, and `validation_requested`."""
    attestor = Attestor(directory, lambda: Chain.connect(rpc_url, key, seed=seed), validator=validator)
    try:
        attestor.setup(agents)
        refused: list[str] = []
        lines = read_from(directory / HANDOFF_FILE, int(attestor.journal.get_meta(OFFSET_KEY) or 0))
        for line in lines:
            _attest(attestor, line, lambda message: refused.append(message[1].reason))
        if lines:
            attestor.journal.set_meta(OFFSET_KEY, str(lines[-1].end_offset))
        attestor.start()
        if not attestor.flush(timeout_s):
            raise TimeoutError(f"attesting took over {timeout_s:g} s: {attestor.last_error or 'the chain is slow'}; "
                               f"the journal in {directory} holds the rest for the next start")
        if refused:
            raise ValueError(f"{len(refused)} decisions could not be attested: {refused[0]}")
        counts = {"mined": 0, "failed": 0} | attestor.journal.counts()
        counts.update({f"validation_{state}": count for state, count in attestor.journal.validations().items()
                       if state})
        return counts
    finally:
        attestor.close()


def _attest(attestor: Attestor, line: HandoffLine, send: Any) -> None:
    """Journal one decision; one that cannot be attested is reported and skipped (it stays in the file)."""
    try:
        if line.entry is None:
            raise ValueError(line.error)
        entry = line.entry
        if entry.get("kind") == "answer":
            attestor.attest_answer(entry["agent"], entry["answer"], instrument=entry["instrument"],
                                   strategy=entry["strategy"])
            return
        decision = entry.get("decision") or {}
        attestor.attest(entry["agent"], entry["outcome"], instrument=entry["instrument"], strategy=entry["strategy"],
                        context_hash=decision.get("context_hash", ""), intent=decision.get("intent"),
                        orders=decision.get("orders"), fills=decision.get("fills"),
                        deciding_agent=decision.get("deciding_agent"), scene=entry.get("scene", ""))
    except (KeyError, TypeError, ValueError) as error:
        send(("event", messages.CommandResult(command_id="", command="attest", applied=False,
                                              reason=f"{type(error).__name__}: {error}")))
