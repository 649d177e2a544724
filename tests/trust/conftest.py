"""Chains for the trust tests: the embedded py-evm chain, and anvil (a real local node, from npm
`@foundry-rs/anvil`, installed by `make anvil`) for the RPC path."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sextant.trust.attestor import Attestor
from tests.conftest import REPO_ROOT, free_port

# anvil's first default account: a well-known test key, funded on every fresh anvil chain.
ANVIL_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_LOCAL = REPO_ROOT / ".tools" / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"


def anvil_binary() -> str | None:
    if ANVIL_LOCAL.exists():
        return str(ANVIL_LOCAL)
    return shutil.which("anvil")


class Anvil:
    """One anvil process on a fixed port, with its state in a file (dumped every second), so it can be killed
    and started again on the same chain."""

    def __init__(self, directory: Path) -> None:
        binary = anvil_binary()
        if binary is None:
            if os.environ.get("CI_REQUIRE_ANVIL"):
                pytest.fail("anvil is required here (CI_REQUIRE_ANVIL) but not installed: run `make anvil`")
            pytest.skip("anvil is not installed (make anvil)")
        self.binary = binary
        self.port = free_port()
        self.state = directory / "anvil-state.json"
        self.log = directory / "anvil.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--host", "127.0.0.1", "--state", str(self.state),
                "--state-interval", "1", "--silent"]
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        from web3 import Web3

        w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 2}))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                w3.eth.chain_id  # noqa: B018
                return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.1)
        raise RuntimeError(f"anvil did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def anvil(tmp_path: Path) -> Iterator[Anvil]:
    node = Anvil(tmp_path)
    node.start()
    yield node
    node.kill()


def assert_each_decision_on_chain_once(attestor: Attestor, ids: dict[str, int], count: int) -> None:
    """The journal holds `count` decisions, each once and mined, and the chain holds exactly one feedback for
    each, numbered 1..n per agent."""
    rows = attestor.journal.all()
    assert len({row.record_id for row in rows}) == len(rows) == count
    assert all(row.status == "mined" for row in rows)
    assert attestor.registry is not None and attestor.chain is not None
    for name, agent_id in ids.items():
        journaled = [row for row in rows if row.agent == name]
        assert attestor.registry.last_index(agent_id, attestor.chain.evaluator.address) == len(journaled), \
            "exactly one feedback on chain per journaled decision"
        assert sorted(row.feedback_index for row in journaled) == list(range(1, len(journaled) + 1))
