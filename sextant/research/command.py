"""`sextant research`: the ratchet over a scene, a catalog or the seeded model (or portfolio model), with a progress
bar, resume and a report. Data of several instruments (--portfolio, or a catalog of several without --instrument)
is researched on all of them at once: the bar and the throughput count hypotheses, each evaluated on every one."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec
from tqdm import tqdm

from sextant.config import ConfigError, SextantConfig, load_llm_config
from sextant.market.catalog import is_catalog
from sextant.market.columns import DataError
from sextant.replay.format import SceneError
from sextant.research.config import ResearchConfig
from sextant.research.data import (
    Quotes,
    Sized,
    catalog_instruments,
    catalog_quotes,
    model_quotes,
    planted_momentum,
    portfolio_quotes,
    random_walk,
    scene_quotes,
    sized_by_notional,
)
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
        return data, f"catalog {scene}: {data.market_instrument().id} ({len(data):,} {_rows(data)})"
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


def load_instruments(scene: str | None, quotes: int | None, seed: int, market: str = "model", *,
                     instrument: str | None = None,
                     portfolio: Sequence[str] | None = None) -> tuple[tuple[Quotes, ...], str] | None:
    """The quotes of each instrument where the data has several: the seeded portfolio model (`portfolio`: its
    instrument ids), or every instrument of a catalog that holds several (no --instrument, or `all`). None where
    the data is one instrument's (load_quotes)."""
    catalog = bool(scene) and is_catalog(Path(scene or ""))
    if portfolio:
        if scene or instrument or market != "model":
            raise ConfigError("--portfolio researches the seeded portfolio model: give no --scene, --instrument or "
                              "--market (a catalog of several instruments is researched on all of them when "
                              "--instrument is not given)")
        count = quotes or DEFAULT_MODEL_QUOTES
        try:
            data = portfolio_quotes(count, seed, portfolio)
        except ValueError as error:
            raise ConfigError(f"--portfolio: {error}") from None
        names = ", ".join(str(each.market_instrument().id) for each in data)
        return data, f"the seeded portfolio model (seed {seed}, {count:,} quotes of each of {names})"
    if instrument == "all" and not catalog:
        raise ConfigError("--instrument all researches every instrument of a catalog: give --scene a catalog folder")
    if not catalog or instrument not in (None, "all"):
        return None
    path = Path(scene or "")
    ids = catalog_instruments(path)
    if len(ids) < 2:
        return None
    try:
        data = tuple(catalog_quotes(path, instrument_id, quotes) for instrument_id in ids)
    except DataError as error:
        raise ConfigError(str(error)) from None
    kinds = ", ".join(f"{each.market_instrument().id} ({len(each):,} {_rows(each)})" for each in data)
    return data, f"catalog {scene}: {len(data)} instruments, {kinds}"


def _rows(data: Quotes) -> str:
    return f"{data.bar_type} bars" if data.bar_type else "quotes"


def run_research(settings: SextantConfig, config: ResearchConfig, *, scene: str | None, quotes: int | None,
                 ledger_path: str | None, report_dir: str | None, progress: bool = True,
                 market: str = "model", instrument: str | None = None, portfolio: Sequence[str] | None = None) -> int:
    path = Path(ledger_path or settings.research.ledger or "research/ledger.sqlite")
    several = load_instruments(scene, quotes, config.seed, market, instrument=instrument, portfolio=portfolio)
    data: Quotes | tuple[Sized, ...]
    if several is None:
        one, source = load_quotes(scene, quotes, config.seed, market,
                                  instrument=None if instrument == "all" else instrument)
        if one.instrument is not None:  # an imported instrument: sized by notional (ResearchConfig.base_notional)
            size = one.notional_base_size(config.base_notional)
            config = msgspec.structs.replace(config, base_size=size)
            source += f", base size {size:g}"
        data, markets = one, [one]
    else:  # each instrument sized by notional: a hypothesis risks about the same on each
        markets = list(several[0])
        data = sized_by_notional(markets, config.base_notional)
        source = several[1] + "; base sizes " + ", ".join(f"{each.base_size:g}" for each in data)
    # a window needs enough rows to rank on: a thousand quotes, or a year of daily bars
    if any(len(each) < (250 if each.bars is not None else 1_000) * (config.selection_windows + 1) for each in markets):
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

    stages = {"screened out": 0, "confirmed": 0}

    def judged(row: Row) -> None:  # once a hypothesis, however many instruments it was evaluated on
        if row.verdict == "baseline":
            bar.write(f"baseline {describe(row)} (selection IR {row.selection_ir:.2f}{each_instrument(row)})")
            return
        bar.update(1)
        stages["screened out" if row.screened_out else "confirmed"] += 1
        if row.accepted:
            bar.write(f"ACCEPTED {describe(row)}{each_instrument(row)}")
        bar.set_postfix(screened_out=stages["screened out"], confirmed=stages["confirmed"],
                        accepted=ledger.counts()["accepted"])

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
    each = f" (each on {len(ratchet.legs)} instruments)" if len(ratchet.legs) > 1 else ""
    print(f"{summary.judged_now} hypotheses judged{each} in {summary.seconds:.1f} s ({summary.per_minute:.1f} a "
          f"minute): {summary.screened_out_now} screened out, {summary.confirmed_now} confirmed on Nautilus "
          f"({summary.confirmed_per_minute:.1f} a minute), {summary.accepted_now} accepted; the ledger holds "
          f"{summary.proposed} (budget {config.budget}).")
    for family, row in summary.best.items():
        marker = "baseline" if row.verdict == "baseline" else "accepted"
        print(f"  best {family:<15} IR {row.selection_ir:9.2f}  ({marker}) {row.id}")
    if len(ratchet.legs) > 1:  # the means above, instrument by instrument
        for k, leg in enumerate(ratchet.legs):
            irs = ", ".join(f"{family} {row.instruments[k].selection_ir:.2f}" for family, row in summary.best.items()
                            if len(row.instruments) > k)
            print(f"  on {leg.instrument_id} (base size {leg.base_size:g}): hold IR {ratchet.hold_irs[k]:.2f}; "
                  f"best {irs}")
    out = Path(report_dir) if report_dir else path.parent / "report"
    report = write_report(ledger, ratchet.legs, config, out, source=source)
    print(f"report: {report} (+ ir_evolution.png, equity.png, screen.png)")
    ledger.close()
    return 0


def each_instrument(row: Row) -> str:
    """A row's IR on each instrument, where it was evaluated on several: "; BTC-USDT-SWAP.OKX 1.20, ..."."""
    if len(row.instruments) < 2:
        return ""
    return "; " + ", ".join(f"{each.instrument} {each.selection_ir:.2f}" for each in row.instruments)


def progress_span(counts: dict[str, int], budget: int) -> tuple[int, int]:
    """Where the progress bar starts and ends: at the hypotheses judged, not proposed (a resumed run judges the
    proposals the last one left unjudged, each a step), up to the budget (or the ledger, if it holds more)."""
    return counts["judged"], max(budget, counts["proposed"])


def default_workers() -> int:
    return max(1, min(4, (os.cpu_count() or 2)))
