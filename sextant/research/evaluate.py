"""Evaluating hypotheses on the walk-forward windows, through a pluggable executor.

`Evaluator` owns one WindowBacktester per window of each instrument of the data (a `Leg`) and turns (family,
params, phase, instrument) into that instrument's per-window metrics, at its own base size: on Nautilus for the
selection windows and the holdout, by the screen's fill model (research/screen.py) for the screen. A task is one
hypothesis on one instrument, so a batch of hypotheses on several instruments spreads over more workers. The
executors run many of them: `inline` in this process (tests, one worker), `process` (the default) a local process
pool whose workers each build their evaluator once, and `ray` the same evaluator as Ray actors for when one
machine is not enough (Ray is optional: `pip install ray`). Every executor returns results in task order, so a run
is the same whichever ran it.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sextant.research.backtest import WindowBacktester
from sextant.research.config import ResearchConfig
from sextant.research.data import Leg, Split
from sextant.research.families import FAMILIES
from sextant.research.metrics import equity_curve, measure
from sextant.research.screen import screen_fills

Phase = Literal["screen", "selection", "holdout"]  # screen: the selection windows, filled by the screen's model


@dataclass(frozen=True, slots=True)
class Task:
    family: str
    params: dict[str, float]
    phase: Phase
    instrument: int = 0  # the place of the instrument in the data's legs


Legs = Split | Sequence[Leg]  # a Split alone: one instrument, at the settings' base size (the bench passes one)


class Evaluator:
    def __init__(self, legs: Legs, config: ResearchConfig) -> None:
        self._config = config
        if isinstance(legs, Split):
            legs = (Leg(str(legs.holdout.market_instrument().id), legs, config.base_size),)
        self._base_sizes = [leg.base_size for leg in legs]
        self._windows: list[dict[str, list[WindowBacktester]]] = [{
            "selection": [WindowBacktester(quotes) for quotes in leg.split.selection],
            "holdout": [WindowBacktester(leg.split.holdout)],
        } for leg in legs]

    def evaluate(self, task: Task) -> list[dict[str, float]]:
        family = FAMILIES[task.family]
        config = self._config
        base_size = self._base_sizes[task.instrument]
        results = []
        screen = task.phase == "screen"
        for window in self._windows[task.instrument]["selection" if screen else task.phase]:
            targets = family.targets(window.features, task.params, config.cooldown_secs)
            fills = (screen_fills(window.quotes, window.features, targets, base_size, config.screen_slippage_bps)
                     if screen else window.run(targets, base_size))
            multiplier = window.quotes.multiplier
            equity = equity_curve(window.features, fills, multiplier)
            results.append(measure(window.features, equity, base_size, config.period_s, multiplier,
                                   fills).as_dict())
        return results

    def dispose(self) -> None:
        for phases in self._windows:
            for windows in phases.values():
                for window in windows:
                    window.dispose()


class Executor(Protocol):
    def map(self, tasks: Sequence[Task]) -> list[list[dict[str, float]]]: ...

    def close(self) -> None: ...


class InlineExecutor:
    def __init__(self, legs: Legs, config: ResearchConfig) -> None:
        self._evaluator = Evaluator(legs, config)

    def map(self, tasks: Sequence[Task]) -> list[list[dict[str, float]]]:
        return [self._evaluator.evaluate(task) for task in tasks]

    def close(self) -> None:
        self._evaluator.dispose()


_WORKER: Evaluator | None = None


def _start_worker(legs: Legs, config: ResearchConfig) -> None:
    global _WORKER
    _WORKER = Evaluator(legs, config)


def _evaluate_in_worker(task: Task) -> list[dict[str, float]]:
    assert _WORKER is not None, "the worker's initializer did not run"
    return _WORKER.evaluate(task)


class ProcessExecutor:
    """A local pool. Spawned, not forked: Nautilus and numba hold threads and native state a fork would copy
    half-made."""

    def __init__(self, legs: Legs, config: ResearchConfig) -> None:
        self._workers = config.workers
        self._pool = ProcessPoolExecutor(max_workers=config.workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_start_worker, initargs=(legs, config))

    def map(self, tasks: Sequence[Task]) -> list[list[dict[str, float]]]:
        # Screen tasks take milliseconds: sent a few to a message, or the hand-over costs more than the work.
        chunk = max(1, len(tasks) // (4 * self._workers))
        return list(self._pool.map(_evaluate_in_worker, tasks, chunksize=chunk))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class ExecutorUnavailable(RuntimeError):
    """The executor asked for cannot run here (Ray not installed, its cluster not reachable); the message says so."""


class RayExecutor:
    def __init__(self, legs: Legs, config: ResearchConfig) -> None:
        try:  # imported by name: Ray is an optional extra, typed as Any whether or not it is installed
            ray: Any = importlib.import_module("ray")
        except ImportError:
            raise ExecutorUnavailable("the ray executor needs Ray: `pip install -e '.[ray]'`, or use --executor "
                                      "process") from None
        self._ray = ray
        if not ray.is_initialized():
            address = os.environ.get("RAY_ADDRESS")
            try:
                if address:  # a cluster (docs/research.md#on-a-cluster): its own CPUs, not ours
                    ray.init(include_dashboard=False, log_to_driver=False)
                else:
                    ray.init(num_cpus=config.workers, include_dashboard=False, log_to_driver=False)
            except ConnectionError as error:
                raise ExecutorUnavailable(f"cannot reach the Ray cluster at RAY_ADDRESS={address}: {error}") \
                    from None
        actor = ray.remote(_RayEvaluator)
        self._actors: list[Any] = [actor.remote(legs, config) for _ in range(config.workers)]

    def map(self, tasks: Sequence[Task]) -> list[list[dict[str, float]]]:
        futures = [self._actors[index % len(self._actors)].evaluate.remote(task) for index, task in enumerate(tasks)]
        return list(self._ray.get(futures))

    def close(self) -> None:
        for actor in self._actors:
            self._ray.kill(actor)


class _RayEvaluator:
    def __init__(self, legs: Legs, config: ResearchConfig) -> None:
        self._evaluator = Evaluator(legs, config)

    def evaluate(self, task: Task) -> list[dict[str, float]]:
        return self._evaluator.evaluate(task)


def make_executor(legs: Legs, config: ResearchConfig) -> Any:
    kinds: dict[str, type] = {"inline": InlineExecutor, "process": ProcessExecutor, "ray": RayExecutor}
    kind = "inline" if config.executor == "process" and config.workers == 1 else config.executor
    return kinds[kind](legs, config)
