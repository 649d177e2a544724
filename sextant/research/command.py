"""`sextant research`: the ratchet over a scene or the seeded model, with a progress bar, resume and a report."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import msgspec
from tqdm import tqdm

from sextant.config import ConfigError, SextantConfig, load_llm_config
from sextant.market.catalog import is_catalog
from sextant.market.columns import DataError
from sextant.market.sizing import base_size_worth
from sextant.replay.format import SceneError
from sextant.research.config import ResearchConfig
from sextant.research.data import Quotes, catalog_quotes, model_quotes, planted_momentum, random_walk, scene_quotes
from sextant.research.evaluate import ExecutorUnavailable
from sextant.research.ledger import Ledger, LedgerMismatch, Row
from sextant.research.ratchet import Ratchet, describe
from sextant.research.report import write_report

DEFAULT_MODEL_QUOTES = 400_000  # three 100 k-quote selection windows and a 100 k-quote holdout


def load_quotes(scene: str | None, quotes: int | None, seed: int, market: str = "model", *,
                instrument: str | None = None) -> tuple[Quotes, str]:
    """A scene's quotes, an imported market (a catalog), or a seeded market: the engine's model, or one of the two
    markets with a known answer (noise: nothing to find; planted: a momentum edge to find) that show what the
    ratchet does."""
    if scene and is_catalog(Path(scene)):
        try:
            data = catalog_quotes(Path(scene), instrument, quotes)
        except DataError as error:
            raise ConfigError(str(error)) from None
        what = f"{data.bar_type} bars" if data.bar_type else "quotes"
        return data, f"catalog {scene}: {data.market_instrument().id} ({len(data):,} {what})"
    if instrument:
        raise ConfigError("--instrument chooses among a catalog's instruments: give --scene a catalog folder")
    if scene:
        try:
            data = scene_quotes(Path(scene), quotes)
            data.check_on_tick()
        except (SceneError, DataError) as error:
            raise ConfigError(f"--scene {scene}: {error}") from None
        return data, f"scene {scene} ({len(data):,} quotes)"
    count = quotes or DEFAULT_MODEL_QUOTES
    if market == "noise":
        return random_walk(count, seed), f"a seeded random walk (seed {seed}, {count:,} quotes, pure noise)"
    if market == "planted":
        return (planted_momentum(count, seed),
                f"a random walk with a planted momentum edge (seed {seed}, {count:,} quotes)")
    return model_quotes(count, seed), f"the seeded market model (seed {seed}, {count:,} quotes)"


def run_research(settings: SextantConfig, config: ResearchConfig, *, scene: str | None, quotes: int | None,
                 ledger_path: str | None, report_dir: str | None, progress: bool = True,
                 market: str = "model", instrument: str | None = None) -> int:
    path = Path(ledger_path or settings.research.ledger or "research/ledger.sqlite")
    data, source = load_quotes(scene, quotes, config.seed, market, instrument=instrument)
    if data.instrument is not None:  # an imported instrument: sized by notional (ResearchConfig.base_notional)
        i = data.instrument
        size = base_size_worth(config.base_notional, float(data.bid[0] + data.ask[0]) / 2,
                               i.size_increment.as_double(), i.multiplier.as_double())
        config = msgspec.structs.replace(config, base_size=size)
        source += f", base size {size:g}"
    # a window needs enough rows to rank on: a thousand quotes, or a year of daily bars
    if len(data) < (250 if data.bars is not None else 1_000) * (config.selection_windows + 1):
        raise ConfigError(f"{source}: too few quotes for {config.selection_windows} selection windows and a holdout")
    ledger = Ledger(path)
    proposer = None
    if config.proposer == "llm":
        from sextant.research.llm_proposals import LlmProposer

        proposer = LlmProposer(load_llm_config(settings.llm.config),
                               lambda family: getattr(ledger.best(family), "selection_ir", None))
    print(f"sextant research: {source}; ledger {path}; {config.executor} executor, {config.workers} worker(s)",
          flush=True)
    counts = ledger.counts()
    done, total = progress_span(counts, config.budget)
    bar = tqdm(total=total, initial=done, unit="hyp", disable=not progress, file=sys.stderr, dynamic_ncols=True,
               desc="research")

    def judged(row: Row) -> None:
        if row.verdict == "baseline":
            bar.write(f"baseline {describe(row)} (selection IR {row.selection_ir:.2f})")
            return
        bar.update(1)
        if row.accepted:
            bar.write(f"ACCEPTED {describe(row)}")
        bar.set_postfix(accepted=ledger.counts()["accepted"])

    ratchet = Ratchet(config, data, ledger, llm_proposer=proposer, on_judged=judged)
    try:
        summary = ratchet.run()
    except (LedgerMismatch, ExecutorUnavailable) as error:
        bar.close()
        print(f"sextant research: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        bar.close()
        print(f"\nsextant research: interrupted; {ledger.counts()['judged']} hypotheses are judged in {path}. "
              f"Run the same command to resume.", file=sys.stderr)
        return 130
    finally:
        bar.close()
    if summary.resumed:
        print(f"resumed the ledger at {path}")
    for failure in summary.llm_failures:
        print(f"LLM proposal not used: {failure}")
    print(f"{summary.judged_now} hypotheses judged in {summary.seconds:.1f} s ({summary.per_minute:.1f} a minute), "
          f"{summary.accepted_now} accepted; the ledger holds {summary.proposed} (budget {config.budget}).")
    for family, row in summary.best.items():
        marker = "baseline" if row.verdict == "baseline" else "accepted"
        print(f"  best {family:<15} IR {row.selection_ir:9.2f}  ({marker}) {row.id}")
    out = Path(report_dir) if report_dir else path.parent / "report"
    report = write_report(ledger, ratchet.split, config, out, source=source)
    print(f"report: {report} (+ ir_evolution.png, equity.png)")
    ledger.close()
    return 0


def progress_span(counts: dict[str, int], budget: int) -> tuple[int, int]:
    """Where the progress bar starts and ends: at the hypotheses judged, not proposed (a resumed run judges the
    proposals the last one left unjudged, each a step), up to the budget (or the ledger, if it holds more)."""
    return counts["judged"], max(budget, counts["proposed"])


def default_workers() -> int:
    return max(1, min(4, (os.cpu_count() or 2)))
