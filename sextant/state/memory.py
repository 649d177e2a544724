"""Typed loads, stores and memory fences on a raw byte buffer, for numba njit code.

Every shared-memory protocol in `sextant.state` is built from these primitives. They exist because numba
exposes neither atomics nor fences, and a seqlock written with plain array indexing is only correct by luck:
LLVM may merge the reader's two loads of the sequence word (nothing between them stores to memory), or move the
payload copy across them. We emit the orderings ourselves, as LLVM IR, through `numba.extending.intrinsic`:

* `load_acquire_u64` / `store_release_u64`: C11 acquire load and release store (`load atomic ... acquire`).
* `load_relaxed_u64` / `store_relaxed_u64`: atomic but unordered (`monotonic`), for words that other
  processes read or write concurrently but whose ordering a fence provides.
* `fence_acquire` / `fence_release`: C11 `atomic_thread_fence`. On x86-64 they compile to no instruction (the
  hardware is TSO) but they are full compiler barriers; on aarch64 they become `dmb ish`.
* `load_u64` / `store_u64` / `load_f64` / `store_f64`: plain accesses at a byte offset, for payload words.

``SEXTANT_SEQLOCK_UNFENCED=1`` (read once, at import) turns every ordered access into a plain one and every
fence into nothing. It exists for one reason: so the test suite can prove that the stress test catches a
seqlock without fences (tests/state/test_context_stress.py). Never set it outside that test. Compiled code is
not cached in that mode, so an unfenced build can never leak into the on-disk numba cache.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from sextant.state.layout import LAYOUT_FINGERPRINT, OFFSET_HEARTBEAT

UNFENCED: bool = os.environ.get("SEXTANT_SEQLOCK_UNFENCED", "") == "1"

# Options for every njit function that touches shared memory. nogil lets a reader thread run beside a GIL-bound
# UI loop; the on-disk cache is off in the unfenced diagnostic mode (see the module docstring).
JIT_OPTIONS: dict[str, Any] = {"nogil": True, "cache": not UNFENCED}


def _byte_pointer(context: Any, builder: Any, array_type: Any, array: Any, offset: Any, offset_type: Any,
                  value_type: Any) -> Any:
    """Pointer to `value_type` at `array.data + offset` (offset in bytes)."""
    data = context.make_array(array_type)(context, builder, array).data
    offset_intp = context.cast(builder, offset, offset_type, types.intp)
    address = builder.add(builder.ptrtoint(data, cgutils.intp_t), offset_intp)
    return builder.inttoptr(address, context.get_value_type(value_type).as_pointer())


def _make_load(value_type: Any, ordering: str | None) -> Any:
    @intrinsic
    def load(typingctx: Any, buf: Any, offset: Any) -> Any:
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            pointer = _byte_pointer(context, builder, signature.args[0], args[0], args[1], signature.args[1],
                                    value_type)
            if ordering is None or UNFENCED:
                return builder.load(pointer, align=8)
            return builder.load_atomic(pointer, ordering, 8)

        return value_type(buf, offset), codegen

    return load


# Stores and fences return nothing: numba's codegen for a `void` intrinsic must still hand back a value, and
# `context.get_dummy_value()` is that placeholder (it emits no code).


def _make_store(value_type: Any, ordering: str | None) -> Any:
    @intrinsic
    def store(typingctx: Any, buf: Any, offset: Any, value: Any) -> Any:
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            pointer = _byte_pointer(context, builder, signature.args[0], args[0], args[1], signature.args[1],
                                    value_type)
            stored = context.cast(builder, args[2], signature.args[2], value_type)
            if ordering is None or UNFENCED:
                builder.store(stored, pointer, align=8)
            else:
                builder.store_atomic(stored, pointer, ordering, 8)
            return context.get_dummy_value()

        return types.void(buf, offset, value), codegen

    return store


def _make_fence(ordering: str) -> Any:
    @intrinsic
    def fence(typingctx: Any) -> Any:
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            if not UNFENCED:
                builder.fence(ordering)
            return context.get_dummy_value()

        return types.void(), codegen

    return fence


load_acquire_u64 = _make_load(types.uint64, "acquire")
load_relaxed_u64 = _make_load(types.uint64, "monotonic")
load_u64 = _make_load(types.uint64, None)
load_f64 = _make_load(types.float64, None)

store_release_u64 = _make_store(types.uint64, "release")
store_relaxed_u64 = _make_store(types.uint64, "monotonic")
store_u64 = _make_store(types.uint64, None)
store_f64 = _make_store(types.float64, None)

fence_acquire = _make_fence("acquire")
fence_release = _make_fence("release")


@intrinsic
def cycle_counter(typingctx: Any) -> Any:
    """The CPU's cycle counter (`llvm.readcyclecounter`: rdtsc on x86-64), for benchmarks that time batches."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        function_type = ir.FunctionType(ir.IntType(64), [])
        function = cgutils.get_or_insert_function(builder.module, function_type, "llvm.readcyclecounter")
        return builder.call(function, [])

    return types.uint64(), codegen


@njit(**JIT_OPTIONS)
def store_heartbeat(buf: Any, now_ns: int) -> None:
    """Refresh a state file's header heartbeat (every file kind has it at the same offset)."""
    store_relaxed_u64(buf, OFFSET_HEARTBEAT, now_ns)


def drop_jit_cache_of_another_layout(dispatcher: Any, fingerprint: str = LAYOUT_FINGERPRINT) -> None:
    """Drop the on-disk numba cache of `dispatcher`'s module when it was compiled for another layout. numba keys
    that cache by the function's source file alone, not by the globals it reads, so after a layout change in
    layout.py the old sizes and offsets would run from the cache. Called at import, before any first call."""
    cache_dir = getattr(getattr(dispatcher, "_cache", None), "_cache_path", None)
    if cache_dir is None:  # not cached (UNFENCED)
        return
    # numba names its cache files by the source file's stem, also for a module run as __main__ (`python -m`)
    module = Path(dispatcher.py_func.__code__.co_filename).stem
    stamp = Path(cache_dir) / f"{module}.layout"
    try:
        if stamp.read_text() == fingerprint:
            return
    except OSError:
        pass
    for compiled in Path(cache_dir).glob(f"{module}.*.nb[ic]"):
        compiled.unlink(missing_ok=True)
    try:
        stamp.write_text(fingerprint)
    except OSError:
        pass  # a read-only cache directory: numba does not write there either


drop_jit_cache_of_another_layout(store_heartbeat)
