"""Our deployed registries through the standard's own published ABIs (tests/fixtures/erc8004), as a third-party
client calls them: every function of the three registries is called and every event they emit is decoded, with
the standard's semantics (ERC-721 safe transfers and their receiver check, ERC-4906, EIP-712 setAgentWallet with its
deadline, responses to feedback, validation requests and responses), and a refusal decodes as the standard's error."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi import decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.exceptions import ContractCustomError, ContractLogicError

from sextant.trust.chain import Chain
from sextant.trust.registry import Erc8004
from tests.trust.conftest import ANVIL_KEY, Anvil
from tests.trust.test_contracts import REGISTRIES, published_abi, signature

GAS = 6_000_000
ZERO = "0x0000000000000000000000000000000000000000"
# In the ABI through OpenZeppelin's interfaces, never emitted by the reference: BatchMetadataUpdate (ERC-4906, for
# ranges of tokens; the registry updates one at a time) and EIP712DomainChanged (ERC-5267, the domain never changes).
NEVER_EMITTED = {"event BatchMetadataUpdate(uint256,uint256)", "event EIP712DomainChanged()"}


class Standard:
    """The three registries at our proxies' addresses, each with the published ABI, and which of its functions were
    called."""

    def __init__(self, chain: Chain, registry: Erc8004) -> None:
        assert registry.validation is not None
        self.chain = chain
        self.contracts = {name: chain.w3.eth.contract(address=contract.address, abi=published_abi(name))
                          for name, contract in (("IdentityRegistry", registry.identity),
                                                 ("ReputationRegistry", registry.reputation),
                                                 ("ValidationRegistry", registry.validation))}
        self.called: dict[str, set[str]] = {name: set() for name in REGISTRIES}
        self.receipts: list[Any] = []

    def fn(self, name: str, function: str, *args: object) -> Any:
        self.called[name].add(f"function {function}")
        return self.contracts[name].get_function_by_signature(function)(*args)

    def read(self, name: str, function: str, *args: object) -> Any:
        return self.fn(name, function, *args).call()

    def send(self, sender: LocalAccount, name: str, function: str, *args: object) -> Any:
        receipt = self.chain.transact(sender, self.fn(name, function, *args), GAS)
        self.receipts.append(receipt)
        return receipt

    def refusal(self, sender: LocalAccount | None, name: str, function: str, *args: object) -> str:
        """The revert a call gets, decoded by the standard's ABI: an error's name, or Error(string)'s message."""
        call = self.fn(name, function, *args)
        try:
            call.call({"from": sender.address} if sender is not None else {})
        except Exception as error:  # noqa: BLE001 - each provider raises its own type; the revert data is what counts
            data = revert_data(error)
        else:
            raise AssertionError(f"{function} did not revert")
        if isinstance(data, str):
            return data
        if data[:4] == ERROR_STRING:
            return str(decode(["string"], data[4:])[0])
        for entry in self.contracts[name].abi:
            if entry["type"] == "error" and data[:4] == self.chain.w3.keccak(
                    text=signature(entry).removeprefix("error "))[:4]:
                return str(entry["name"])
        raise AssertionError(f"{function} reverted with an error the standard's ABI does not know: {data.hex()}")

    def events(self, name: str) -> list[tuple[str, dict]]:
        """Every log the registry's proxy ever emitted, decoded by the published ABI: (event signature, args)."""
        contract = self.contracts[name]
        topics = {self.chain.w3.keccak(text=signature(e).removeprefix("event ")): e for e in contract.abi
                  if e["type"] == "event"}
        logs = self.chain.w3.eth.get_logs({"address": contract.address, "fromBlock": 0, "toBlock": "latest"})
        decoded = []
        for log in logs:
            entry = topics.get(bytes(log["topics"][0]))
            assert entry is not None, f"{name} emitted a log the standard's ABI does not know: {log}"
            event = contract.events[entry["name"]]().process_log(log)
            decoded.append((signature(entry), dict(event["args"])))
        return decoded


ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)


def revert_data(error: Exception) -> bytes | str:
    """The revert's data from web3 over RPC (a custom error's bytes, or the reason) or from py-evm's tester (the
    raw bytes in its message)."""
    if isinstance(error, ContractCustomError):
        return bytes.fromhex(str(error.data).removeprefix("0x"))
    if isinstance(error, ContractLogicError) and error.message:
        return str(error.message).removeprefix("execution reverted: ")
    text = str(error).split("execution reverted: ", 1)[-1]
    if text.startswith(("b'", 'b"')):
        value = ast.literal_eval(text)
        return value if isinstance(value, bytes) else str(value)
    return text


def funded(chain: Chain) -> LocalAccount:
    account = Account.create()
    chain.fund(account.address, 10**20, minimum=10**19)
    return account


@pytest.fixture(params=["embedded", "anvil"])
def standard(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Standard]:
    """On the embedded py-evm chain, and over RPC on anvil (whose reverts reach web3 as the standard's errors)."""
    if request.param == "embedded":
        chain = Chain.embedded_chain(seed=8004)
        yield Standard(chain, Erc8004.deploy(chain))
        return
    node = Anvil(tmp_path)
    node.start()
    try:
        chain = Chain.connect(node.url, ANVIL_KEY)
        yield Standard(chain, Erc8004.deploy(chain))
    finally:
        node.kill()


def registered_id(standard: Standard, receipt: Any) -> int:
    contract = standard.contracts["IdentityRegistry"]
    (event,) = contract.events.Registered().process_receipt({"logs": receipt.logs}, errors=_discard())
    return int(event["args"]["agentId"])


def _discard() -> Any:
    from web3.logs import EventLogErrorFlags

    return EventLogErrorFlags.Discard


def test_every_function_and_event_of_the_three_registries_through_the_published_abi(standard: Standard) -> None:
    s, chain = standard, standard.chain
    operator = chain.operator
    alice, bob, carol, wallet, validator = (funded(chain) for _ in range(5))
    ID, REP, VAL = REGISTRIES

    # --- Identity: ERC-721 with URIs, metadata, the agent wallet, ERC-4906, ERC-5267, UUPS, Ownable
    assert s.read(ID, "getVersion()") == "2.0.0"
    assert (s.read(ID, "name()"), s.read(ID, "symbol()")) == ("AgentIdentity", "AGENT")
    assert s.read(ID, "UPGRADE_INTERFACE_VERSION()") == "5.0.0" and s.read(ID, "owner()") == operator.address
    assert s.refusal(None, ID, "proxiableUUID()") == "UUPSUnauthorizedCallContext"  # only the implementation answers
    assert all(s.read(ID, "supportsInterface(bytes4)", bytes.fromhex(i)) for i in ("80ac58cd", "49064906", "01ffc9a7"))
    _, domain_name, version, chain_id, verifying, _, _ = s.read(ID, "eip712Domain()")
    assert (domain_name, version, chain_id, verifying) == ("ERC8004IdentityRegistry", "1", chain.chain_id,
                                                           s.contracts[ID].address)
    bare = registered_id(s, s.send(alice, ID, "register()"))
    plain = registered_id(s, s.send(alice, ID, "register(string)", "https://agents.example/plain.json"))
    on_chain_file = "data:application/json;base64," + "QUJD" * 1_024  # a 4 KB registration file on chain
    rich = registered_id(s, s.send(alice, ID, "register(string,(string,bytes)[])", on_chain_file,
                                   [("role", b"trader"), ("desk", b"x" * 2_000)]))
    assert [bare, plain, rich] == [0, 1, 2]  # the reference counts from 0
    assert s.read(ID, "ownerOf(uint256)", rich) == alice.address
    assert s.read(ID, "balanceOf(address)", alice.address) == 3
    assert s.read(ID, "tokenURI(uint256)", rich) == on_chain_file
    assert s.read(ID, "getMetadata(uint256,string)", rich, "desk") == b"x" * 2_000
    s.send(alice, ID, "setMetadata(uint256,string,bytes)", plain, "endpoint", b"wss://agents.example")
    assert "reserved key" in s.refusal(alice, ID, "setMetadata(uint256,string,bytes)", plain, "agentWallet", b"")
    s.send(alice, ID, "setAgentURI(uint256,string)", plain, "ipfs://bafy-new")
    assert s.read(ID, "tokenURI(uint256)", plain) == "ipfs://bafy-new"

    # the agent wallet: the owner's at registration, another only with that wallet's EIP-712 proof, before its deadline
    assert s.read(ID, "getAgentWallet(uint256)", plain) == alice.address
    deadline = chain.w3.eth.get_block("latest")["timestamp"] + 120
    typed = {"types": {"AgentWalletSet": [{"name": "agentId", "type": "uint256"},
                                          {"name": "newWallet", "type": "address"},
                                          {"name": "owner", "type": "address"},
                                          {"name": "deadline", "type": "uint256"}]},
             "primaryType": "AgentWalletSet",
             "domain": {"name": domain_name, "version": version, "chainId": chain_id, "verifyingContract": verifying},
             "message": {"agentId": plain, "newWallet": wallet.address, "owner": alice.address, "deadline": deadline}}
    proof = wallet.sign_typed_data(full_message=typed).signature
    forged = alice.sign_typed_data(full_message=typed).signature
    assert "invalid wallet sig" in s.refusal(alice, ID, "setAgentWallet(uint256,address,uint256,bytes)", plain,
                                             wallet.address, deadline, forged)
    assert "expired" in s.refusal(alice, ID, "setAgentWallet(uint256,address,uint256,bytes)", plain, wallet.address,
                                  1, proof)
    s.send(alice, ID, "setAgentWallet(uint256,address,uint256,bytes)", plain, wallet.address, deadline, proof)
    assert s.read(ID, "getAgentWallet(uint256)", plain) == wallet.address
    s.send(alice, ID, "unsetAgentWallet(uint256)", plain)
    assert s.read(ID, "getAgentWallet(uint256)", plain) == ZERO

    # approvals and the three transfers; a safe transfer to a contract that is no ERC-721 receiver is refused
    s.send(alice, ID, "approve(address,uint256)", bob.address, bare)
    assert s.read(ID, "getApproved(uint256)", bare) == bob.address
    s.send(alice, ID, "setApprovalForAll(address,bool)", carol.address, True)
    assert s.read(ID, "isApprovedForAll(address,address)", alice.address, carol.address)
    s.send(bob, ID, "transferFrom(address,address,uint256)", alice.address, bob.address, bare)
    s.send(carol, ID, "safeTransferFrom(address,address,uint256)", alice.address, bob.address, plain)
    s.send(alice, ID, "safeTransferFrom(address,address,uint256,bytes)", alice.address, bob.address, rich, b"hi")
    assert [s.read(ID, "ownerOf(uint256)", agent) for agent in (bare, plain, rich)] == [bob.address] * 3
    not_a_receiver = s.contracts[REP].address
    assert s.refusal(bob, ID, "safeTransferFrom(address,address,uint256)", bob.address, not_a_receiver,
                     bare) == "ERC721InvalidReceiver"
    assert s.refusal(bob, ID, "ownerOf(uint256)", 99) == "ERC721NonexistentToken"

    # --- Reputation: feedback, responses, revocation, reads and the summary
    assert s.read(REP, "getVersion()") == "2.0.0" and s.read(REP, "getIdentityRegistry()") == s.contracts[ID].address
    assert s.read(REP, "UPGRADE_INTERFACE_VERSION()") == "5.0.0" and s.read(REP, "owner()") == operator.address
    assert s.refusal(None, REP, "proxiableUUID()") == "UUPSUnauthorizedCallContext"
    feedback = "(uint256,int128,uint8,string,string,string,string,bytes32)"
    assert "Self-feedback" in s.refusal(bob, REP, f"giveFeedback{feedback}", rich, 1, 0, "", "", "", "", b"\0" * 32)
    tag = "t" * 1_024  # a 1 KB tag
    s.send(carol, REP, f"giveFeedback{feedback}", rich, 95, 0, tag, "pnl", "https://x/api", "ipfs://fb1", b"\1" * 32)
    s.send(carol, REP, f"giveFeedback{feedback}", rich, -250, 2, tag, "pnl", "", "", b"\0" * 32)
    s.send(validator, REP, f"giveFeedback{feedback}", rich, 80, 0, "other", "", "", "", b"\0" * 32)
    assert s.read(REP, "getLastIndex(uint256,address)", rich, carol.address) == 2
    assert s.read(REP, "getClients(uint256)", rich) == [carol.address, validator.address]
    assert s.read(REP, "readFeedback(uint256,address,uint64)", rich, carol.address, 1) == [95, 0, tag, "pnl", False]
    s.send(bob, REP, "appendResponse(uint256,address,uint64,string,bytes32)", rich, carol.address, 1, "ipfs://re",
           b"\2" * 32)
    assert s.read(REP, "getResponseCount(uint256,address,uint64,address[])", rich, carol.address, 1, [bob.address]) == 1
    s.send(carol, REP, "revokeFeedback(uint256,uint64)", rich, 2)
    clients, indexes, values, decimals, tag1s, _, revoked = s.read(
        REP, "readAllFeedback(uint256,address[],string,string,bool)", rich, [], "", "", True)
    assert (clients, indexes, values, decimals, revoked) == (
        [carol.address, carol.address, validator.address], [1, 2, 1], [95, -250, 80], [0, 2, 0], [False, True, False])
    assert tag1s[0] == tag
    assert s.read(REP, "getSummary(uint256,address[],string,string)", rich, [carol.address, validator.address], tag,
                  "") == [1, 95, 0]  # the revoked one left out, the tag filters

    # --- Validation: a request by the agent's owner, the validator's response, the reads
    assert s.read(VAL, "getVersion()") == "2.0.0" and s.read(VAL, "getIdentityRegistry()") == s.contracts[ID].address
    assert s.read(VAL, "UPGRADE_INTERFACE_VERSION()") == "5.0.0" and s.read(VAL, "owner()") == operator.address
    assert s.refusal(None, VAL, "proxiableUUID()") == "UUPSUnauthorizedCallContext"
    request = chain.w3.keccak(text="decision record 1")
    s.send(bob, VAL, "validationRequest(address,uint256,string,bytes32)", validator.address, rich, "ipfs://record",
           request)
    respond = "validationResponse(bytes32,uint8,string,bytes32,string)"
    assert "not validator" in s.refusal(bob, VAL, respond, request, 100, "", b"\0" * 32, "")
    s.send(validator, VAL, "validationResponse(bytes32,uint8,string,bytes32,string)", request, 100, "ipfs://why",
           b"\3" * 32, "reproduced")
    status = s.read(VAL, "getValidationStatus(bytes32)", request)
    assert (status[0], status[1], status[2], status[4]) == (validator.address, rich, 100, "reproduced")
    assert s.read(VAL, "getAgentValidations(uint256)", rich) == [request]
    assert s.read(VAL, "getValidatorRequests(address)", validator.address) == [request]
    assert s.read(VAL, "getSummary(uint256,address[],string)", rich, [validator.address], "") == [1, 100]

    # --- administration, the same on all three: one initialisation, upgrades only by the owner, Ownable
    for name, initialize, args in ((ID, "initialize()", ()), (REP, "initialize(address)", (s.contracts[ID].address,)),
                                   (VAL, "initialize(address)", (s.contracts[ID].address,))):
        assert s.refusal(operator, name, initialize, *args) == "InvalidInitialization"
        assert s.refusal(bob, name, "upgradeToAndCall(address,bytes)", ZERO, b"") == "OwnableUnauthorizedAccount"
        s.send(operator, name, "transferOwnership(address)", bob.address)
        s.send(bob, name, "renounceOwnership()")
        assert s.read(name, "owner()") == ZERO

    # every function was called; every event the registries emitted decodes, and each one of the ABI was emitted
    for name in REGISTRIES:
        functions = {signature(e) for e in published_abi(name) if e["type"] == "function"}
        assert functions - s.called[name] == set(), f"{name}: not called"
        emitted = {event for event, _ in s.events(name)}
        events = {signature(e) for e in published_abi(name) if e["type"] == "event"}
        assert events - emitted == (NEVER_EMITTED & events), f"{name}: not seen"
    metadata_updates = [args for event, args in s.events(ID) if event == "event MetadataUpdate(uint256)"]
    assert {"_tokenId": plain} in metadata_updates  # ERC-4906 on setAgentURI



@pytest.mark.slow
def test_1500_distinct_clients_of_one_agent_and_200_of_them_in_one_summary(tmp_path: Path) -> None:
    """Where our own registry stopped at the 1,025th client of an agent and 64 addresses a summary, the standard
    has no bound: on anvil, 1,500 clients rate one agent (sent at once, each from its own funded key) and a summary
    reads 200 of them."""
    node = Anvil(tmp_path)
    node.start()
    try:
        chain = Chain.connect(node.url, ANVIL_KEY)
        registry = Erc8004.deploy(chain)
        agent = registry.register(chain.operator, "https://agents.example/busy.json")
        w3 = chain.w3
        clients = [Account.from_key(w3.keccak(text=f"client {n}")) for n in range(1_500)]
        for client in clients:  # anvil's own cheat code: no funding transaction per client
            w3.provider.make_request("anvil_setBalance", [client.address, hex(10**18)])  # type: ignore[arg-type]
        fees = {"maxFeePerGas": 2 * int(w3.eth.get_block("latest")["baseFeePerGas"]) + 10**9,
                "maxPriorityFeePerGas": 10**9}
        sent = []
        for client in clients:
            call = registry.reputation.functions.giveFeedback(agent, 90, 0, "pnl", "", "", "", b"\0" * 32)
            tx = call.build_transaction({"from": client.address, "nonce": 0, "gas": 400_000,
                                         "chainId": chain.chain_id, **fees})  # type: ignore[typeddict-item]
            sent.append(w3.eth.send_raw_transaction(client.sign_transaction(tx).raw_transaction))
        assert all(w3.eth.wait_for_transaction_receipt(h, timeout=120)["status"] == 1 for h in sent)
        assert len(registry.reputation.functions.getClients(agent).call()) == 1_500
        assert registry.reputation.functions.getLastIndex(agent, clients[-1].address).call() == 1
        assert registry.summary(agent, [c.address for c in clients[:200]]).count == 200
        assert registry.summary(agent, [c.address for c in clients[:200]]).average == 90.0
    finally:
        node.kill()
