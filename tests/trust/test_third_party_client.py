"""A real ERC-8004 client from PyPI, unchanged, against our registries: langchain-erc8004 (0.1.x, written for the
v2.0.0 registries on Base) registers an agent, reads it, gives feedback and reads it back on anvil, with the
addresses of our deployment as its overrides. It builds each write as a plan of unsigned transactions; the test
signs and sends them as a wallet would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from sextant.trust.chain import Chain
from sextant.trust.registry import Erc8004
from tests.trust.conftest import ANVIL_KEY, Anvil

client_module = pytest.importorskip("langchain_erc8004.client", reason="the dev extra installs langchain-erc8004")


class Deployment:
    def __init__(self, tmp_path: Path) -> None:
        self.node = Anvil(tmp_path)
        self.node.start()
        self.chain = Chain.connect(self.node.url, ANVIL_KEY)
        self.registry = Erc8004.deploy(self.chain)

    def account(self) -> LocalAccount:
        account = Account.create()
        self.chain.w3.provider.make_request("anvil_setBalance", [account.address, hex(10**20)])  # type: ignore[arg-type]
        return account

    def execute(self, plan: dict[str, Any], signer: LocalAccount) -> Any:
        """Sign and send a plan's transactions as they are; the receipt of the last."""
        w3 = self.chain.w3
        receipt = None
        for tx in plan["transactions"]:
            unsigned = {key: value for key, value in tx.items() if key != "from"}
            tx_hash = w3.eth.send_raw_transaction(signer.sign_transaction(unsigned).raw_transaction)
            receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
            assert receipt["status"] == 1
        return receipt


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    deployed = Deployment(tmp_path)
    yield deployed
    deployed.node.kill()


def test_a_pypi_client_registers_reads_rates_and_reads_the_rating(deployment: Deployment) -> None:
    from langchain_erc8004.registries import identity, reputation

    registry = deployment.registry
    assert registry.validation is not None
    client = client_module.RegistryClient(deployment.node.url, identity_registry=registry.identity.address,
                                          reputation_registry=registry.reputation.address,
                                          validation_registry=registry.validation.address)
    assert client.version_warnings == [], client.version_warnings  # it read getVersion() "2.0.0" and is content
    owner, rater = deployment.account(), deployment.account()

    plan = identity.register_agent(client, from_address=owner.address, agent_uri="https://agents.example/a.json")
    registered = identity.parse_registration_receipt(client, deployment.execute(plan, owner))
    agent_id = int(registered["agent_id"])
    assert registered["owner"] == owner.address and registered["warnings"] == []
    assert registered["agent_ref"] == f"eip155:{deployment.chain.chain_id}:{registry.identity.address}:{agent_id}"
    assert identity.get_agent_owner(client, agent_id)["owner"] == owner.address == registry.owner_of(agent_id)
    assert identity.get_agent_uri(client, agent_id)["agent_uri"] == "https://agents.example/a.json"

    with pytest.raises(reputation.SelfFeedbackError):  # the client knows the standard's rule, and our chain agrees
        reputation.give_feedback(client, agent_id, 1, 0, from_address=owner.address, tag1="pnl")
    plan = reputation.give_feedback(client, agent_id, 875, 1, from_address=rater.address, tag1="pnl", tag2="bps",
                                    feedback_uri="ipfs://record")
    deployment.execute(plan, rater)
    (entry,) = reputation.get_agent_feedback(client, agent_id, clients=[rater.address])["feedback"]
    assert (entry["client"], entry["index"], entry["value"], entry["value_decimals"], entry["tag1"], entry["tag2"],
            entry["is_revoked"]) == (rater.address, 1, 875, 1, "pnl", "bps", False)
    summary = reputation.get_feedback_summary(client, agent_id, clients=[rater.address], tag1="pnl")
    assert (summary["count"], summary["average"], summary["source"]) == (1, "87.5", "on-chain getSummary")
    assert registry.summary(agent_id, [rater.address], "pnl").average == 87.5  # and our own client reads the same
