"""Bridge frame-time benchmark: `sextant bench bridge` (also part of `make bench`).

Renders the bridge headless (EGL; Mesa llvmpipe on a machine without a GPU, the GPU where there is one) from the
fixture's calm scene with an intent card showing, and times whole frames: the fixed tick (shared-memory read and event
drain), the draw, `ctx.finish()` (so the rasteriser's work is counted, not just queued) and the flip. Each size
runs in its own process (arcade allows one window per process). Also reports CPU ms per frame: the main thread
plus the rasteriser's threads, which is what a busy machine inflates least.

Each size is measured twice in one run: the chart without its trader layers (orders, fills, E-STOP marks, legend,
equity strip; what it drew before them) as the baseline, then with them; the ratio is what the layers cost.

Target (docs/spec.md#performance-targets, issue #5): median ≤ 16.7 ms at 1280×720, i.e. 60 Hz.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
SIZES = ((1280, 720), (1920, 1080))
TARGET_720P_MS = 1000 / 60
TARGET_START_S = 3.0


def time_to_first_frame(runs: int = 3) -> list[float]:
    """Wall seconds from spawning `sextant bridge --headless` to its first frame on screen (≤ 3 s:
    docs/spec.md#performance-targets)."""
    times = []
    for _ in range(runs):
        directory = Path(tempfile.mkdtemp(prefix="sextant-bridge-start-"))
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "sextant.cli", "bridge", "--headless", "--frames", "2",
                                    "--size", "1920x1080", "--mmap", str(directory / "c"), "--events",
                                    str(directory / "e"), "--commands", str(directory / "m")],
                                   stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
        assert process.stdout is not None
        for line in process.stdout:
            if "first frame" in line:
                times.append(time.perf_counter() - started)
                break
        process.wait(timeout=60)
    return times


def measure(width: int, height: int, frames: int, warmup: int, trader_layers: bool = True) -> dict[str, float | str]:
    sys.path.insert(0, str(REPO_ROOT))
    from sextant.bridge.headless import use_headless_gl

    use_headless_gl()
    import arcade
    from pyglet.event import EventDispatcher

    from sextant.bridge.config import BridgeConfig
    from sextant.bridge.view import BridgeView
    from tests.fixtures.bridge_feed import CARD_STEP, Feed, clock_at

    directory = Path(tempfile.mkdtemp(prefix="sextant-bridge-bench-"))
    feed = Feed("card", str(directory / "c.mmap"), str(directory / "e.mmap"))
    window = arcade.Window(width, height, "bench", antialiasing=False, vsync=False, visible=False)
    config = BridgeConfig(context_path=str(directory / "c.mmap"), events_path=str(directory / "e.mmap"),
                          commands_path=str(directory / "cmd.mmap"), width=width, height=height, fullscreen=False,
                          history_s=120.0)
    view = BridgeView(config, clock=lambda: clock_at(feed.base_ns, feed.step_number))
    view.trader_layers = trader_layers
    window.show_view(view)

    def one_frame() -> None:
        EventDispatcher.dispatch_event(window, "on_fixed_update", 1 / 60)
        view.on_draw()
        window.ctx.finish()
        window.flip()

    for _ in range(CARD_STEP + warmup):  # fill the history and bring the card in
        feed.step()
        one_frame()
    wall, cpu = [], []
    for _ in range(frames):
        feed.step()  # the engine's write (another process in real use): one second of engine time per frame
        started, started_cpu = time.perf_counter(), time.process_time()
        one_frame()
        wall.append((time.perf_counter() - started) * 1e3)
        cpu.append((time.process_time() - started_cpu) * 1e3)
    wall_ms, cpu_ms = np.array(wall), np.array(cpu)
    renderer = window.ctx.info.RENDERER
    view.link.close()
    feed.close()
    return {"size": f"{width}x{height}", "layers": "trader" if trader_layers else "baseline", "renderer": renderer,
            "median_ms": float(np.median(wall_ms)), "p95_ms": float(np.percentile(wall_ms, 95)),
            "p99_ms": float(np.percentile(wall_ms, 99)), "cpu_median_ms": float(np.median(cpu_ms)), "frames": frames,
            "load1": os.getloadavg()[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--size", help="one size, WxH, measured in this process (used by the parent run)")
    parser.add_argument("--baseline", action="store_true", help="with --size: the chart without its trader layers")
    parser.add_argument("--sizes", help="sizes to measure, WxH[,WxH...] (default 1280x720,1920x1080)")
    args = parser.parse_args()
    if args.size:
        width, height = (int(part) for part in args.size.split("x"))
        print(json.dumps(measure(width, height, args.frames, args.warmup, trader_layers=not args.baseline)))
        return 0
    sizes = [tuple(int(part) for part in size.split("x")) for size in args.sizes.split(",")] if args.sizes else SIZES
    results = []
    # Each size twice, alternating: the chart as it was before its trader layers (the baseline), then with them.
    for width, height in sizes:
        for baseline in (True, False):
            env = {k: v for k, v in os.environ.items() if not k.startswith("SEXTANT_")}
            completed = subprocess.run([sys.executable, __file__, "--size", f"{width}x{height}", "--frames",
                                        str(args.frames), "--warmup", str(args.warmup),
                                        *(["--baseline"] if baseline else [])], capture_output=True, text=True,
                                       env=env, cwd=REPO_ROOT, check=False)
            if completed.returncode != 0:
                print(completed.stdout + completed.stderr, file=sys.stderr)
                return 1
            results.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    print(f"\nbridge frame time: calm scene with an intent card, {args.frames} frames after {args.warmup} warm-up, "
          f"headless EGL ({results[0]['renderer']}), load {results[0]['load1']:.1f}")
    print("baseline: the chart without its trader layers (orders, fills, E-STOP marks, legend, equity strip)")
    print(f"{'size':<11}{'layers':<10}{'median ms':>11}{'p95 ms':>9}{'p99 ms':>9}{'CPU ms':>9}{'× base':>8}   target")
    status = 0
    base_median = {r["size"]: r["median_ms"] for r in results if r["layers"] == "baseline"}
    for result in results:
        target = ""
        ratio = result["median_ms"] / base_median[result["size"]] if base_median.get(result["size"]) else 1.0
        if result["size"] == "1280x720" and result["layers"] == "trader":
            met = result["median_ms"] <= TARGET_720P_MS
            target = f"median ≤ {TARGET_720P_MS:.1f} ms: {'met' if met else 'MISSED'}"
            status = 0 if met else 1
        print(f"{result['size']:<11}{result['layers']:<10}{result['median_ms']:>11.1f}{result['p95_ms']:>9.1f}"
              f"{result['p99_ms']:>9.1f}{result['cpu_median_ms']:>9.1f}{ratio:>8.2f}   {target}")
    starts = time_to_first_frame()
    met = max(starts) <= TARGET_START_S
    print(f"start → first frame (1920x1080, headless, {len(starts)} runs): median {np.median(starts):.2f} s, max "
          f"{max(starts):.2f} s   target ≤ {TARGET_START_S:g} s: {'met' if met else 'MISSED'}")
    return status if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
