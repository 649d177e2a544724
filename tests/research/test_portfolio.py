"""Research on data of several instruments: every hypothesis is evaluated on every instrument (each on its own
quotes, tick, contracts, fees and base size) and judged on the mean of their IRs, which the ledger keeps beside
each instrument's, and the report and the console show instrument by instrument. One instrument's research is
what it always was (the other research tests, unchanged)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec
import numpy as np
import pytest

from sextant.research.backtest import WindowBacktester
from sextant.research.command import load_instruments
from sextant.research.config import ResearchConfig
from sextant.research.data import Quotes, Sized, portfolio_quotes, sized_by_notional
from sextant.research.evaluate import Task
from sextant.research.hypothesis import baseline
from sextant.research.ledger import MIGRATIONS, SCHEMA, Ledger, LedgerMismatch, Row
from sextant.research.ratchet import Ratchet
from sextant.research.report import write_report

REPO = Path(__file__).resolve().parents[2]
BTC, ETH, SOL = "BTC-USDT-SWAP.OKX", "ETH-USDT-SWAP.OKX", "SOL-USDT-SWAP.OKX"
FAMILIES = ("momentum", "dual_momentum")


def portfolio(count: int = 6_000, ids: Sequence[str] = (BTC, ETH, SOL), seed: int = 7) -> tuple[Sized, ...]:
    return sized_by_notional(portfolio_quotes(count, seed, ids), ResearchConfig().base_notional)


class Run:
    """A small research run on three swaps of the portfolio model, and what it told its listener."""

    def __init__(self, path: Path) -> None:
        self.data = portfolio()
        self.config = ResearchConfig(budget=6, executor="inline", workers=1, families=FAMILIES, seed=3)
        self.ledger = Ledger(path / "ledger.sqlite")
        self.told: list[str] = []
        self.ratchet = Ratchet(self.config, self.data, self.ledger, on_judged=lambda row: self.told.append(row.id))
        self.summary = self.ratchet.run()
        self.report = write_report(self.ledger, self.ratchet.legs, self.config, path / "report", source="three swaps")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return Run(tmp_path_factory.mktemp("portfolio"))


def test_each_instrument_is_sized_by_notional_at_its_own_first_price(run: Run) -> None:
    # 1,000 USDT at about 60,000, 3,000 and 150: 1.67 BTC contracts of 0.01, 3.33 ETH of 0.1, 6.67 SOL of 1
    assert [(each.instrument_id, each.base_size) for each in run.data] == [(BTC, 1.67), (ETH, 3.33), (SOL, 6.67)]
    assert [leg.base_size for leg in run.ratchet.legs] == [1.67, 3.33, 6.67]


def test_every_hypothesis_row_has_an_ir_per_instrument_and_its_selection_ir_is_their_mean(run: Run) -> None:
    rows = run.ledger.rows()
    assert len(rows) == len(FAMILIES) + 6 and all(row.judged for row in rows)
    screened_out = [row for row in rows if row.screened_out]
    assert len(screened_out) == 2, "a round of 6: the screen's best 4 confirmed on Nautilus"
    for row in screened_out:  # the screen's IR is the mean of its IRs on the three, too
        assert row.screen is not None and len(set(row.screen.irs)) == 3
        assert row.screen.ir == float(np.mean(row.screen.irs)) and row.selection_ir is None
    for row in (row for row in rows if not row.screened_out):
        assert [each.instrument for each in row.instruments] == [BTC, ETH, SOL]
        assert row.selection_ir == float(np.mean([each.selection_ir for each in row.instruments]))
        assert row.hold_ir == float(np.mean([each.hold_ir for each in row.instruments])) == run.ratchet.hold_ir
        assert len({each.selection_ir for each in row.instruments}) == 3, "three markets, three results"
        reached_holdout = row.holdout is not None
        assert all((each.holdout_ir is not None) == reached_holdout for each in row.instruments)
    # the selection windows the row keeps are the instruments' taken together: the worst drawdown of any
    assert all(len(row.selection or []) == run.config.selection_windows for row in rows if not row.screened_out)


def test_an_instruments_ir_is_the_ir_research_gives_that_instrument_alone(run: Run, tmp_path: Path) -> None:
    for k, each in enumerate(run.data):
        alone = Ledger(tmp_path / f"{k}.sqlite")
        config = ResearchConfig(budget=0, executor="inline", workers=1, families=FAMILIES, seed=3,
                                base_size=each.base_size)
        Ratchet(config, each.quotes, alone).run()
        for row in alone.rows():  # the baselines
            together = run.ledger.get(row.id)
            assert together is not None and together.instruments[k].selection_ir == row.selection_ir
            assert together.instruments[k].hold_ir == row.hold_ir


def test_the_progress_listener_hears_of_each_hypothesis_once_however_many_instruments(run: Run) -> None:
    assert sorted(run.told) == sorted(row.id for row in run.ledger.rows())
    assert run.summary.judged_now == 6 and run.ledger.counts()["judged"] == 6


def test_the_report_shows_each_instruments_ir_for_hold_and_each_familys_baseline_and_best(run: Run) -> None:
    text = run.report.read_text()
    assert "| selection IR | BTC-USDT-SWAP.OKX | ETH-USDT-SWAP.OKX | SOL-USDT-SWAP.OKX | mean |" in text
    assert "| base size | 1.67 | 3.33 | 6.67 |  |" in text
    hold = " | ".join(f"{ir:.2f}" for ir in (*run.ratchet.hold_irs, run.ratchet.hold_ir))
    assert f"| hold | {hold} |" in text
    for family in FAMILIES:
        best = run.ledger.best(family)
        assert best is not None
        cells = " | ".join(f"{each.selection_ir:.2f}" for each in best.instruments)
        assert f"| {family} best | {cells} | {best.selection_ir:.2f} |" in text
        assert f"| {family} baseline | " in text
    assert (run.report.parent / "equity.png").stat().st_size > 10_000


def test_a_resumed_portfolio_run_goes_on_and_evaluates_nothing_twice(run: Run, tmp_path: Path) -> None:
    config = ResearchConfig(budget=3, executor="inline", workers=1, families=FAMILIES, seed=3)
    ledger = Ledger(tmp_path / "ledger.sqlite")
    Ratchet(config, run.data, ledger).run()
    first = {row.id: row for row in ledger.rows()}
    summary = Ratchet(msgspec.structs.replace(config, budget=6), run.data, ledger).run()
    assert summary.resumed and summary.judged_now == 3 and ledger.counts()["judged"] == 6
    assert all(row.evaluations == 1 and len(row.instruments) == 3 for row in ledger.rows())
    assert all(ledger.get(hypothesis_id) == row for hypothesis_id, row in first.items())


def test_a_portfolio_ledger_refuses_other_instruments_and_the_single_instruments_data(run: Run) -> None:
    config = msgspec.structs.replace(run.config, budget=0)
    for other in (portfolio(ids=(BTC, ETH)), portfolio(seed=8), run.data[0].quotes):
        with pytest.raises(LedgerMismatch, match="was started with other"):
            Ratchet(config, other, run.ledger).run()
    resized = tuple(Sized(each.quotes, each.base_size * 2) for each in run.data)
    with pytest.raises(LedgerMismatch, match="base_sizes"):
        Ratchet(config, resized, run.ledger).run()


# ------------------------------------------------------------------------------------- the rule, on set results


def window(ir: float, *, sharpe: float = 0.0, drawdown: float = 0.01) -> dict[str, float]:
    return {"ir": ir, "sharpe": sharpe, "periods": 1_000.0, "total_return": 0.0, "max_drawdown": drawdown,
            "turnover": 1.0, "trades": 4.0, "skew": 0.0, "kurtosis": 3.0}


class Scripted:
    """An executor with set results: the n-th new hypothesis gets `script[n]`, a (selection, holdout) per
    instrument; the baseline an IR of 0 everywhere."""

    def __init__(self, script: list[list[tuple[dict[str, float], dict[str, float]]]], windows: int) -> None:
        self.script = script
        self.windows = windows
        self.seen: list[str] = []
        self.tasks: list[Task] = []

    def map(self, tasks: Sequence[Task]) -> list[list[dict[str, float]]]:
        self.tasks += tasks
        return [self._result(task) for task in tasks]

    def _result(self, task: Task) -> list[dict[str, float]]:
        if task.params == baseline(task.family).params:
            return [window(0.0)] * (self.windows if task.phase == "selection" else 1)
        key = json.dumps(task.params, sort_keys=True)
        if key not in self.seen:
            self.seen.append(key)
        selection, holdout = self.script[self.seen.index(key)][task.instrument]
        if task.phase == "holdout":
            return [holdout]
        return [selection if w == self.windows - 1 else window(selection["ir"]) for w in range(self.windows)]

    def close(self) -> None:
        pass


def test_a_change_must_pay_on_the_mean_of_the_instruments_not_on_one() -> None:
    data = portfolio(4_000, ids=(BTC, ETH))
    config = ResearchConfig(budget=4, batch=4, executor="inline", workers=1, families=("momentum",), seed=3)
    ledger = Ledger(":memory:")
    probe = Ratchet(config, data, ledger)
    bar = max(probe.min_improvement, probe.hold_ir) + 10  # what a selection IR must clear from a best of 0
    strong, weak = window(0.0, sharpe=0.5), window(0.0, sharpe=-0.5)
    executor = Scripted([
        [(window(4 * bar), strong), (window(-4 * bar), strong)],  # great on BTC, as bad on ETH: a mean of 0
        [(window(3 * bar), strong), (window(0.0), strong)],  # pays on BTC, costs nothing on ETH: a mean of 1.5
        [(window(9 * bar), strong), (window(9 * bar, drawdown=0.2), strong)],  # a drawdown on ETH alone
        [(window(6 * bar), strong), (window(6 * bar), weak)],  # selection passes; holdout Sharpe means 0
    ], config.selection_windows)
    summary = Ratchet(config, data, ledger, executor=executor).run()
    verdicts = [row.verdict or "" for row in ledger.rows() if row.verdict != "baseline"]
    assert verdicts[0].startswith("rejected: selection IR 0.00 does not beat the best 0.00")
    assert verdicts[1].startswith("accepted: IR 0.00 → ")
    assert verdicts[2] == f"rejected: drawdown 20.0% in selection window 3 on {ETH} beyond the crucible's 10%"
    assert verdicts[3].startswith("rejected: holdout deflated Sharpe 0.")
    assert summary.accepted_now == 1
    accepted = next(row for row in ledger.rows() if row.accepted)
    assert accepted.selection_ir == pytest.approx(1.5 * bar)
    assert [each.holdout_ir for each in accepted.instruments] == [0.0, 0.0]
    # every instrument of every hypothesis was a task of its own, the holdout only for those that reached it
    assert {(task.phase, task.instrument) for task in executor.tasks} == {
        (phase, k) for phase in ("selection", "holdout") for k in (0, 1)}


# ------------------------------------------------------------------------------------- a catalog of several


def quotes_csv(path: Path, start: float, tick: float, seed: int, count: int = 5_000) -> Path:
    """Quotes a second, a tick wide, on `tick`'s grid."""
    rng = np.random.default_rng(seed)
    bid = np.round(start * np.exp(np.cumsum(rng.normal(0, 2e-4, count))) / tick) * tick
    digits = len(f"{tick:f}".rstrip("0").split(".")[1])
    lines = [f"{1_700_000_000 + n},{b:.{digits}f},{b + tick:.{digits}f},100,100" for n, b in enumerate(bid)]
    path.write_text("ts,bid,ask,bid_size,ask_size\n" + "\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sextant.market.importer import InstrumentTerms, import_data

    root = tmp_path_factory.mktemp("several")
    import_data(quotes_csv(root / "EURUSD.csv", 1.08, 0.00001, 1), root / "catalog",
                InstrumentTerms(taker_fee=0.00002))
    import_data(quotes_csv(root / "ACME.csv", 250.0, 0.01, 2), root / "catalog",
                InstrumentTerms(instrument_id="ACME.NASDAQ", kind="equity", taker_fee=0.0005))
    return root / "catalog"


def test_a_catalog_of_several_is_researched_on_all_of_them_unless_one_is_chosen(catalog: Path) -> None:
    for instrument in (None, "all"):
        loaded = load_instruments(str(catalog), None, 7, instrument=instrument)
        assert loaded is not None
        data, source = loaded
        assert [str(each.market_instrument().id) for each in data] == ["EURUSD.SIM", "ACME.NASDAQ"]
        assert source.endswith("2 instruments, EURUSD.SIM (5,000 quotes), ACME.NASDAQ (5,000 quotes)")
    assert load_instruments(str(catalog), None, 7, instrument="ACME.NASDAQ") is None  # one: as it always was


def test_the_portfolio_model_is_researched_alone_and_on_swaps_it_models(catalog: Path) -> None:
    from sextant.config import ConfigError

    with pytest.raises(ConfigError, match=r"--portfolio: the portfolio model has no DOGE-USDT-SWAP\.OKX"):
        load_instruments(None, 5_000, 7, portfolio=[BTC, "DOGE-USDT-SWAP.OKX"])
    for other in ({"scene": str(catalog)}, {"market": "planted"}, {"instrument": BTC}):
        with pytest.raises(ConfigError, match="--portfolio researches the seeded portfolio model: give no --scene"):
            load_instruments(other.get("scene"), 5_000, 7, other.get("market", "model"),
                             instrument=other.get("instrument"), portfolio=[BTC, ETH])
    with pytest.raises(ConfigError, match="--instrument all researches every instrument of a catalog"):
        load_instruments(None, 5_000, 7, instrument="all")


@pytest.mark.parametrize("source", ["portfolio", "catalog"])
def test_each_instrument_fills_at_its_own_tick_contracts_and_fee(source: str, catalog: Path) -> None:
    markets: tuple[Quotes, ...]
    if source == "portfolio":
        markets, ticks = portfolio_quotes(6_000, 7, (BTC, ETH)), (0.1, 0.01)
    else:
        loaded = load_instruments(str(catalog), None, 7)
        assert loaded is not None
        markets, ticks = loaded[0], (0.00001, 0.01)
    config = ResearchConfig(budget=0, executor="inline", workers=1, families=("momentum",))
    legs = Ratchet(config, sized_by_notional(markets, config.base_notional), Ledger(":memory:")).legs
    for leg, tick in zip(legs, ticks, strict=True):
        backtester = WindowBacktester(leg.split.selection[0])
        targets = np.where(np.arange(len(backtester.features.close)) // 5 % 2 == 0, 1.0, -1.0)
        fills = backtester.run(targets, leg.base_size)
        instrument = backtester.instrument
        backtester.dispose()
        assert str(instrument.id) == leg.instrument_id and len(fills.price) > 10
        assert np.all(np.abs(fills.price / tick - np.round(fills.price / tick)) < 1e-6)
        if tick < max(ticks):  # not on the other instrument's coarser grid
            assert np.any(np.abs(fills.price / max(ticks) - np.round(fills.price / max(ticks))) > 1e-6)
        lot = instrument.size_increment.as_double()
        assert np.all(np.abs(fills.quantity / lot - np.round(fills.quantity / lot)) < 1e-6)
        assert np.max(np.abs(fills.quantity)) <= 2 * leg.base_size + 1e-9  # a reversal: short to long at most
        notional = np.abs(fills.quantity) * fills.price * instrument.multiplier.as_double()
        assert np.allclose(fills.commission, notional * float(instrument.taker_fee), atol=0.006)


# ------------------------------------------------------------------------------------- the ledger of before


def test_a_ledger_of_an_older_sextant_gains_the_new_columns_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:  # as the ledger was before it kept instruments: SCHEMA, user_version 0
        db.executescript(SCHEMA)
        db.execute("INSERT INTO hypotheses (id, family, params, origin, proposed_ns, selection_ir, verdict, accepted)"
                   " VALUES ('momentum-1', 'momentum', '{}', 'baseline', 1, 0.5, 'baseline', 0)")
    ledger = Ledger(path)
    (row,) = ledger.rows()
    assert isinstance(row, Row) and row.selection_ir == 0.5 and row.instruments == () and row.screen is None
    ledger.close()
    Ledger(path).close()  # opening it again changes nothing
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 2
        columns = [column[1] for column in db.execute("PRAGMA table_info(hypotheses)")]
        assert columns.count("instruments") == 1 and columns.count("screen") == 1


# ------------------------------------------------------------------------------------- the command line


def test_research_portfolio_runs_on_each_swap_and_prints_a_line_per_instrument(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "sextant.cli", "research", "--portfolio", "--budget", "4", "--quotes",
                           "6000", "--families", ",".join(FAMILIES), "--workers", "1", "--no-progress", "--ledger",
                           str(tmp_path / "ledger.sqlite"), "--report", str(tmp_path / "report")],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (f"the seeded portfolio model (seed 7, 6,000 quotes of each of {BTC}, {ETH}, {SOL}); base sizes "
            f"1.67, 3.33, 6.67") in done.stdout
    assert "4 hypotheses judged (each on 3 instruments) in " in done.stdout
    for instrument, size in ((BTC, "1.67"), (ETH, "3.33"), (SOL, "6.67")):
        assert f"  on {instrument} (base size {size}): hold IR " in done.stdout
    report = (tmp_path / "report" / "report.md").read_text()
    assert all(instrument in report for instrument in (BTC, ETH, SOL))


@pytest.mark.slow
def test_a_two_worker_pool_writes_the_same_portfolio_ledger_as_one_inline_worker(tmp_path: Path) -> None:
    """Each instrument of each hypothesis is a task of its own; the pool's results still come back in order."""
    data = portfolio()
    ledgers = []
    for executor, workers in (("process", 2), ("inline", 1)):
        ledger = Ledger(tmp_path / f"{executor}.sqlite")
        config = ResearchConfig(budget=8, executor=executor, workers=workers, families=FAMILIES, seed=3)  # type: ignore[arg-type]
        Ratchet(config, data, ledger).run()
        ledgers.append([(row.seq, row.id, row.verdict, row.selection_ir, row.dsr, row.instruments)
                        for row in ledger.rows()])
    assert ledgers[0] == ledgers[1]
