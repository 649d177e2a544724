"""The EVM the trust layer writes to: an in-process py-evm chain by default, or any JSON-RPC node.

Two wallets act, as ERC-8004 requires: the **operator** owns the crew's agent identities; the **evaluator** rates
their decisions (an agent's owner may not rate it). Every transaction is signed here with local keys, with the
nonce tracked here and a fixed gas limit per call with headroom (on py-evm, `eth_estimateGas` is a binary search
that costs 4× the transaction itself; docs/trust.md#the-chain).

* Embedded (`SEXTANT_CHAIN_RPC` empty): `EthereumTesterProvider`. Its state lives in memory; the attestor's journal
  makes it durable by replaying every write into a fresh chain at start. The two keys are derived from the seed.
* RPC (`SEXTANT_CHAIN_RPC=http(s)://…`, `SEXTANT_CHAIN_KEY=0x…`): the key is the operator; the evaluator's key is
  derived from it (keccak of the key and a label) and funded by the operator when it runs dry.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3._utils.method_formatters import receipt_formatter
from web3.contract.contract import ContractFunction

if TYPE_CHECKING:
    from eth_typing import ChecksumAddress, HexStr
    from web3.types import TxParams, Wei

ETH = 10**18
# What the operator sends the evaluator when it cannot pay for FUNDED_BATCHES more batches at today's fees (a
# feedback's gas limit is 450k: at 2 gwei, 0.1 ETH is about a hundred at their limit, several hundred as mined).
EVALUATOR_FUNDING = ETH // 10
FUNDED_BATCHES = 2


class ChainError(Exception):
    """The chain refused or could not be reached. `retryable` says whether trying again later may work."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class Receipt:
    tx_hash: str
    block_number: int
    gas_used: int
    logs: list[Any]
    reverted: bool = False  # only transact_many returns a reverted call's receipt; transact raises


def derived_key(secret: bytes, label: str) -> str:
    return "0x" + keccak(secret + b"|sextant|" + label.encode()).hex()


class Chain:
    def __init__(self, w3: Web3, operator: LocalAccount, evaluator: LocalAccount, *, endpoint: str,
                 embedded: bool) -> None:
        self.w3 = w3
        self.operator = operator
        self.evaluator = evaluator
        self.endpoint = endpoint
        self.embedded = embedded
        self.chain_id = int(w3.eth.chain_id)
        self._nonces: dict[str, int] = {}

    @classmethod
    def connect(cls, rpc_url: str = "", key: str = "", *, seed: int = 42, timeout_s: float = 10.0) -> Chain:
        if not rpc_url:
            return cls.embedded_chain(seed)
        if not key:
            raise ChainError("SEXTANT_CHAIN_RPC is set but SEXTANT_CHAIN_KEY is not: the operator needs a key to sign "
                             "with. Fix: export SEXTANT_CHAIN_KEY=0x… (a funded key on that chain).", retryable=False)
        w3 = _http_web3(rpc_url, timeout_s)
        operator = Account.from_key(key)
        evaluator = Account.from_key(derived_key(bytes(operator.key), "evaluator"))
        try:
            chain = cls(w3, operator, evaluator, endpoint=rpc_url, embedded=False)
        except Exception as error:  # the node is not there: say so as the chain's error
            raise chain_error(error) from error
        chain.fund(evaluator.address, EVALUATOR_FUNDING, minimum=EVALUATOR_FUNDING // 10)
        return chain

    @classmethod
    def signer(cls, rpc_url: str, key: str, *, timeout_s: float = 10.0) -> Chain:
        """A chain for one signer of its own (a validator): `operator` is that key's account, and so is
        `evaluator`, unused. It needs an RPC node: the embedded chain lives inside the attestor's process."""
        if not rpc_url:
            raise ChainError("a validator needs a chain it can reach: the embedded chain lives inside the engine's "
                             "attestor. Fix: run a node (`make anvil`, then .tools/…/anvil) and export "
                             "SEXTANT_CHAIN_RPC=http://127.0.0.1:8545 for the engine and the validator.",
                             retryable=False)
        if not key:
            raise ChainError("SEXTANT_VALIDATOR_KEY is not set: the validator answers with a key of its own, not the "
                             "operator's. Fix: export SEXTANT_VALIDATOR_KEY=0x… (a funded key on that chain).",
                             retryable=False)
        w3 = _http_web3(rpc_url, timeout_s)
        account = Account.from_key(key)
        try:
            return cls(w3, account, account, endpoint=rpc_url, embedded=False)
        except Exception as error:
            raise chain_error(error) from error

    @classmethod
    def embedded_chain(cls, seed: int) -> Chain:
        from web3 import EthereumTesterProvider

        provider = EthereumTesterProvider()
        w3 = Web3(provider)
        secret = seed.to_bytes(8, "big", signed=False)
        operator = Account.from_key(derived_key(secret, "operator"))
        evaluator = Account.from_key(derived_key(secret, "evaluator"))
        # eth-tester's prefunded account pays for both; it is unlocked in the tester, so no key is needed.
        funder = w3.eth.accounts[0]
        for account in (operator, evaluator):
            tx = w3.eth.send_transaction({"from": funder, "to": account.address, "value": cast("Wei", 1_000 * ETH)})
            w3.eth.wait_for_transaction_receipt(tx)
        return cls(w3, operator, evaluator, endpoint="embedded py-evm (EthereumTesterProvider)", embedded=True)

    def fund(self, address: str, amount: int, *, minimum: int) -> None:
        """Top `address` up from the operator when its balance is under `minimum`: by `amount`, or by what
        reaches `minimum` if that is more."""
        balance = int(self.w3.eth.get_balance(cast("ChecksumAddress", address)))  # web3 checks it at run time
        if balance >= minimum:
            return
        self._send_raw(self.operator, {"to": address, "value": max(amount, minimum - balance), "gas": 21_000})

    def transact(self, sender: LocalAccount, call: ContractFunction, gas: int) -> Receipt:
        """Sign and send a contract call; wait for it to be mined. Raises ChainError on revert or RPC failure.
        The call is first run as an eth_call, so a revert is refused with its reason and never mined."""
        try:
            call.call({"from": sender.address})
            tx = call.build_transaction(cast("TxParams", {"from": sender.address, "gas": gas,
                                                          "nonce": self._nonce(sender), "chainId": self.chain_id,
                                                          **self._fees()}))
        except Exception as error:
            raise chain_error(error) from error
        return self._send_raw(sender, cast("dict[str, Any]", tx))

    def transact_many(self, sender: LocalAccount, calls: list[tuple[ContractFunction, int]]
                      ) -> tuple[list[Receipt], ChainError | None]:
        """Sign and send several calls at once, with consecutive nonces, and wait for them all: the fees are read
        once, nothing is run first as an eth_call, and on an HTTP node the sends and then the receipts each go as
        one JSON-RPC batch. Returns a receipt per call, in order, as far as they went, and the node's refusal of
        the first call that did not go: the caller sends it and the ones after it again (in an HTTP batch the node
        may have taken some of those; with their nonces, a copy is refused or replaces it, never mined twice). A
        reverted call's receipt has `reverted` set; its reason is the caller's to ask for."""
        if not calls:
            return [], None
        try:
            fees = self._fees()
            if sender.address != self.operator.address:  # the evaluator: the operator keeps it able to pay
                self.fund(sender.address, EVALUATOR_FUNDING,
                          minimum=sum(gas for _, gas in calls) * fees["maxFeePerGas"] * FUNDED_BATCHES)
            first = self._nonce(sender)
            raw = [bytes(sender.sign_transaction(cast("dict[str, Any]", call.build_transaction(cast("TxParams", {
                "from": sender.address, "gas": gas, "nonce": first + offset, "chainId": self.chain_id, **fees}))))
                .raw_transaction) for offset, (call, gas) in enumerate(calls)]
        except Exception as error:
            raise chain_error(error) from error
        hashes, refused = self._send_all(raw)
        self._nonces[sender.address] = first + len(hashes)
        if refused is not None:
            self._nonces.pop(sender.address, None)  # re-read from the chain next time
        receipts = []
        for tx_hash, receipt in zip(hashes, self._receipts(hashes), strict=True):
            receipts.append(Receipt("0x" + bytes(tx_hash).hex().removeprefix("0x"), int(receipt["blockNumber"]),
                                    int(receipt["gasUsed"]), list(receipt["logs"]), reverted=receipt["status"] != 1))
        return receipts, refused

    def in_flight(self, sender: LocalAccount) -> int:
        """The sender's transactions sent and not mined yet (the node's pending nonce over its latest)."""
        try:
            return int(self.w3.eth.get_transaction_count(sender.address, "pending")) - int(
                self.w3.eth.get_transaction_count(sender.address, "latest"))
        except Exception as error:
            raise chain_error(error) from error

    def _send_all(self, raw: list[bytes]) -> tuple[list[Any], ChainError | None]:
        """Send signed transactions in order; stop at the first the node refuses. (hashes sent, that refusal)."""
        batch = getattr(self.w3.provider, "make_batch_request", None)
        if batch is None:  # the embedded chain: in process, a call costs no round trip
            hashes: list[Any] = []
            for each in raw:
                try:
                    hashes.append(self.w3.eth.send_raw_transaction(each))
                except Exception as error:  # noqa: BLE001 - returned as the refusal
                    return hashes, chain_error(error)
            return hashes, None
        try:
            responses = batch([("eth_sendRawTransaction", ["0x" + bytes(each).hex()]) for each in raw])
        except Exception as error:  # noqa: BLE001 - the node is unreachable: nothing was sent that we know of
            return [], chain_error(error)
        if not isinstance(responses, list):  # the node refused the batch as a whole
            return [], ChainError(f"the node refused the batch: {responses.get('error')}", retryable=True)
        sent: list[Any] = []
        for response in responses:
            if "error" in response or response.get("result") is None:
                message = str(response.get("error", {}).get("message", response))
                return sent, ChainError(message, retryable="revert" not in message.lower())
            sent.append(bytes.fromhex(str(response["result"]).removeprefix("0x")))
        return sent, None

    def _receipts(self, hashes: list[Any]) -> list[Any]:
        """Each transaction's receipt, waiting for those not mined yet."""
        batch = getattr(self.w3.provider, "make_batch_request", None)
        found: list[Any] = [None] * len(hashes)
        if batch is not None:
            try:
                responses = batch([("eth_getTransactionReceipt", ["0x" + bytes(h).hex().removeprefix("0x")])
                                   for h in hashes])
            except Exception:  # noqa: BLE001 - fall back to one at a time below
                responses = []
            for index, response in enumerate(responses if isinstance(responses, list) else []):
                result = response.get("result")
                if result:
                    found[index] = receipt_formatter(result)  # as web3 formats a receipt it fetched itself
        try:
            return [receipt if receipt is not None else
                    self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.01)
                    for tx_hash, receipt in zip(hashes, found, strict=True)]
        except Exception as error:
            raise chain_error(error) from error

    def deploy(self, sender: LocalAccount, abi: list, bytecode: str, *args: object, gas: int = 3_000_000) -> str:
        contract = self.w3.eth.contract(abi=abi, bytecode=bytecode)
        try:
            tx = contract.constructor(*args).build_transaction({"from": sender.address, "gas": gas,
                                                                "nonce": self._nonce(sender),
                                                                "chainId": self.chain_id, **self._fees()})
        except Exception as error:
            raise chain_error(error) from error
        receipt = self._send_raw(sender, tx)
        address = self.w3.eth.get_transaction_receipt(cast("HexStr", receipt.tx_hash))["contractAddress"]
        return str(address)

    def _send_raw(self, sender: LocalAccount, tx: dict[str, Any]) -> Receipt:
        tx.setdefault("nonce", self._nonce(sender))
        tx.setdefault("chainId", self.chain_id)
        for name, value in self._fees().items():
            tx.setdefault(name, value)
        signed = sender.sign_transaction(tx)
        try:
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            self._nonces[sender.address] = tx["nonce"] + 1
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.01)
        except Exception as error:
            self._nonces.pop(sender.address, None)  # re-read from the chain next time
            raise chain_error(error) from error
        if receipt["status"] != 1:
            raise ChainError(f"transaction {tx_hash.hex()} reverted (gas used {receipt['gasUsed']} of {tx['gas']})",
                             retryable=False)
        return Receipt("0x" + bytes(tx_hash).hex().removeprefix("0x"), int(receipt["blockNumber"]),
                       int(receipt["gasUsed"]), list(receipt["logs"]))

    def forget_nonces(self) -> None:
        """Read nonces from the chain again (after an outage, the node may have restarted from a snapshot)."""
        self._nonces.clear()

    def _nonce(self, sender: LocalAccount) -> int:
        if sender.address not in self._nonces:
            self._nonces[sender.address] = int(self.w3.eth.get_transaction_count(sender.address, "pending"))
        return self._nonces[sender.address]

    def _fees(self) -> dict[str, int]:
        block = self.w3.eth.get_block("latest")
        base = int(block.get("baseFeePerGas") or 0)
        tip = 10**9
        return {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}

    def wait_until_reachable(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                self.w3.eth.block_number  # noqa: B018 - a round trip
                return True
            except Exception:  # noqa: BLE001
                time.sleep(0.2)
        return False


def _http_web3(rpc_url: str, timeout_s: float) -> Web3:
    return Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))


def chain_error(error: Exception) -> ChainError:
    """Reverts are final (the same call reverts again); everything else (connection, timeout) may pass."""
    text = str(error) or type(error).__name__
    reverted = "revert" in text.lower() or type(error).__name__ in ("ContractLogicError", "ContractCustomError")
    return ChainError(text, retryable=not reverted)
