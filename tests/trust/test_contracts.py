"""The registries: our Vyper sources, their committed artifacts, and the ERC-8004 v2.0.0 interface."""

from __future__ import annotations

import pytest

from sextant.trust.build import CONTRACTS, compile_contract, load_artifact, source_sha256

# The v2.0.0 (Jan 2026) function and event signatures (docs/trust.md#the-registries).
ERC8004_IDENTITY = {
    "register()", "register(string)", "register(string,(string,bytes)[])", "setAgentURI(uint256,string)",
    "getMetadata(uint256,string)", "setMetadata(uint256,string,bytes)", "getAgentWallet(uint256)",
    "unsetAgentWallet(uint256)", "ownerOf(uint256)", "tokenURI(uint256)", "approve(address,uint256)",
    "setApprovalForAll(address,bool)", "transferFrom(address,address,uint256)", "balanceOf(address)",
    "getApproved(uint256)", "isApprovedForAll(address,address)", "getVersion()", "isAuthorizedOrOwner(address,uint256)",
}
ERC8004_IDENTITY_EVENTS = {"Registered(uint256,string,address)", "URIUpdated(uint256,string,address)",
                           "MetadataSet(uint256,string,string,bytes)", "Transfer(address,address,uint256)"}
ERC8004_REPUTATION = {
    "giveFeedback(uint256,int128,uint8,string,string,string,string,bytes32)", "revokeFeedback(uint256,uint64)",
    "getSummary(uint256,address[],string,string)", "readFeedback(uint256,address,uint64)", "getClients(uint256)",
    "getLastIndex(uint256,address)", "getIdentityRegistry()", "getVersion()",
}
ERC8004_REPUTATION_EVENTS = {
    "NewFeedback(uint256,address,uint64,int128,uint8,string,string,string,string,string,bytes32)",
    "FeedbackRevoked(uint256,address,uint64)",
}


def _signature(entry: dict) -> str:
    def kind(item: dict) -> str:
        if item["type"].startswith("tuple"):
            return "(" + ",".join(kind(c) for c in item["components"]) + ")" + item["type"][5:]
        return item["type"]

    return f"{entry['name']}({','.join(kind(i) for i in entry['inputs'])})"


@pytest.mark.parametrize(("name", "functions", "events"), [
    ("IdentityRegistry", ERC8004_IDENTITY, ERC8004_IDENTITY_EVENTS),
    ("ReputationRegistry", ERC8004_REPUTATION, ERC8004_REPUTATION_EVENTS),
])
def test_the_abi_has_every_erc8004_v2_signature(name: str, functions: set[str], events: set[str]) -> None:
    abi = load_artifact(name)["abi"]
    assert functions <= {_signature(e) for e in abi if e["type"] == "function"}
    assert events <= {_signature(e) for e in abi if e["type"] == "event"}


@pytest.mark.parametrize("name", CONTRACTS)
def test_committed_artifacts_match_the_sources(name: str) -> None:
    artifact = load_artifact(name)
    assert artifact["sourceSha256"] == source_sha256(name), f"{name}.vy changed: run `make contracts`"
    pytest.importorskip("vyper", reason="the compiler is a dev dependency")
    assert compile_contract(name) == artifact
