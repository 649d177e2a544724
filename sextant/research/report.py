"""The research report: Markdown, with PNG plots of the IR evolution, of the equity curves of each family's best
against its baseline and against hold across the selection windows and the sealed holdout (in the data's own time),
and of the screen's IR against Nautilus' for every hypothesis both evaluated. On data of several instruments, the
IRs the ratchet judged on are means over the instruments: the report shows each instrument's beside them (hold's,
and each family's baseline and best), and the equity curves of each."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np

from sextant.research.backtest import WindowBacktester
from sextant.research.config import ResearchConfig
from sextant.research.data import Leg
from sextant.research.families import FAMILIES
from sextant.research.ledger import Ledger, Row
from sextant.research.metrics import equity_curve, hold_curve

COLOURS = {"momentum": "#2f80ed", "mean_reversion": "#27ae60", "breakout": "#f2994a", "vol_target": "#9b51e0",
           "dual_momentum": "#eb5757"}


def write_report(ledger: Ledger, legs: Sequence[Leg], config: ResearchConfig, out: Path, *, source: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    rows = [row for row in ledger.rows() if row.judged]
    _plot_ir(rows, out / "ir_evolution.png")
    families = [family for family in config.families if ledger.best(family) is not None]
    _plot_equity(ledger, families, legs, config, out / "equity.png")
    _plot_screen(rows, out / "screen.png")
    path = out / "report.md"
    path.write_text(_markdown(ledger, rows, families, config, source, [leg.instrument_id for leg in legs]))
    return path


def _plot_ir(rows: list[Row], path: Path) -> None:
    figure, axes = plt.subplots(figsize=(10, 4.5), dpi=110)
    for family in sorted({row.family for row in rows}):
        mine = [row for row in rows if row.family == family and row.selection_ir is not None]
        tried = [row for row in mine if row.verdict != "baseline"]
        colour = COLOURS.get(family, "#555555")
        # `mine` holds only rows with a selection IR
        axes.scatter([row.seq for row in tried], cast("list[float]", [row.selection_ir for row in tried]), s=10,
                     color=colour, alpha=0.35)
        best_seq, best_ir = [], []
        current = None
        for row in mine:
            if row.verdict == "baseline" or row.accepted:
                current = row.selection_ir
            if current is not None:
                best_seq.append(row.seq)
                best_ir.append(current)
        axes.step(best_seq, best_ir, where="post", color=colour, linewidth=2, label=f"{family} best")
        accepted = [row for row in mine if row.accepted]
        axes.scatter([row.seq for row in accepted], cast("list[float]", [row.selection_ir for row in accepted]),
                     s=60, marker="*", color=colour, edgecolor="black", zorder=5)
    axes.set_xlabel("hypothesis (proposal order)")
    axes.set_ylabel("selection IR (annualised)")
    axes.set_title("IR evolution: every hypothesis (dots), each family's best (line), accepted (stars)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="best")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _plot_equity(ledger: Ledger, families: list[str], legs: Sequence[Leg], config: ResearchConfig,
                 path: Path) -> None:
    """A row per family, a column per instrument (each at its own base size)."""
    figure, all_axes = plt.subplots(len(families), len(legs), figsize=(10 * (1 + (len(legs) - 1) / 2),
                                                                       2.6 * max(1, len(families))), dpi=110,
                                    squeeze=False)
    try:
        for column, leg in enumerate(legs):
            _plot_leg(ledger, families, leg, config, all_axes[:, column], several=len(legs) > 1)
            all_axes[-1, column].set_xlabel("time (UTC)")
        figure.autofmt_xdate()
        figure.tight_layout()
        figure.savefig(path)
    finally:
        plt.close(figure)


def _plot_leg(ledger: Ledger, families: list[str], leg: Leg, config: ResearchConfig, column: np.ndarray, *,
              several: bool) -> None:
    split, size = leg.split, leg.base_size
    windows = [WindowBacktester(quotes) for quotes in (*split.selection, split.holdout)]
    times = np.concatenate([w.features.end_ns for w in windows]).astype("datetime64[ns]")
    try:
        for axes, family in zip(column, families, strict=True):
            best = ledger.best(family)
            base = next(row for row in ledger.rows() if row.family == family and row.verdict == "baseline")
            for label, params, style in (("best", best.params if best else base.params, "-"),
                                         ("baseline", base.params, "--")):
                curve = _concatenated(windows, lambda w, p=params, f=FAMILIES[family]: equity_curve(
                    w.features, w.run(f.targets(w.features, p, config.cooldown_secs), size), w.quotes.multiplier))
                axes.plot(times, curve, style, label=label, color=COLOURS.get(family, "#333333"))
            hold = _concatenated(windows, lambda w: hold_curve(w.features, float(w.quotes.ask[0]), size,
                                                               w.quotes.multiplier, w.quotes.taker_fee))
            axes.plot(times, hold, ":", color="#777777", label="hold")
            holdout = windows[-1].features.end_ns
            axes.axvspan(*(np.array([holdout[0], holdout[-1]]).astype("datetime64[ns]")), color="#f2c94c",
                         alpha=0.15, label="holdout")
            currency = split.holdout.market_instrument().get_settlement_currency().code
            on = f" on {leg.instrument_id}" if several else ""
            axes.set_title(f"{family}{on}: equity ({currency}), windows end to end", fontsize=9)
            axes.grid(alpha=0.3)
            axes.legend(fontsize=7, loc="upper left")
    finally:
        for window in windows:
            window.dispose()


def _plot_screen(rows: list[Row], path: Path) -> None:
    """The screen's selection IR against Nautilus' for each hypothesis the screen sent on, by family."""
    both = _screened_and_confirmed(rows)
    figure, axes = plt.subplots(figsize=(6, 5.5), dpi=110)
    try:
        for family in sorted({family for family, _, _ in both}):
            mine = [(screen, nautilus) for name, screen, nautilus in both if name == family]
            axes.scatter([screen for screen, _ in mine], [nautilus for _, nautilus in mine], s=14,
                         color=COLOURS.get(family, "#555555"), label=family)
        if both:
            values = [value for _, screen, nautilus in both for value in (screen, nautilus)]
            axes.plot([min(values), max(values)], [min(values), max(values)], color="#999999", linewidth=1,
                      label="equal")
            axes.legend(fontsize=8, loc="best")
        axes.set_xlabel("screen's selection IR")
        axes.set_ylabel("Nautilus' selection IR")
        axes.set_title(f"screen against Nautilus: {len(both)} hypotheses" if both else "no hypothesis was screened")
        axes.grid(alpha=0.3)
        figure.tight_layout()
        figure.savefig(path)
    finally:
        plt.close(figure)


def _screened_and_confirmed(rows: list[Row]) -> list[tuple[str, float, float]]:
    """(family, the screen's IR, Nautilus' IR) of each hypothesis both evaluated."""
    return [(row.family, row.screen.ir, row.selection_ir) for row in rows
            if row.screen is not None and row.selection_ir is not None]


def _concatenated(windows: list[WindowBacktester], curve_of: object) -> np.ndarray:
    """Each window's curve continued from where the previous one ended."""
    parts, offset = [], 0.0
    for window in windows:
        curve = curve_of(window)  # type: ignore[operator]
        parts.append(curve + offset)
        offset += float(curve[-1])
    return np.concatenate(parts)


def _markdown(ledger: Ledger, rows: list[Row], families: list[str], config: ResearchConfig, source: str,
              instruments: list[str]) -> str:
    counts = ledger.counts()
    reasons = Counter(_reason(row.verdict or "") for row in rows if row.verdict != "baseline")
    lines = ["# Sextant research report", "",
             (f"Data: {source}. Walk-forward: {config.selection_windows} selection windows, then a sealed holdout "
              f"({config.holdout_fraction:.0%}). Seed {config.seed}."), "",
             (f"Hypotheses: {counts['proposed']} proposed, {counts['judged']} judged "
              f"({sum(row.screened_out for row in rows)} screened out, "
              f"{sum(not row.screened_out and row.verdict != 'baseline' for row in rows)} confirmed on Nautilus), "
              f"**{counts['accepted']} accepted**."),
             "", "| verdict | count |", "| --- | ---: |"]
    lines += [f"| {reason} | {count} |" for reason, count in reasons.most_common()]
    hold_ir = next((row.hold_ir for row in rows if row.hold_ir is not None), None)
    if hold_ir is not None:  # the bar every hypothesis must clear ("below hold")
        mean = f" (the mean over the {len(instruments)} instruments)" if len(instruments) > 1 else ""
        lines += ["", f"Hold (one base size long through each selection window): selection IR **{hold_ir:.2f}**{mean}."]
    lines += ["", "## Families", "",
              "| family | baseline IR | best IR | best parameters | holdout IR | deflated Sharpe | trials |",
              "| --- | ---: | ---: | --- | ---: | ---: | ---: |"]
    if hold_ir is not None:
        lines.append(f"| hold | — | {hold_ir:.2f} | one base size long | — | — | — |")
    for family in families:
        best = ledger.best(family)
        base = next((row for row in rows if row.family == family and row.verdict == "baseline"), None)
        if best is None or base is None:
            continue
        params = ", ".join(f"{name}={value:g}" for name, value in best.params.items())
        holdout = f"{best.holdout['ir']:.2f}" if best.holdout else "—"
        dsr = f"{best.dsr:.3f}" if best.dsr is not None else "—"
        trials = f"{best.holdout['trials']:.0f}" if best.holdout and "trials" in best.holdout else "—"
        lines.append(f"| {family} | {base.selection_ir:.2f} | {best.selection_ir:.2f} | {params} | {holdout} | {dsr} "
                     f"| {trials} |")
    if len(instruments) > 1:
        lines += _instrument_table(ledger, rows, families, instruments)
    accepted = [row for row in rows if row.accepted]
    lines += ["", "## Accepted", ""]
    lines += [f"- `{row.id}` (parent `{row.parent_id}`, {row.origin}): {row.verdict}" for row in accepted] or ["None."]
    lines += _screen_section(rows)
    lines += ["", "## Plots", "", "![IR evolution](ir_evolution.png)", "", "![Equity curves](equity.png)", "",
              "![Screen against Nautilus](screen.png)", ""]
    return "\n".join(lines)


def _screen_section(rows: list[Row]) -> list[str]:
    """How far the screen's IR was from Nautilus' on the hypotheses both evaluated: what its ranking is worth."""
    both = _screened_and_confirmed(rows)
    lines = ["", "## Screen against Nautilus", ""]
    if len(both) < 3:
        return [*lines, f"{len(both)} hypotheses were both screened and evaluated on Nautilus: too few to compare."]
    screen = np.array([ir for _, ir, _ in both])
    nautilus = np.array([ir for _, _, ir in both])
    ranks = np.corrcoef(np.argsort(np.argsort(screen)), np.argsort(np.argsort(nautilus)))[0, 1]
    difference = np.abs(screen - nautilus)
    return [*lines, (f"{len(both)} hypotheses both screened and evaluated on Nautilus: rank correlation "
                     f"{ranks:.3f}, IR difference median {np.median(difference):.3f}, largest "
                     f"{np.max(difference):.3f}. Only Nautilus' result can accept.")]


def _instrument_table(ledger: Ledger, rows: list[Row], families: list[str], instruments: list[str]) -> list[str]:
    """Selection IR per instrument and their mean (what the ratchet judged on), for hold and each family's baseline
    and best, with each instrument's base size."""
    lines = ["", "## Instruments", "",
             ("Every hypothesis is evaluated on every instrument; its selection IR is the mean of the instruments' "
              "(a change reaches the crew of each, so it must pay on the portfolio)."), "",
             "| selection IR | " + " | ".join(instruments) + " | mean |",
             "| --- |" + " ---: |" * (len(instruments) + 1)]
    results = next((row.instruments for row in rows if row.instruments), ())
    width = len(instruments)
    lines.append(_line("base size", [f"{each.base_size:g}" for each in results], "", width))
    lines.append(_line("hold", [f"{each.hold_ir:.2f}" for each in results], _ir(rows[0].hold_ir if rows else None),
                       width))
    for family in families:
        base = next((row for row in rows if row.family == family and row.verdict == "baseline"), None)
        for label, row in ((f"{family} baseline", base), (f"{family} best", ledger.best(family))):
            if row is not None:
                lines.append(_line(label, [f"{each.selection_ir:.2f}" for each in row.instruments],
                                   _ir(row.selection_ir), width))
    return lines


def _line(label: str, cells: list[str], mean: str, width: int) -> str:
    """A table line of `width` instruments' cells (dashes where the row has none: a ledger of an older Sextant)."""
    return "| " + " | ".join([label, *(cells or ["—"] * width), mean]) + " |"


def _ir(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "—"


def _reason(verdict: str) -> str:
    if verdict.startswith("accepted"):
        return "accepted"
    for marker, name in (("screened out", "screened out"),
                         ("crucible", "drawdown in a selection window"), ("does not beat the best", "below the best"),
                         ("does not beat hold", "below hold"), ("holdout drawdown", "holdout drawdown"),
                         ("deflated", "holdout deflated Sharpe too low")):
        if marker in verdict:
            return name
    return verdict
