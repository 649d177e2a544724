"""The RPC path on a real node (anvil): the node is killed mid-run and restarted from its state file; every
journaled attestation is mined afterwards, none lost, none duplicated, and trading (`attest`) never waited."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sextant.trust.attestor import Attestor
from sextant.trust.chain import Chain
from tests.trust.conftest import ANVIL_KEY, Anvil, assert_each_decision_on_chain_once

AGENTS = ["momentum-01", "mean-reversion-01"]


def decision(index: int) -> dict:
    return {"intent_id": f"intent-{index}", "quantity": 1.0, "entry_price": 60_000.0, "multiplier": 0.01,
            "realized_pnl": (index % 5 - 2) * 0.3, "closed_at_ns": 1_767_225_600_000_000_000 + index}


@pytest.mark.slow
def test_killing_the_node_mid_run_loses_and_duplicates_nothing(tmp_path: Path, anvil: Anvil) -> None:
    attestor = Attestor(tmp_path / "trust", lambda: Chain.connect(anvil.url, ANVIL_KEY, timeout_s=2.0))
    ids = attestor.setup(AGENTS)
    attestor.start()
    for index in range(10):
        attestor.attest(AGENTS[index % 2], decision(index), instrument="BTC-USDT-SWAP.OKX", strategy="test")
    assert attestor.flush(30)
    time.sleep(1.5)  # let anvil write its state file at least once
    anvil.kill()
    slowest = 0.0
    for index in range(10, 30):  # the engine keeps trading while the node is down
        started = time.perf_counter()
        attestor.attest(AGENTS[index % 2], decision(index), instrument="BTC-USDT-SWAP.OKX", strategy="test")
        slowest = max(slowest, time.perf_counter() - started)
    time.sleep(2.0)
    assert attestor.journal.counts().get("queued", 0) >= 20, "nothing could be mined while the node was down"
    assert "connect" in attestor.last_error.lower() or attestor.last_error, "the worker saw the outage"
    anvil.start()  # same port, same state file
    assert attestor.flush(90), f"still queued: {attestor.journal.counts()}, last error {attestor.last_error}"
    attestor.stop()
    assert_each_decision_on_chain_once(attestor, ids, 30)
    assert slowest < 0.1, f"attest() waited {slowest:.3f} s on a dead node"
    attestor.close()
