"""`sextant trust status` and `sextant trust verify`, on a journal an attestor wrote (embedded chain, rebuilt
from the journal by the command itself)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sextant.trust.attestor import Attestor
from sextant.trust.chain import Chain
from tests.conftest import REPO_ROOT, free_port


def trust_cli(directory: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEXTANT_")}
    env["SEXTANT_TRUST_DIR"] = str(directory)
    return subprocess.run([sys.executable, "-m", "sextant.cli", "trust", *args], env=env, capture_output=True,
                          text=True, timeout=120, cwd=REPO_ROOT, check=False)


@pytest.mark.slow  # three CLI processes, each rebuilding the embedded chain from the journal
def test_status_and_verify(tmp_path: Path) -> None:
    directory = tmp_path / "trust"
    attestor = Attestor(directory, lambda: Chain.embedded_chain(42))
    attestor.setup(["momentum-01", "risk-01"])
    attestor.start()
    record_id = attestor.attest("momentum-01", {"quantity": 1.0, "entry_price": 60_000.0, "multiplier": 0.01,
                                                "realized_pnl": 1.2, "closed_at_ns": 5, "intent_id": "i-1"},
                                instrument="BTC-USDT-SWAP.OKX", strategy="momentum")
    assert attestor.flush(30)
    attestor.close()
    status = trust_cli(directory, "status")
    assert status.returncode == 0, status.stderr
    assert "embedded py-evm" in status.stdout and "1 mined, 0 pending" in status.stdout
    assert "momentum-01" in status.stdout and "20.00" in status.stdout  # +1.2 USDT on 600 USDT = +20 bps
    record = directory / "records" / f"{record_id}.json"
    good = trust_cli(directory, "verify", str(record))
    assert good.returncode == 0 and "matches the chain" in good.stdout, good.stderr
    envelope = json.loads(record.read_text())
    envelope["record"]["value"] = 99_999
    record.write_text(json.dumps(envelope))
    bad = trust_cli(directory, "verify", str(record))
    assert bad.returncode == 1 and "FAILED" in bad.stderr and "changed after it was signed" in bad.stderr


@pytest.mark.slow  # a sim in a process of its own
def test_sim_attest_with_no_node_prints_the_run_and_says_why_it_attested_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEXTANT_")} | {
        "SEXTANT_CHAIN_RPC": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        "SEXTANT_CHAIN_KEY": "0x" + "11" * 32}
    done = subprocess.run([sys.executable, "-m", "sextant.cli", "sim", "scenes/calm-trend", "--out",
                           str(tmp_path / "sim"), "--no-record", "--attest"], env=env, capture_output=True, text=True,
                          timeout=300, cwd=REPO_ROOT, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "trades" in done.stdout and "attested        FAILED: ChainError:" in done.stdout, done.stdout
    assert "0x" + "11" * 32 not in done.stdout + done.stderr  # the key is never shown
