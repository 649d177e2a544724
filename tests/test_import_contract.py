"""The import contract of pyproject.toml ([tool.importlinter]): it holds on the sources, and it catches a breach."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed (the dev extra)")


def lint_imports(sources: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    """Check the `sextant` package under `sources` against the repository's contracts."""
    env = dict(os.environ, PYTHONPATH=str(sources))
    return subprocess.run([str(LINT_IMPORTS), "--no-logo", "--cache-dir", str(cache), str(REPO_ROOT / "pyproject.toml")],
                          cwd=sources, env=env, capture_output=True, text=True, timeout=120, check=False)


def copy_of_sextant(tmp_path: Path) -> Path:
    sources = tmp_path / "src"
    shutil.copytree(REPO_ROOT / "sextant", sources / "sextant", ignore=shutil.ignore_patterns("__pycache__"))
    return sources


def test_the_sources_keep_every_contract(tmp_path: Path) -> None:
    result = lint_imports(REPO_ROOT, tmp_path / "cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "breach", "contract"), [
    ("bridge/model.py", "import sextant.engine.node", "The bridge never imports the engine or Nautilus"),
    ("state/layout.py", "import sextant.config", "The shared-memory layer imports nothing else of sextant's"),
    ("swarm/intent.py", "import nautilus_trader.model", "The crew and the gate import no Nautilus"),
    ("market/model.py", "import sextant.research.ledger", "Packages depend one way"),
    ("engine/events.py", "import sextant.engine.node", "No import cycle among the modules of any package"),
])
def test_a_deliberate_breach_breaks_its_contract(tmp_path: Path, module: str, breach: str, contract: str) -> None:
    sources = copy_of_sextant(tmp_path)
    path = sources / "sextant" / module
    path.write_text(path.read_text() + f"\n{breach}  # a deliberate breach\n")
    result = lint_imports(sources, tmp_path / "cache")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{contract}" in result.stdout.split("Broken contracts")[1]
