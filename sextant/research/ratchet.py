"""The ratchet: propose → micro-backtest → keep only what is better, and provably not luck.

A candidate is accepted only if all of these hold, checked in this order (the first that fails is its verdict):

1. the crucible: its drawdown stays within `max_drawdown` in every selection window;
2. its selection IR (the mean over the windows) beats the family's current best by `min_improvement_se` standard
   errors of an IR estimate on those windows;
3. it beats hold: its selection IR is above a long position held through the same windows;
4. the sealed holdout, touched only now: drawdown within the limit, and a deflated Sharpe ratio of at least
   `dsr_confidence` with the number of hypotheses tried so far (research/metrics.py).

The best of a family is its last accepted hypothesis (else its baseline, the crew's current settings), so it never
goes down. Each family's baseline is evaluated first. Candidates are proposed in rounds of `screen` from the same
best and screened (research/screen.py: the same rule, a vectorised fill model); the best `batch` by the screen's
selection IR over their family's best are evaluated on Nautilus in parallel and judged one by one in proposal
order, the rest are judged "screened out". Every screened hypothesis is a trial that the deflated Sharpe ratio
counts. The ledger does not depend on the executor or the number of workers (a test holds an inline run and a
two-worker pool to the same ledger).

Data of several instruments (the seeded portfolio, a catalog's instruments): every hypothesis is evaluated on every
instrument, each on its own quotes, terms and base size, split by its own rows. Its selection IR is the mean of its
per-instrument selection IRs, and every rule above is judged on the means (`_across`): an accepted change reaches
the crew member of every instrument the engine trades, so it must pay on the portfolio, not on one instrument
while it loses on the others. So the crucible and the holdout drawdown take the worst instrument; hold's IR is the
mean of hold's; the bar to beat the best is the mean of the instruments' standard errors (at least the standard
error of the mean, however correlated the instruments are); and the deflated Sharpe ratio takes the mean per-period
Sharpe ratio, skew and kurtosis on the shortest instrument's holdout, with the trials counted in hypotheses (one
decision each). With one instrument each mean is that instrument's own value, exactly as before.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sextant.research.config import ResearchConfig
from sextant.research.data import Leg, Quotes, Sized, split_legs
from sextant.research.evaluate import Executor, Phase, Task, make_executor
from sextant.research.families import window_features
from sextant.research.hypothesis import Hypothesis, baseline, mutate, proposal_rng
from sextant.research.ledger import InstrumentResult, Ledger, Row, ScreenResult
from sextant.research.metrics import WindowMetrics, deflated_sharpe, hold_curve, measure

MAX_DUPLICATE_DRAWS = 200


@dataclass(slots=True)
class RunSummary:
    resumed: bool = False
    proposed: int = 0
    judged_now: int = 0  # screened out, or confirmed on Nautilus
    screened_out_now: int = 0
    confirmed_now: int = 0
    accepted_now: int = 0
    seconds: float = 0.0
    best: dict[str, Row] = field(default_factory=dict)
    llm_failures: list[str] = field(default_factory=list)

    @property
    def per_minute(self) -> float:
        return self.judged_now / self.seconds * 60 if self.seconds > 0 else 0.0

    @property
    def confirmed_per_minute(self) -> float:
        return self.confirmed_now / self.seconds * 60 if self.seconds > 0 else 0.0


Proposer = Callable[[Hypothesis, list[Row]], Hypothesis]  # (parent, recent rows) → a validated hypothesis
PerInstrument = list[list[dict[str, float]]]  # a hypothesis's windows' metrics, per instrument in the legs' order


class Ratchet:
    """Research on `data`: one instrument's quotes (traded at `config.base_size`), or several sized instruments."""

    def __init__(self, config: ResearchConfig, data: Quotes | Sequence[Sized], ledger: Ledger, *,
                 executor: Executor | None = None, llm_proposer: Proposer | None = None,
                 on_judged: Callable[[Row], None] | None = None) -> None:
        self.config = config
        self.ledger = ledger
        self.legs: tuple[Leg, ...] = split_legs(data, config.base_size, config.selection_windows,
                                                config.holdout_fraction)
        self._identity = config.identity() | data_identity(data)
        self._executor = executor
        self._llm = llm_proposer
        self._on_judged = on_judged
        holds = [[self._hold(window, leg.base_size) for window in leg.split.selection] for leg in self.legs]
        self.hold_irs = [float(np.mean([metrics.ir for metrics in hold])) for hold in holds]
        self.hold_ir = float(np.mean(self.hold_irs))
        # the standard error of an annualised IR estimate on the selection windows: √(periods a year / periods seen)
        self.min_improvement = float(np.mean([
            config.min_improvement_se * math.sqrt(float(np.mean([m.periods_per_year for m in hold]))
                                                  / sum(m.periods for m in hold))
            for hold in holds]))

    def _hold(self, quotes: Quotes, base_size: float) -> WindowMetrics:
        features = window_features(quotes.ts_ns, quotes.bid, quotes.ask)
        equity = hold_curve(features, float(quotes.ask[0]), base_size, quotes.multiplier, quotes.taker_fee)
        return measure(features, equity, base_size, self.config.period_s, quotes.multiplier)

    # ------------------------------------------------------------------------------------------------ the run

    def run(self, budget: int | None = None) -> RunSummary:
        config = self.config
        budget = config.budget if budget is None else budget
        summary = RunSummary(resumed=not self.ledger.bind(self._identity))
        started = time.perf_counter()
        executor = self._executor or make_executor(self.legs, config)
        try:
            self._evaluate_baselines(executor, summary)
            # An interrupted round: its screen's chosen few still to confirm, or proposals not yet screened.
            pending = [row for row in self.ledger.rows() if not row.judged]
            if chosen := [_hypothesis(row) for row in pending if row.screen is not None]:
                self._confirm(executor, chosen, summary)
            if unscreened := [_hypothesis(row) for row in pending if row.screen is None]:
                self._round(executor, unscreened, summary)
            while (count := self.ledger.counts()["proposed"]) < budget:
                batch = self._propose(min(max(config.screen, config.batch), budget - count), summary)
                if not batch:
                    break  # the neighbourhoods are exhausted
                self._round(executor, batch, summary)
        finally:
            if self._executor is None:
                executor.close()
        summary.seconds = time.perf_counter() - started
        summary.proposed = self.ledger.counts()["proposed"]
        summary.best = {family: row for family in config.families if (row := self.ledger.best(family))}
        return summary

    def _evaluate_baselines(self, executor: Executor, summary: RunSummary) -> None:
        missing = [baseline(family) for family in self.config.families if self.ledger.best(family) is None]
        for hypothesis in missing:
            if not self.ledger.has(hypothesis.id):
                self.ledger.propose(hypothesis.id, hypothesis.family, hypothesis.params, None, "baseline",
                                    hypothesis.rationale)
        unjudged = [h for h in missing if not self.ledger.get(h.id).judged]  # type: ignore[union-attr]
        for hypothesis, per_instrument in zip(unjudged, self._evaluate(executor, unjudged, "selection"),
                                              strict=True):
            irs = [_mean(windows, "ir") for windows in per_instrument]
            self.ledger.judge(hypothesis.id, selection=_across(per_instrument), selection_ir=float(np.mean(irs)),
                              selection_sharpe=_mean_of(per_instrument, "sharpe"), hold_ir=self.hold_ir,
                              holdout=None, dsr=None, best_ir_before=None, verdict="baseline", accepted=False,
                              instruments=self._instruments(irs, None))
            self._judged(hypothesis.id)

    def _evaluate(self, executor: Executor, hypotheses: Sequence[Hypothesis], phase: Phase) -> list[PerInstrument]:
        """Each hypothesis on every instrument (a task each, so that they spread over the workers), in order."""
        n = len(self.legs)
        results = executor.map([Task(h.family, h.params, phase, k) for h in hypotheses for k in range(n)])
        return [results[i * n:(i + 1) * n] for i in range(len(hypotheses))]

    def _instruments(self, irs: list[float], holdouts: list[dict[str, float]] | None) -> list[InstrumentResult]:
        return [InstrumentResult(leg.instrument_id, leg.base_size, ir, hold_ir,
                                 holdouts[k]["ir"] if holdouts is not None else None)
                for k, (leg, ir, hold_ir) in enumerate(zip(self.legs, irs, self.hold_irs, strict=True))]

    def _on(self, per_instrument: Sequence[dict[str, float]], key: str) -> str:
        """Where several instruments were evaluated, which one gave the worst `key`: " on ETH-USDT-SWAP.OKX"."""
        if len(self.legs) == 1:
            return ""
        worst = max(range(len(per_instrument)), key=lambda k: per_instrument[k][key])
        return f" on {self.legs[worst].instrument_id}"

    def _propose(self, count: int, summary: RunSummary) -> list[Hypothesis]:
        """`count` new hypotheses, each written to the ledger before it is evaluated."""
        config = self.config
        batch: list[Hypothesis] = []
        draws = 0
        recent = self.ledger.rows()[-20:]
        while len(batch) < count and draws < MAX_DUPLICATE_DRAWS:
            index = self.ledger.next_proposal_index()
            draws += 1
            rng = proposal_rng(config.seed, index)
            family = config.families[int(rng.integers(len(config.families)))]
            parent = _hypothesis(self.ledger.best(family))  # type: ignore[arg-type]
            child: Hypothesis | None = None
            if self._llm is not None and index % config.llm_every == 0:
                try:
                    child = self._llm(parent, recent)
                except ValueError as error:  # invalid or no answer: said, and a mutation takes the slot
                    summary.llm_failures.append(f"proposal {index}: {error}")
            if child is None:
                try:
                    child = mutate(parent, rng)
                except ValueError:
                    continue
            if self.ledger.has(child.id) or any(h.id == child.id for h in batch):
                continue  # the same parameters are the same hypothesis: never evaluated twice
            self.ledger.propose(child.id, child.family, child.params, child.parent_id, child.origin,
                                child.rationale)
            batch.append(child)
        return batch

    # ------------------------------------------------------------------------------------------------ judging

    def _round(self, executor: Executor, batch: list[Hypothesis], summary: RunSummary) -> None:
        """Screen a round's proposals, judge all but the best `batch` on the screen alone ("screened out"), and
        confirm those on Nautilus, in proposal order. Without a screen (screen ≤ batch), all go to Nautilus."""
        config = self.config
        if config.screen <= config.batch or len(batch) <= config.batch:
            self._confirm(executor, batch, summary)
            return
        irs = [[_mean(windows, "ir") for windows in per_instrument]
               for per_instrument in self._evaluate(executor, batch, "screen")]
        means = [float(np.mean(each)) for each in irs]
        # Ranked by how far each is above its own family's best, which is what it must beat: the families' IRs
        # differ by hundreds, so ranking IRs themselves would only ever send the strongest family on.
        bests = {family: self._best_ir(family) for family in {h.family for h in batch}}
        margins = [means[i] - bests[h.family] if math.isfinite(means[i]) else -math.inf for i, h in enumerate(batch)]
        order = sorted(range(len(batch)), key=lambda i: (-margins[i], i))  # ties: the earlier proposal first
        rank = {i: place + 1 for place, i in enumerate(order)}
        chosen = sorted(order[:config.batch])
        results = [(h.id, ScreenResult(means[i], tuple(irs[i]), rank[i], len(batch)),
                    None if i in chosen else (f"screened out: screen IR {means[i]:.2f} ({margins[i]:+.2f} on its "
                                              f"family's best), rank {rank[i]} of {len(batch)} (the best "
                                              f"{config.batch} went on to Nautilus)"))
                   for i, h in enumerate(batch)]
        self.ledger.record_screen(results, self.hold_ir)
        for i, hypothesis in enumerate(batch):
            if i not in chosen:
                summary.judged_now += 1
                summary.screened_out_now += 1
                self._judged(hypothesis.id)
        self._confirm(executor, [batch[i] for i in chosen], summary)

    def _confirm(self, executor: Executor, batch: list[Hypothesis], summary: RunSummary) -> None:
        """Evaluate on Nautilus and judge, one by one in proposal order: only this can accept."""
        for hypothesis, per_instrument in zip(batch, self._evaluate(executor, batch, "selection"), strict=True):
            accepted = self._judge(executor, hypothesis, per_instrument)
            summary.judged_now += 1
            summary.confirmed_now += 1
            summary.accepted_now += int(accepted)

    def _best_ir(self, family: str) -> float:
        best = self.ledger.best(family)
        return best.selection_ir if best is not None and best.selection_ir is not None else 0.0

    def _judge(self, executor: Executor, hypothesis: Hypothesis, per_instrument: PerInstrument) -> bool:
        config = self.config
        best_ir = self._best_ir(hypothesis.family)
        irs = [_mean(windows, "ir") for windows in per_instrument]
        ir, sharpe = float(np.mean(irs)), _mean_of(per_instrument, "sharpe")  # the decision rule: the means
        selection = _across(per_instrument)
        holdout: dict[str, float] | None = None
        holdouts: list[dict[str, float]] | None = None
        dsr: float | None = None
        worst = max(range(len(selection)), key=lambda i: selection[i]["max_drawdown"])
        if selection[worst]["max_drawdown"] > config.max_drawdown:
            where = self._on([windows[worst] for windows in per_instrument], "max_drawdown")
            verdict = (f"rejected: drawdown {selection[worst]['max_drawdown']:.1%} in selection window {worst + 1}"
                       f"{where} beyond the crucible's {config.max_drawdown:.0%}")
        elif ir < best_ir + self.min_improvement:
            verdict = (f"rejected: selection IR {ir:.2f} does not beat the best {best_ir:.2f} by "
                       f"{self.min_improvement:.2f}")
        elif ir <= self.hold_ir:
            verdict = f"rejected: selection IR {ir:.2f} does not beat hold ({self.hold_ir:.2f})"
        else:
            holdouts = [windows[0] for windows in self._evaluate(executor, [hypothesis], "holdout")[0]]
            holdout = _across([[each] for each in holdouts])[0]
            trials = self.ledger.counts()["judged"] + len(self.config.families) + 1  # baselines and this one
            dsr, benchmark = deflated_sharpe(holdout["sharpe"], int(holdout["periods"]), holdout["skew"],
                                             holdout["kurtosis"], trials)
            holdout["trials"] = float(trials)  # what the deflation counted, for the report
            if holdout["max_drawdown"] > config.max_drawdown:
                verdict = (f"rejected: holdout drawdown {holdout['max_drawdown']:.1%}"
                           f"{self._on(holdouts, 'max_drawdown')} beyond {config.max_drawdown:.0%}")
            elif dsr < config.dsr_confidence:
                verdict = (f"rejected: holdout deflated Sharpe {dsr:.3f} < {config.dsr_confidence:g} (SR "
                           f"{holdout['sharpe']:.3f} vs {benchmark:.3f} expected from {trials} trials of noise)")
            else:
                verdict = (f"accepted: IR {best_ir:.2f} → {ir:.2f} on selection; holdout IR {holdout['ir']:.2f}, "
                           f"deflated Sharpe {dsr:.3f} over {trials} trials")
        accepted = verdict.startswith("accepted")
        self.ledger.judge(hypothesis.id, selection=selection, selection_ir=ir, selection_sharpe=sharpe,
                          hold_ir=self.hold_ir, holdout=holdout, dsr=dsr, best_ir_before=best_ir, verdict=verdict,
                          accepted=accepted, instruments=self._instruments(irs, holdouts))
        self._judged(hypothesis.id)
        return accepted

    def _judged(self, hypothesis_id: str) -> None:
        if self._on_judged is not None:
            row = self.ledger.get(hypothesis_id)
            if row is not None:
                self._on_judged(row)


def _mean(windows: list[dict[str, float]], key: str) -> float:
    return float(np.mean([window[key] for window in windows]))


def _mean_of(per_instrument: PerInstrument, key: str) -> float:
    """The mean over the instruments of each one's mean over its windows."""
    return float(np.mean([_mean(windows, key) for windows in per_instrument]))


def _across(per_instrument: PerInstrument) -> list[dict[str, float]]:
    """Per window, the instruments' metrics as the portfolio's: the mean of each, but the worst drawdown, the
    fewest periods (what a test on them can rest on) and the trades of all. One instrument's are its own."""
    if len(per_instrument) == 1:
        return per_instrument[0]
    rules: dict[str, Callable[[list[float]], float]] = {"max_drawdown": max, "periods": min, "trades": sum}
    return [{key: float(rules.get(key, np.mean)([metrics[key] for metrics in window])) for key in window[0]}
            for window in zip(*per_instrument, strict=True)]


def data_identity(data: Quotes | Sequence[Sized]) -> dict[str, object]:
    """What of the data binds a ledger (with the settings, ResearchConfig.identity): its fingerprint and length, and
    for several instruments each one's id, length and base size, so that no other data set resumes it."""
    if isinstance(data, Quotes):
        return {"data": data.fingerprint(), "quotes": len(data)}
    fingerprints = " ".join(each.quotes.fingerprint() for each in data)
    return {"data": hashlib.sha256(fingerprints.encode()).hexdigest()[:16],
            "quotes": [len(each.quotes) for each in data], "instruments": [each.instrument_id for each in data],
            "base_sizes": [each.base_size for each in data]}


def _hypothesis(row: Row) -> Hypothesis:
    return Hypothesis(id=row.id, family=row.family, params=row.params, parent_id=row.parent_id, origin=row.origin,
                      rationale=row.rationale)


def describe(row: Row) -> str:
    params = ", ".join(f"{name}={value:g}" for name, value in row.params.items())
    return f"{row.id} ({params}): {row.verdict}"
