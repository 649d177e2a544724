"""Decision records: the canonical, signed account of one closed decision, written to disk before anything is
sent to a chain (docs/trust.md).

A record holds the intent, the hash of the ContextWindow it was decided on, the orders, the fills and the outcome.
Its hash is keccak-256 of its canonical JSON (sorted keys, no spaces, UTF-8), the same bytes on every machine.
The operator (the agents' owner) signs the hash with EIP-712, in the domain of the Identity Registry on this
chain, so a signature is bound to one registry and one chain. The feedback posted on chain carries the hash and
the record's URI; `verify_record` checks all three against each other.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

RECORD_VERSION = 1
DOMAIN_NAME = "Sextant Decision Record"
DOMAIN_VERSION = "1"
TYPES = {"DecisionRecord": [{"name": "agentId", "type": "uint256"}, {"name": "recordHash", "type": "bytes32"},
                            {"name": "closedAt", "type": "uint64"}]}
VALUE_DECIMALS = 2  # the on-chain value is the risk-adjusted return in basis points, with two decimals
MAX_RETURN_BPS = 10_000.0


class RecordError(Exception):
    """A record file cannot be read or does not verify; the message says which check failed."""


def canonical_json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def record_hash(record: dict[str, Any]) -> bytes:
    return keccak(canonical_json(record))


def outcome_value(realized_pnl: float, entry_notional: float) -> int:
    """The feedback value: the decision's return on the exposure it took, in bps × 100 (VALUE_DECIMALS),
    clipped to ±100 %. Risk-adjusted in the plain sense: PnL per unit of notional risked, so a large position's
    small gain does not outrank a small position's clean one."""
    if not (entry_notional > 0 and math.isfinite(realized_pnl)):
        return 0
    bps = max(-MAX_RETURN_BPS, min(MAX_RETURN_BPS, realized_pnl / entry_notional * 1e4))
    return round(bps * 10**VALUE_DECIMALS)


def domain(chain_id: int, identity_registry: str) -> dict[str, Any]:
    return {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": chain_id,
            "verifyingContract": identity_registry}


def _typed(agent_id: int, digest: bytes, closed_at: int) -> dict[str, Any]:
    return {"agentId": agent_id, "recordHash": digest, "closedAt": closed_at}


def sign_record(record: dict[str, Any], signer: LocalAccount, chain_id: int, identity_registry: str) -> dict[str, Any]:
    """The signed envelope that is written to disk: the record, its hash, the EIP-712 signature and the signer."""
    digest = record_hash(record)
    signed = Account.sign_typed_data(signer.key, domain_data=domain(chain_id, identity_registry),
                                     message_types=TYPES,
                                     message_data=_typed(int(record["agent_id"]), digest, int(record["closed_at_ns"])))
    return {"version": RECORD_VERSION, "record": record, "hash": "0x" + digest.hex(),
            "signature": "0x" + bytes(signed.signature).hex(), "signer": signer.address, "chain_id": chain_id,
            "identity_registry": identity_registry}


def write_envelope(directory: Path, envelope: dict[str, Any]) -> Path:
    """Write atomically: a crash leaves either the whole file or none."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{envelope['record']['record_id']}.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_bytes(canonical_json(envelope))
    temporary.replace(path)
    return path


@dataclass(frozen=True, slots=True)
class Verified:
    record_id: str
    agent_id: int
    signer: str
    hash: str


def verify_envelope(envelope: dict[str, Any]) -> Verified:
    """Off-chain checks: the hash is the record's, and the EIP-712 signature recovers to the named signer."""
    try:
        record = envelope["record"]
        digest = record_hash(record)
        if "0x" + digest.hex() != envelope["hash"]:
            raise RecordError(f"record {record.get('record_id')}: its content hashes to 0x{digest.hex()}, not the "
                              f"recorded {envelope['hash']}: the record was changed after it was signed")
        message = encode_typed_data(domain_data=domain(int(envelope["chain_id"]), envelope["identity_registry"]),
                                    message_types=TYPES,
                                    message_data=_typed(int(record["agent_id"]), digest, int(record["closed_at_ns"])))
        signer = Account.recover_message(message, signature=envelope["signature"])
    except (KeyError, TypeError, ValueError) as error:
        raise RecordError(f"not a decision record envelope: {error}") from error
    if signer.lower() != str(envelope["signer"]).lower():
        raise RecordError(f"record {record['record_id']}: the signature recovers to {signer}, not the named "
                          f"signer {envelope['signer']}")
    return Verified(str(record["record_id"]), int(record["agent_id"]), signer, envelope["hash"])


def read_envelope(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise RecordError(f"{path}: no such record file") from None
    except json.JSONDecodeError as error:
        raise RecordError(f"{path}: not JSON ({error})") from error
