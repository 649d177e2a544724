"""Shared fixtures. Tests never touch the repository's working files: every path is under tmp_path."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# The bridge's tests render off screen (EGL on Mesa llvmpipe, no X server). arcade reads this when first imported,
# so it is set before any test module can import it.
os.environ.setdefault("ARCADE_HEADLESS", "1")

from sextant.state.layout import HEADER_DTYPE, HEADER_SIZE

REPO_ROOT = Path(__file__).resolve().parents[1]

# Nodes that tests ran, disposed when their test module ends: Nautilus' Cache.dispose() empties the cache, and tests
# read the orders and positions a run left there (tests/engine/conftest.py's run_engine adds them).
RAN_NODES: list[Any] = []


@pytest.fixture(autouse=True, scope="module")
def dispose_nodes_at_module_end() -> Iterator[None]:
    yield
    while RAN_NODES:
        RAN_NODES.pop().dispose()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An environment without any Sextant or OKX setting, as a fresh shell would have."""
    for name in list(os.environ):
        if name.startswith(("SEXTANT_", "OKX_")) or name == "OPENROUTER_API_KEY":
            monkeypatch.delenv(name, raising=False)
    return dict(os.environ)


@pytest.fixture
def python() -> str:
    return sys.executable


def rewrite_header(path: Path, **fields: int) -> bytes:
    """Overwrite header fields of a state file in place (to simulate corruption); returns the new bytes."""
    raw = bytearray(path.read_bytes())
    header = np.frombuffer(raw[:HEADER_SIZE], HEADER_DTYPE).copy()
    for name, value in fields.items():
        header[name] = value
    raw[:HEADER_SIZE] = header.tobytes()
    path.write_bytes(bytes(raw))
    return bytes(raw)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for servers that tests start)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_isolated(script: str, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `script` in a fresh interpreter (this repository's package first on the path), so that a crash by signal
    (a SIGBUS from a truncated mapped file) shows as the child's negative return code, not as the end of pytest."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                          timeout=timeout_s, check=False)
