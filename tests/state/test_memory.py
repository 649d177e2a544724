"""The shared-memory primitives' compiled code (sextant/state/memory.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sextant.state.memory import drop_jit_cache_of_another_layout


class TestTheJitCacheFollowsTheLayout:
    """numba keys its on-disk cache by a function's source file, not by the layout constants compiled into it: code
    cached for another layout is dropped before first use, or a changed layout.py would run the old offsets."""

    def dispatcher(self, cache_dir: Path) -> Any:
        # a module run as a script (`python -m sextant.state.seqlock`) is __main__; numba names its cache files by
        # the source file all the same
        return SimpleNamespace(_cache=SimpleNamespace(_cache_path=str(cache_dir)),
                               py_func=SimpleNamespace(__module__="__main__",
                                                       __code__=SimpleNamespace(co_filename="/src/state/seqlock.py")))

    def test_code_compiled_for_another_layout_is_dropped_and_the_rest_kept(self, tmp_path: Path) -> None:
        for name in ("seqlock.read-58.py313.1.nbc", "seqlock.read-58.py313.nbi", "ring.drain-79.py313.nbi"):
            (tmp_path / name).write_bytes(b"old")
        (tmp_path / "seqlock.layout").write_text("another layout")
        drop_jit_cache_of_another_layout(self.dispatcher(tmp_path), "this layout")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["ring.drain-79.py313.nbi", "seqlock.layout"]
        assert (tmp_path / "seqlock.layout").read_text() == "this layout"

    def test_code_compiled_for_this_layout_is_kept(self, tmp_path: Path) -> None:
        drop_jit_cache_of_another_layout(self.dispatcher(tmp_path), "this layout")
        (tmp_path / "seqlock.read-58.py313.1.nbc").write_bytes(b"new")
        drop_jit_cache_of_another_layout(self.dispatcher(tmp_path), "this layout")
        assert (tmp_path / "seqlock.read-58.py313.1.nbc").exists()
