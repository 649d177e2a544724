"""The validator process (`sextant trust validator`): an ERC-8004 validator with a key of its own, apart from the
operator (which owns the crew's identities and asks) and the evaluator (which rates the crew's decisions).

It follows the Validation Registry's `ValidationRequest` events addressed to it. For each one not answered yet it
reads the decision record the request names (its URI), checks that the record is the one asked about (its hash is
the request's) and that the agent's owner signed it, re-runs the decision on the scene the record names
(trust/validator.py), and answers with `validationResponse`: 100 reproduced or 0, tagged `reproduced` or
`not-reproduced`, with the reason as the response URI's content (a `data:` URI) and its keccak-256 as the response
hash. A request whose scene is still being recorded, and whose answer would be 0 for want of what the recorder has
not flushed yet, waits for a later poll. What it has answered is read from the chain (its own ValidationResponse
events), so a restarted validator answers each request once.
"""

from __future__ import annotations

import threading
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import keccak

from sextant.trust.chain import Chain, ChainError, chain_error
from sextant.trust.records import RecordError, read_envelope, verify_envelope
from sextant.trust.registry import NOT_REPRODUCED_TAG, REPRODUCED_TAG, Erc8004, ValidationRequested, response_uri
from sextant.trust.validator import NOT_REPRODUCED, REPRODUCED, Validation, validate

POLL_S = 1.0
MAX_RECORD_BYTES = 16 * 2**20  # far above a record's few KB; a request naming a larger file is answered 0


@dataclass(frozen=True, slots=True)
class Answer:
    request_hash: str  # 0x-hex
    agent_id: int
    request_uri: str
    response: int
    reason: str
    tx_hash: str


def local_path(uri: str) -> Path | None:
    """The file a file:// URI names; None for any other URI (the validator reads only this machine's files)."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return None
    return Path(urllib.request.url2pathname(parsed.path))


def judge(request: ValidationRequested, owner_of: Callable[[int], str]) -> Validation:
    """The answer to one request: the record it names, checked, then re-run on its scene."""
    path = local_path(request.request_uri)
    if path is None:
        return Validation(NOT_REPRODUCED, f"the request's URI {request.request_uri} is not a file:// URI of this "
                                          f"machine: its record cannot be read")
    try:  # anyone who owns an agent may ask: the URI may name anything
        if not path.is_file() or path.stat().st_size > MAX_RECORD_BYTES:
            return Validation(NOT_REPRODUCED, f"the request's URI {request.request_uri} names no record file (not "
                                              f"a regular file of at most {MAX_RECORD_BYTES:,} bytes)")
        envelope = read_envelope(path)
        verified = verify_envelope(envelope)
    except (RecordError, OSError, UnicodeDecodeError) as error:
        return Validation(NOT_REPRODUCED, f"the request's record does not verify: {error}")
    if verified.hash != "0x" + request.request_hash.hex():
        return Validation(NOT_REPRODUCED, f"the record at {request.request_uri} hashes to {verified.hash}, not the "
                                          f"request's 0x{request.request_hash.hex()}: it is not the record asked about")
    record: dict[str, Any] = envelope["record"]
    if int(record.get("agent_id", -1)) != request.agent_id:
        return Validation(NOT_REPRODUCED, f"the record is agent {record.get('agent_id')}'s, the request agent "
                                          f"{request.agent_id}'s")
    owner = owner_of(request.agent_id)
    if verified.signer.lower() != owner.lower():
        return Validation(NOT_REPRODUCED, f"the record is signed by {verified.signer}, not by agent "
                                          f"{request.agent_id}'s owner {owner}")
    scene = local_path(str(record.get("scene") or ""))
    if scene is None:
        return Validation(NOT_REPRODUCED, f"the record names no scene recording on this machine "
                                          f"({record.get('scene') or 'none'}): its context cannot be found")
    return validate(record, scene)


class ValidatorService:
    def __init__(self, chain: Chain, registry: Erc8004) -> None:
        self.chain = chain
        self.registry = registry
        self.account = chain.operator  # the validator's own key (Chain.signer)
        self._waiting: dict[bytes, ValidationRequested] = {}  # asked, not answered yet, in the order asked
        self._next_block = 0

    def poll(self) -> list[Answer]:
        """Read the requests mined since the last poll, answer every one that can be answered now."""
        try:
            latest = int(self.chain.w3.eth.block_number)
        except Exception as error:  # an outage: the caller tries again at the next poll
            raise chain_error(error) from error
        if latest >= self._next_block:
            answered = {answer.request_hash for answer in self.registry.validation_answers(
                validator=self.account.address, from_block=self._next_block, to_block=latest)}
            for request in self.registry.validation_requests(self.account.address, self._next_block, latest):
                if request.request_hash not in answered:
                    self._waiting[request.request_hash] = request
            for request_hash in answered:
                self._waiting.pop(request_hash, None)
            self._next_block = latest + 1
        answers = []
        for request_hash, request in list(self._waiting.items()):
            try:
                validation = judge(request, self.registry.owner_of)
            except ChainError:
                raise  # the chain: try again at the next poll
            except Exception as error:  # noqa: BLE001 - a record or scene this validator cannot take apart
                validation = Validation(NOT_REPRODUCED, f"the request cannot be checked: {type(error).__name__}: "
                                                        f"{error}")
            if not validation.final:
                continue  # its scene is still being recorded: ask again at the next poll
            reason = validation.reason
            receipt = self.registry.respond_validation(
                self.account, request_hash, validation.response, response_uri(reason), keccak(reason.encode()),
                REPRODUCED_TAG if validation.response == REPRODUCED else NOT_REPRODUCED_TAG)
            del self._waiting[request_hash]
            answers.append(Answer("0x" + request_hash.hex(), request.agent_id, request.request_uri,
                                  validation.response, reason, receipt.tx_hash))
        return answers

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def run(self, stop: threading.Event, on_answer: Callable[[Answer], None],
            on_error: Callable[[ChainError], None], poll_s: float = POLL_S) -> None:
        """Poll until `stop` is set; a chain that cannot be reached is reported and tried again at the next poll."""
        while not stop.is_set():
            try:
                for answer in self.poll():
                    on_answer(answer)
            except ChainError as error:
                on_error(error)
            stop.wait(poll_s)
