"""Shared fixtures. Tests never touch the repository's working files: every path is under tmp_path."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


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
