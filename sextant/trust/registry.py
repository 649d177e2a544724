"""A client for the ERC-8004 Identity, Reputation and Validation registries: the standard's v2.0.0 reference
contracts (contracts/SOURCES.md), each behind an ERC-1967 proxy as the reference deploys them."""

from __future__ import annotations

import urllib.parse
from dataclasses import astuple, dataclass
from typing import TYPE_CHECKING, Any, cast

from eth_account.signers.local import LocalAccount
from web3.contract.contract import Contract, ContractFunction
from web3.logs import EventLogErrorFlags

if TYPE_CHECKING:
    from eth_typing import ChecksumAddress

from sextant.trust.build import load_artifact
from sextant.trust.chain import Chain, ChainError, Receipt, chain_error

# Fixed gas limits with headroom over what these calls use (register ~210k with a short URI and ~640 more a byte of
# URI, giveFeedback 183k-265k with short tags); a fixed limit spares py-evm's slow estimate.
GAS_REGISTER = 400_000
GAS_PER_URI_BYTE = 800
GAS_FEEDBACK = 450_000
GAS_SMALL = 150_000
GAS_DEPLOY = 6_000_000  # the Identity Registry's implementation is the largest: 14.7 KB of init code
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
# the tags a Sextant validator answers with (trust/validator.py), so that getSummary can count either
REPRODUCED_TAG, NOT_REPRODUCED_TAG = "reproduced", "not-reproduced"


REASON_URI_PREFIX = "data:text/plain;charset=utf-8,"


def response_uri(reason: str) -> str:
    """Where a validation response's reasons are: the text itself, as a data: URI (RFC 2397)."""
    return REASON_URI_PREFIX + urllib.parse.quote(reason, safe="")


def reason_of(uri: str) -> str:
    """The reason text of a response URI written by `response_uri`; any other URI as it is."""
    return urllib.parse.unquote(uri.removeprefix(REASON_URI_PREFIX)) if uri.startswith(REASON_URI_PREFIX) else uri


@dataclass(frozen=True, slots=True)
class Summary:
    count: int
    value: int
    decimals: int

    @property
    def average(self) -> float:
        return self.value / 10**self.decimals if self.count else 0.0


@dataclass(frozen=True, slots=True)
class Feedback:
    """giveFeedback's arguments, in its order."""
    agent_id: int
    value: int
    decimals: int
    tag1: str
    tag2: str
    endpoint: str
    feedback_uri: str
    feedback_hash: bytes


@dataclass(frozen=True, slots=True)
class ValidationAsked:
    """validationRequest's arguments, in its order."""
    validator: str
    agent_id: int
    request_uri: str
    request_hash: bytes


@dataclass(frozen=True, slots=True)
class FeedbackSent:
    receipt: Receipt
    index: int  # its 1-based index for this evaluator; 0 if it reverted
    reverted: str  # why it reverted; empty if it did not


@dataclass(frozen=True, slots=True)
class ValidationStatus:
    validator: str
    agent_id: int
    response: int  # 0..100; 0 also while no response has come
    response_hash: bytes
    tag: str
    last_update: int  # block time of the response; 0 before it


@dataclass(frozen=True, slots=True)
class ValidationRequested:
    """A ValidationRequest event: who is asked, about which agent, and where the request's content is."""
    validator: str
    agent_id: int
    request_uri: str
    request_hash: bytes
    block_number: int


@dataclass(frozen=True, slots=True)
class ValidationAnswered:
    """A ValidationResponse event: the answer, and where its reasons are."""
    validator: str
    agent_id: int
    request_hash: bytes
    response: int
    response_uri: str
    response_hash: bytes
    tag: str
    block_number: int


class Erc8004:
    def __init__(self, chain: Chain, identity_address: str, reputation_address: str | None,
                 validation_address: str | None = None) -> None:
        self.chain = chain
        self.identity = _contract(chain, "IdentityRegistry", identity_address)
        self._reputation = _contract(chain, "ReputationRegistry", reputation_address) if reputation_address else None
        self.validation = _contract(chain, "ValidationRegistry", validation_address) if validation_address else None

    @classmethod
    def of_validation(cls, chain: Chain, validation_address: str) -> Erc8004:
        """A validator's view: the Validation Registry at that address and the Identity Registry it names."""
        validation = _contract(chain, "ValidationRegistry", validation_address)
        return cls(chain, str(_read(validation.functions.getIdentityRegistry())), None, validation_address)

    @property
    def reputation(self) -> Contract:
        if self._reputation is None:
            raise ChainError("no Reputation Registry in this view of the registries", retryable=False)
        return self._reputation

    @classmethod
    def deploy(cls, chain: Chain) -> Erc8004:
        """The three registries as the reference deploys them: each an ERC-1967 proxy started on the bootstrap
        implementation (owned by the operator), then upgraded to its registry with the registry's `initialize`."""
        bootstrap = load_artifact("RegistryBootstrap")
        bootstrap_address = chain.deploy(chain.operator, bootstrap["abi"], bootstrap["bytecode"], gas=GAS_DEPLOY)
        identity = _proxied(chain, bootstrap_address, "IdentityRegistry", ZERO_ADDRESS)
        reputation = _proxied(chain, bootstrap_address, "ReputationRegistry", identity, identity)
        validation = _proxied(chain, bootstrap_address, "ValidationRegistry", identity, identity)
        return cls(chain, identity, reputation, validation)

    def register(self, owner: LocalAccount, agent_uri: str) -> int:
        gas = GAS_REGISTER + GAS_PER_URI_BYTE * len(agent_uri.encode())
        receipt = self.chain.transact(owner, self.identity.functions.register(agent_uri), gas)
        events = self.identity.events.Registered().process_receipt(_as_receipt(receipt), errors=_DISCARD)
        return int(events[0]["args"]["agentId"])

    def give_feedback(self, evaluator: LocalAccount, agent_id: int, value: int, decimals: int, tag1: str, tag2: str,
                      endpoint: str, feedback_uri: str, feedback_hash: bytes) -> tuple[Receipt, int]:
        """Returns the receipt and the feedback's 1-based index for this evaluator."""
        call = self.reputation.functions.giveFeedback(agent_id, value, decimals, tag1, tag2, endpoint, feedback_uri,
                                                      feedback_hash)
        receipt = self.chain.transact(evaluator, call, GAS_FEEDBACK)
        return receipt, self._feedback_index(receipt)

    def _feedback_index(self, receipt: Receipt) -> int:
        """The 1-based index of the feedback a mined giveFeedback gave, from its NewFeedback event."""
        events = self.reputation.events.NewFeedback().process_receipt(_as_receipt(receipt), errors=_DISCARD)
        return int(events[0]["args"]["feedbackIndex"])

    def give_feedback_many(self, evaluator: LocalAccount, feedback: list[Feedback]
                           ) -> tuple[list[FeedbackSent], ChainError | None]:
        """Several feedbacks at once (Chain.transact_many): what was sent, in order, each with its receipt and
        its 1-based index, or the reason it reverted; and the node's refusal of the first one not sent."""
        calls = [(self.reputation.functions.giveFeedback(*astuple(each)), GAS_FEEDBACK) for each in feedback]
        sent, refused = self._send_many(evaluator, calls)
        return [FeedbackSent(receipt, 0, reverted) if reverted else FeedbackSent(receipt,
                                                                                 self._feedback_index(receipt), "")
                for receipt, reverted in sent], refused

    def request_validation_many(self, owner: LocalAccount, requests: list[ValidationAsked]
                                ) -> tuple[list[str], ChainError | None]:
        """Several validation requests at once: for each sent, in order, the reason it reverted (empty if it did
        not); and the node's refusal of the first one not sent."""
        calls = [(self._validation().functions.validationRequest(*astuple(each)),
                  _validation_gas(each.request_uri)) for each in requests]
        sent, refused = self._send_many(owner, calls)
        return [reverted for _, reverted in sent], refused

    def _send_many(self, sender: LocalAccount, calls: list[tuple[ContractFunction, int]]
                   ) -> tuple[list[tuple[Receipt, str]], ChainError | None]:
        receipts, refused = self.chain.transact_many(sender, calls)
        sent = []
        for receipt, (call, _) in zip(receipts, calls, strict=False):
            reverted = ""
            if receipt.reverted:
                try:  # the reason, as the call gives it now (the state has moved on since)
                    call.call({"from": sender.address})
                    reverted = "reverted on chain; it passes when run again now"
                except Exception as error:  # noqa: BLE001 - the reason is the error's text
                    reverted = f"reverted on chain: {chain_error(error)}"
            sent.append((receipt, reverted))
        return sent, refused

    def summary(self, agent_id: int, clients: list[str], tag1: str = "", tag2: str = "") -> Summary:
        count, value, decimals = _read(self.reputation.functions.getSummary(agent_id, clients, tag1, tag2))
        return Summary(int(count), int(value), int(decimals))

    def last_index(self, agent_id: int, client: str) -> int:
        return int(_read(self.reputation.functions.getLastIndex(agent_id, client)))

    def owner_of(self, agent_id: int) -> str:
        return str(_read(self.identity.functions.ownerOf(agent_id)))

    # ------------------------------------------------------------------------------------------- validation

    def request_validation(self, owner: LocalAccount, validator: str, agent_id: int, request_uri: str,
                           request_hash: bytes) -> Receipt:
        """Ask `validator` to check a decision of `agent_id` (the record at `request_uri`, hashing to
        `request_hash`). Only the agent's owner or operator may ask."""
        call = self._validation().functions.validationRequest(validator, agent_id, request_uri, request_hash)
        return self.chain.transact(owner, call, _validation_gas(request_uri))

    def respond_validation(self, validator: LocalAccount, request_hash: bytes, response: int, response_uri: str,
                           response_hash: bytes, tag: str) -> Receipt:
        """The validator's answer: 0..100 (100 reproduced), with where its reasons are and their hash."""
        call = self._validation().functions.validationResponse(request_hash, response, response_uri, response_hash,
                                                               tag)
        return self.chain.transact(validator, call, _validation_gas(response_uri))

    def validation_requested(self, request_hash: bytes) -> bool:
        """Whether a validation was asked for under this hash (the registry refuses a second request with it)."""
        try:
            self.validation_status(request_hash)
        except ChainError as error:
            if error.retryable or "unknown" not in str(error):
                raise
            return False
        return True

    def validation_summary(self, agent_id: int, validators: list[str], tag: str = "") -> tuple[int, int]:
        """How many of the agent's validations these validators answered (with `tag`, if given), and their mean
        response (0..100, rounded down as the registry does)."""
        count, average = _read(self._validation().functions.getSummary(agent_id, validators, tag))
        return int(count), int(average)

    def validation_status(self, request_hash: bytes) -> ValidationStatus:
        validator, agent_id, response, response_hash, tag, updated = _read(
            self._validation().functions.getValidationStatus(request_hash))
        return ValidationStatus(str(validator), int(agent_id), int(response), bytes(response_hash), str(tag),
                                int(updated))

    def validation_requests(self, validator: str, from_block: int, to_block: int) -> list[ValidationRequested]:
        """The requests addressed to `validator` in these blocks, in chain order."""
        try:
            logs = self._validation().events.ValidationRequest().get_logs(
                argument_filters={"validatorAddress": validator}, from_block=from_block, to_block=to_block)
        except Exception as error:
            raise chain_error(error) from error
        return [ValidationRequested(str(log["args"]["validatorAddress"]), int(log["args"]["agentId"]),
                                    str(log["args"]["requestURI"]), bytes(log["args"]["requestHash"]),
                                    int(log["blockNumber"])) for log in logs]

    def validation_answers(self, *, validator: str | None = None, request_hash: bytes | None = None,
                           from_block: int = 0, to_block: int | str = "latest") -> list[ValidationAnswered]:
        """ValidationResponse events, by one validator or about one request, in chain order."""
        filters: dict[str, Any] = {}
        if validator is not None:
            filters["validatorAddress"] = validator
        if request_hash is not None:
            filters["requestHash"] = request_hash
        try:
            logs = self._validation().events.ValidationResponse().get_logs(
                argument_filters=filters, from_block=from_block, to_block=to_block)
        except Exception as error:
            raise chain_error(error) from error
        return [ValidationAnswered(str(log["args"]["validatorAddress"]), int(log["args"]["agentId"]),
                                   bytes(log["args"]["requestHash"]), int(log["args"]["response"]),
                                   str(log["args"]["responseURI"]), bytes(log["args"]["responseHash"]),
                                   str(log["args"]["tag"]), int(log["blockNumber"])) for log in logs]

    def _validation(self) -> Contract:
        if self.validation is None:
            raise ChainError("no Validation Registry in this deployment", retryable=False)
        return self.validation


def _validation_gas(uri: str) -> int:
    """A validation request's or response's gas limit: its strings are stored, so it grows with the URI."""
    return GAS_FEEDBACK + GAS_PER_URI_BYTE * len(uri.encode())


def _contract(chain: Chain, name: str, address: str) -> Contract:
    # web3 checks the address at run time; its types want a ChecksumAddress
    return chain.w3.eth.contract(address=cast("ChecksumAddress", address), abi=load_artifact(name)["abi"])


def _proxied(chain: Chain, bootstrap_address: str, name: str, slot0: str, *initialize: object) -> str:
    """Deploy `name`'s implementation and a proxy to it, initialised as the reference's deployment does."""
    bootstrap, proxy, registry = (load_artifact(n) for n in ("RegistryBootstrap", "ERC1967Proxy", name))
    w3 = chain.w3
    implementation = chain.deploy(chain.operator, registry["abi"], registry["bytecode"], gas=GAS_DEPLOY)
    start = w3.eth.contract(abi=bootstrap["abi"]).encode_abi("initialize", [slot0])
    address = chain.deploy(chain.operator, proxy["abi"], proxy["bytecode"], bootstrap_address, start, gas=GAS_DEPLOY)
    upgrade = w3.eth.contract(address=cast("ChecksumAddress", address), abi=bootstrap["abi"])
    setup = w3.eth.contract(abi=registry["abi"]).encode_abi("initialize", list(initialize))
    chain.transact(chain.operator, upgrade.functions.upgradeToAndCall(implementation, setup), GAS_DEPLOY)
    return address


_DISCARD = EventLogErrorFlags.Discard  # other events in the same receipt (Transfer, MetadataSet) are not errors


def _read(call: ContractFunction) -> Any:
    try:
        return call.call()
    except Exception as error:
        raise chain_error(error) from error


def _as_receipt(receipt: Receipt) -> dict:
    return {"logs": receipt.logs}
