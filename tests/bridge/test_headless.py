"""Off-screen rendering is chosen before arcade is imported, or refused with the reason."""

from __future__ import annotations

import os
import sys
import types

import pytest

from sextant.bridge.headless import use_headless_gl
from sextant.config import has_display


def test_headless_gl_is_asked_for_through_arcades_import_time_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARCADE_HEADLESS", raising=False)
    monkeypatch.delitem(sys.modules, "arcade", raising=False)
    use_headless_gl()
    assert os.environ["ARCADE_HEADLESS"] == "1"


def test_asking_after_arcade_opened_with_a_window_is_an_error_not_a_silent_window(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARCADE_HEADLESS", raising=False)
    monkeypatch.setitem(sys.modules, "arcade", types.ModuleType("arcade"))
    with pytest.raises(RuntimeError, match="before headless rendering was asked for"):
        use_headless_gl()


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, False), ({"DISPLAY": ":0"}, True), ({"WAYLAND_DISPLAY": "wayland-0"}, True), ({"DISPLAY": ""}, False)])
def test_a_display_is_one_named_in_the_environment(environ: dict[str, str], expected: bool) -> None:
    assert has_display(environ) is expected
