"""A client for the ERC-8004 Identity and Reputation registries, written against the standard's ABI (the
artifacts in contracts/build carry exactly the v2.0.0 signatures)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from eth_account.signers.local import LocalAccount
from web3.contract.contract import ContractFunction
from web3.logs import EventLogErrorFlags

if TYPE_CHECKING:
    from eth_typing import ChecksumAddress

from sextant.trust.build import load_artifact
from sextant.trust.chain import Chain, Receipt, chain_error

# Fixed gas limits with headroom over what these calls use (register ~210k, giveFeedback 183k-265k).
GAS_REGISTER = 400_000
GAS_FEEDBACK = 450_000
GAS_SMALL = 150_000


@dataclass(frozen=True, slots=True)
class Summary:
    count: int
    value: int
    decimals: int

    @property
    def average(self) -> float:
        return self.value / 10**self.decimals if self.count else 0.0


class Erc8004:
    def __init__(self, chain: Chain, identity_address: str, reputation_address: str) -> None:
        self.chain = chain
        # web3 checks the addresses at run time; its types want them as ChecksumAddress
        self.identity = chain.w3.eth.contract(address=cast("ChecksumAddress", identity_address),
                                              abi=load_artifact("IdentityRegistry")["abi"])
        self.reputation = chain.w3.eth.contract(address=cast("ChecksumAddress", reputation_address),
                                                abi=load_artifact("ReputationRegistry")["abi"])

    @classmethod
    def deploy(cls, chain: Chain) -> Erc8004:
        identity, reputation = load_artifact("IdentityRegistry"), load_artifact("ReputationRegistry")
        identity_address = chain.deploy(chain.operator, identity["abi"], identity["bytecode"])
        reputation_address = chain.deploy(chain.operator, reputation["abi"], reputation["bytecode"], identity_address)
        return cls(chain, identity_address, reputation_address)

    def register(self, owner: LocalAccount, agent_uri: str) -> int:
        receipt = self.chain.transact(owner, self.identity.functions.register(agent_uri), GAS_REGISTER)
        events = self.identity.events.Registered().process_receipt(_as_receipt(receipt), errors=_DISCARD)
        return int(events[0]["args"]["agentId"])

    def give_feedback(self, evaluator: LocalAccount, agent_id: int, value: int, decimals: int, tag1: str, tag2: str,
                      endpoint: str, feedback_uri: str, feedback_hash: bytes) -> tuple[Receipt, int]:
        """Returns the receipt and the feedback's 1-based index for this evaluator."""
        call = self.reputation.functions.giveFeedback(agent_id, value, decimals, tag1, tag2, endpoint, feedback_uri,
                                                      feedback_hash)
        receipt = self.chain.transact(evaluator, call, GAS_FEEDBACK)
        events = self.reputation.events.NewFeedback().process_receipt(_as_receipt(receipt), errors=_DISCARD)
        return receipt, int(events[0]["args"]["feedbackIndex"])

    def summary(self, agent_id: int, clients: list[str], tag1: str = "", tag2: str = "") -> Summary:
        count, value, decimals = _read(self.reputation.functions.getSummary(agent_id, clients, tag1, tag2))
        return Summary(int(count), int(value), int(decimals))

    def last_index(self, agent_id: int, client: str) -> int:
        return int(_read(self.reputation.functions.getLastIndex(agent_id, client)))

    def owner_of(self, agent_id: int) -> str:
        return str(_read(self.identity.functions.ownerOf(agent_id)))


_DISCARD = EventLogErrorFlags.Discard  # other events in the same receipt (Transfer, MetadataSet) are not errors


def _read(call: ContractFunction) -> Any:
    try:
        return call.call()
    except Exception as error:
        raise chain_error(error) from error


def _as_receipt(receipt: Receipt) -> dict:
    return {"logs": receipt.logs}
