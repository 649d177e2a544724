"""scripts/find-python: the Python that make builds the venv with, or one message that says how to get one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

FIND = REPO_ROOT / "scripts" / "find-python"
MINOR = f"{sys.version_info[0]}.{sys.version_info[1]}"  # the suite runs on a supported Python


def find(path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """find-python with PATH reduced to `path` plus the shell's basics (no pyenv), and `env` added."""
    base = {"PATH": f"{path}:/usr/bin:/bin", "HOME": str(path)}
    return subprocess.run([str(FIND), *args], env={**base, **env}, capture_output=True, text=True, timeout=60,
                          check=False)


def unsupported_python() -> str | None:
    for candidate in ("/usr/bin/python3", "/usr/bin/python3.11", shutil.which("python3.11") or ""):
        if candidate and os.path.exists(candidate):
            version = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2] < (3, 12))"],
                                     capture_output=True, text=True, check=False).stdout.strip()
            if version == "True":
                return candidate
    return None


def test_a_supported_python_on_path_is_found_by_its_versioned_name(tmp_path: Path) -> None:
    (tmp_path / f"python{MINOR}").symlink_to(sys.executable)
    result = find(tmp_path)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).resolve() == Path(sys.executable).resolve()


def test_a_version_can_be_asked_for_and_another_is_not_taken_instead(tmp_path: Path) -> None:
    (tmp_path / f"python{MINOR}").symlink_to(sys.executable)
    other = "3.12" if MINOR == "3.13" else "3.13"
    assert find(tmp_path, MINOR).returncode == 0
    result = find(tmp_path, other)
    if result.returncode == 0:  # the machine has the other one too (pyenv is off PATH, /usr/bin may have it)
        assert result.stdout.strip().endswith(other)
    else:
        assert f"Sextant needs Python {other}" in result.stderr


@pytest.mark.skipif(unsupported_python() is None, reason="no Python older than 3.12 on this machine")
def test_an_unsupported_python_is_refused_with_what_to_do(tmp_path: Path) -> None:
    old = unsupported_python()
    assert old is not None
    (tmp_path / "python3").symlink_to(old)
    named = find(tmp_path, PYTHON=str(old))
    assert named.returncode == 1 and "is not Python 3.13 or 3.12" in named.stderr and "Fix:" in named.stderr
    if shutil.which("python3.13", path="/usr/bin:/bin") or shutil.which("python3.12", path="/usr/bin:/bin"):
        return  # this machine's system Python is new enough: nothing left to refuse
    alone = find(tmp_path)
    assert alone.returncode == 1
    assert "Sextant needs Python 3.13 or 3.12" in alone.stderr and "pyenv install 3.13" in alone.stderr


def test_a_pyenv_shim_that_does_not_run_is_passed_over(tmp_path: Path) -> None:
    shim = tmp_path / "python3.13"  # as pyenv's shim behaves when 3.13 is not the selected version
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.13: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    (tmp_path / f"python{MINOR}" if MINOR != "3.13" else tmp_path / "python3").symlink_to(sys.executable)
    result = find(tmp_path)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).resolve() == Path(sys.executable).resolve()
