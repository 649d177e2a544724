"""The engine's attestor link under faults: the child is killed mid-run, seen dead at the next timer poll,
restarted, and catches up from the engine's write-ahead file, so every decision handed over reaches the chain
exactly once; and stopping never waits on a dead child."""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from eth_account import Account

from sextant.engine.outcomes import DecisionOutcome
from sextant.state import messages
from sextant.state.bus import Bus, EventPublished, IntentDecided, PositionClosed, TimerTick
from sextant.swarm.agents.momentum import MomentumAgent, MomentumConfig
from sextant.trust.attestor import Attestor
from sextant.trust.chain import Chain
from sextant.trust.handoff import HANDOFF_FILE, read_from
from sextant.trust.journal import Journal
from sextant.trust.link import StartCancelled, TrustLink
from sextant.trust.registry import Erc8004
from sextant.trust.validating import ValidatorService
from tests.conftest import REPO_ROOT, free_port
from tests.trust.conftest import ANVIL_KEY, Anvil, assert_each_decision_on_chain_once

AGENTS = ["momentum-01", "mean-reversion-01"]
SEED = 42


class StandInStrategy:
    """What TrustLink uses of a SwarmStrategy (apply_reputation), and the engine's bus, where the strategy
    publishes its timer and closed positions."""

    def __init__(self) -> None:
        self.bus = Bus()
        self.reputations: list[dict[str, float | None]] = []

    def close(self, outcome: DecisionOutcome) -> None:
        self.bus.publish(PositionClosed(outcome))

    def apply_reputation(self, scores: dict[str, float | None]) -> None:
        self.reputations.append(scores)

    def member(self, agent_id: str, instrument: str) -> Any:
        return None  # no crew here: records name no deciding agent


class CollectingSink:
    def __init__(self) -> None:
        self.events: list[messages.Event] = []

    def publish(self, event: messages.Event, ts_ns: int) -> int:
        self.events.append(event)
        return len(self.events)

    def of(self, kind: type) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]


class StandInWriter:
    record = np.zeros(16, dtype=np.uint8)


def new_link(directory: Path) -> tuple[TrustLink, StandInStrategy, CollectingSink]:
    strategy, sink = StandInStrategy(), CollectingSink()
    link = TrustLink(directory, rpc_url="", key="", seed=SEED, multipliers={"BTC-USDT-SWAP.OKX": 0.01},
                     strategy=strategy, sink=sink, bus=strategy.bus, agents=AGENTS,
                     writer=StandInWriter())  # type: ignore[arg-type]
    return link, strategy, sink


def outcome(index: int) -> DecisionOutcome:
    pnl = (index % 7 - 3) * 0.01
    return DecisionOutcome(intent_id=f"intent-{index}", agent=AGENTS[index % 2], side="LONG", quantity=1.0,
                           entry_price=60_000.0, exit_price=60_000.0 + pnl * 100, realized_pnl=pnl, win=pnl > 0,
                           ts_closed=1_767_225_600_000_000_000 + index)


def tick(strategy: StandInStrategy) -> None:
    strategy.bus.publish(TimerTick(time.time_ns()))


def attestor_pid() -> int:
    children = [p for p in multiprocessing.active_children() if p.name == "sextant-attestor"]
    assert len(children) == 1, children
    assert children[0].pid is not None
    return children[0].pid


def kill_and_wait_dead(pid: int) -> None:
    """SIGKILL our child, then wait until it can be reaped (all its threads gone), leaving the reaping to it."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        assert time.monotonic() < deadline, f"pid {pid} still running after SIGKILL"
        time.sleep(0.01)


def mined_rows(directory: Path) -> int:
    """Read-only, beside the attestor's own connection (WAL: a reader never blocks its writes)."""
    path = directory / "journal.sqlite"
    if not path.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
        return int(db.execute("SELECT COUNT(*) FROM attestations WHERE status = 'mined'").fetchone()[0])


def tick_until(strategy: StandInStrategy, done: Any, stall_s: float, what: str,
               progress: Any = lambda: 0) -> None:
    """Tick until `done()`; fail only when `progress()` has not grown for `stall_s` (a busy machine is slow, and
    slowness is not a failure; a stop is)."""
    deadline, last = time.monotonic() + stall_s, progress()
    while not done():
        now_progress = progress()
        if now_progress > last:
            deadline, last = time.monotonic() + stall_s, now_progress
        assert time.monotonic() < deadline, f"no progress for {stall_s:g} s: {what}"
        tick(strategy)
        time.sleep(0.05)


@pytest.mark.slow
def test_100_decisions_while_the_attestor_is_dead_and_restarting_all_reach_the_chain_once(tmp_path: Path) -> None:
    directory = tmp_path / "trust"
    link, strategy, sink = new_link(directory)
    link.start()
    for index in range(5):
        strategy.close(outcome(index))
    tick_until(strategy, lambda: mined_rows(directory) == 5, 120, "the first 5 decisions mined",
               lambda: mined_rows(directory))

    first = attestor_pid()
    kill_and_wait_dead(first)
    for index in range(5, 35):  # handed over before the engine has looked
        strategy.close(outcome(index))
    tick(strategy)
    by_the_first_poll = list(sink.events)
    for index in range(35, 70):  # while it waits to restart, and while it rebuilds its chain
        strategy.close(outcome(index))
        tick(strategy)
        time.sleep(0.01)

    tick_until(strategy, lambda: mined_rows(directory) >= 40, 120, "a restarted attestor catching up",
               lambda: mined_rows(directory))
    down = [event for event in by_the_first_poll if isinstance(event, messages.AttestorDown)]
    assert [event.pid for event in down] == [first], "a dead child is seen at the first timer poll after its death"
    assert down[0].backlog >= 30
    second = attestor_pid()
    assert second != first
    kill_and_wait_dead(second)  # killed again, in the middle of catching up
    for index in range(70, 105):
        strategy.close(outcome(index))
        tick(strategy)
        time.sleep(0.01)

    tick_until(strategy, lambda: mined_rows(directory) == 105, 240, "all 105 decisions mined",
               lambda: mined_rows(directory))
    tick_until(strategy, lambda: link.backlog == 0, 60, "the backlog drained")
    assert [event.pid for event in sink.of(messages.AttestorDown)] == [first, second]
    ups = sink.of(messages.AttestorUp)
    assert ups[-1].backlog == 0 and ups[-1].restarts == 2
    started = time.monotonic()
    link.stop()
    assert time.monotonic() - started < 5.0

    check = Attestor(directory, lambda: Chain.embedded_chain(SEED))
    assert_each_decision_on_chain_once(check, check.setup([]), 105)
    check.close()


DRIVER = """
import sys, time
from pathlib import Path
from sextant.state.bus import EventPublished
from sextant.state.messages import IntentGenerated
from tests.trust.test_link import new_link, outcome, attestor_pid, kill_and_wait_dead, tick
link, strategy, sink = new_link(Path(sys.argv[1]))
link.start()
kill_and_wait_dead(attestor_pid())
for index in range(300):  # each decision carries its intent's reasoning: far more, together, than a pipe holds
    strategy.bus.publish(EventPublished(IntentGenerated(
        intent_id=f"intent-{index}", agent="momentum-01", intent_kind="TrendFollow", instrument="BTC-USDT-SWAP.OKX",
        reasoning="because " * 300), index, 0))
    strategy.close(outcome(index))
print("handed over", flush=True)
tick(strategy)
link.stop()
print("stopped", flush=True)
"""


@pytest.mark.slow
def test_stopping_after_the_attestor_died_with_decisions_in_flight_never_hangs(tmp_path: Path) -> None:
    env = os.environ | {"PYTHONPATH": str(REPO_ROOT)}
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path / "trust")], cwd=REPO_ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert driver.stdout is not None
        lines = []
        for line in driver.stdout:
            lines.append(line)
            if line.startswith("handed over"):
                break
        started = time.monotonic()
        driver.wait(timeout=30)
        assert time.monotonic() - started < 5.0
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    output = "".join(lines) + (driver.stdout.read() if driver.stdout else "")
    assert driver.returncode == 0, output
    assert "stopped" in output


@pytest.mark.slow
@pytest.mark.parametrize("when", ["dead", "restarted"])
def test_the_engine_process_exits_within_5_s_of_sigterm_after_its_attestor_was_killed(tmp_path: Path,
                                                                                       when: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEXTANT_", "OKX_"))}
    env.update(SEXTANT_WS_PORT=str(free_port()), SEXTANT_TRUST_DIR=str(tmp_path / "trust"), SEXTANT_RECORD_DIR="",
               SEXTANT_CONTEXT_PATH=str(tmp_path / "context.mmap"), SEXTANT_EVENTS_PATH=str(tmp_path / "events.mmap"),
               SEXTANT_COMMANDS_PATH=str(tmp_path / "commands.mmap"), SEXTANT_LLM_CONFIG=str(REPO_ROOT / "llm.toml"))
    log = tmp_path / "engine.log"
    with open(log, "w") as output:  # a file, not a pipe: an unread pipe would block the engine's logging
        engine = subprocess.Popen([sys.executable, "-m", "sextant.cli", "engine", "--duration", "120"], cwd=tmp_path,
                                  env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        def wait_for(text: str, timeout_s: float) -> None:
            deadline = time.monotonic() + timeout_s
            while text not in log.read_text():
                assert engine.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.1)

        wait_for("sextant engine: venue sim", 120)
        children = subprocess.run(["pgrep", "-P", str(engine.pid), "-f", "multiprocessing"], capture_output=True,
                                  text=True, check=False).stdout.split()
        attestor = [pid for pid in children if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()]
        assert len(attestor) == 1, children
        os.kill(int(attestor[0]), signal.SIGKILL)
        wait_for(f"the attestor (pid {attestor[0]}) died", 30)
        if when == "restarted":
            wait_for("the attestor is back", 120)
        engine.send_signal(signal.SIGTERM)
        started = time.monotonic()
        engine.wait(timeout=30)
        assert time.monotonic() - started < 5.0, log.read_text()[-3000:]
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait()
    assert engine.returncode == 0, log.read_text()[-3000:]
    assert "stopped after" in log.read_text()


def test_a_start_cancelled_while_the_chain_is_set_up_ends_the_attestor_and_the_next_start_completes(
        tmp_path: Path) -> None:
    directory = tmp_path / "trust"
    link, _, _ = new_link(directory)
    cancelled = threading.Event()
    timer = threading.Timer(0.3, cancelled.set)  # the engine asked to stop, mid-setup
    timer.start()
    with pytest.raises(StartCancelled):
        link.start(cancelled=cancelled)
    assert not [p for p in multiprocessing.active_children() if p.name == "sextant-attestor"]
    link.stop()
    again, _, _ = new_link(directory)
    try:
        assert sorted(again.start()) == sorted(AGENTS), "an interrupted setup resumes at the next start"
    finally:
        again.stop()


@pytest.mark.slow
def test_a_models_scored_answers_on_the_stream_reach_the_chain_as_its_own_feedback(tmp_path: Path) -> None:
    from sextant.state.bus import EventPublished

    directory = tmp_path / "trust"
    strategy, sink = StandInStrategy(), CollectingSink()
    model = "local/small-model@perception"
    link = TrustLink(directory, rpc_url="", key="", seed=SEED, multipliers={"BTC-USDT-SWAP.OKX": 0.01},
                     strategy=strategy, sink=sink, bus=strategy.bus, agents=[*AGENTS, model],
                     writer=StandInWriter())  # type: ignore[arg-type]
    ids = link.start()
    assert model in ids
    for index, (mid, hit) in enumerate([(60_060.0, 1), (59_970.0, 0), (60_012.0, 1)]):
        scored = messages.LlmAnswerScored(model="local/small-model", role="perception", action="BUY", confidence=0.9,
                                          asked_mid=60_000.0, mid=mid, hit=hit, answers=index + 1, hits=1 + index // 2)
        strategy.bus.publish(EventPublished(scored, index, 1_767_225_600_000_000_000 + index))
    tick_until(strategy, lambda: mined_rows(directory) == 3, 120, "the model's 3 answers mined",
               lambda: mined_rows(directory))
    tick_until(strategy, lambda: any(model in scores and scores[model] is not None
                                     for scores in strategy.reputations), 60, "the model's score read back")
    link.stop()
    check = Attestor(directory, lambda: Chain.embedded_chain(SEED))
    check.setup([])
    assert {r.name: r.count for r in check.reputations()}[model] == 3
    assert sorted(row.value for row in check.journal.mined()) == [-500, 200, 1_000]  # bps × 100, its way
    check.close()


def test_a_portfolios_decision_is_handed_over_with_its_own_instrument_and_multiplier(tmp_path: Path) -> None:
    """An ETH position's outcome is recorded as ETH's, at ETH's contract value, not the first instrument's."""
    strategy, sink = StandInStrategy(), CollectingSink()
    link = TrustLink(tmp_path, rpc_url="", key="", seed=SEED,
                     multipliers={"BTC-USDT-SWAP.OKX": 0.01, "ETH-USDT-SWAP.OKX": 0.1}, strategy=strategy,
                     sink=sink, bus=strategy.bus, agents=AGENTS, writer=StandInWriter())  # type: ignore[arg-type]
    link.on_outcome(PositionClosed(dataclasses.replace(outcome(1), instrument="ETH-USDT-SWAP.OKX")))
    link.on_outcome(PositionClosed(outcome(2)))  # no instrument named: the first's
    entries = [line.entry for line in read_from(tmp_path / HANDOFF_FILE, 0)]
    assert [(e["instrument"], e["outcome"]["multiplier"]) for e in entries if e] == [
        ("ETH-USDT-SWAP.OKX", 0.1), ("BTC-USDT-SWAP.OKX", 0.01)]


class RuleCrewStrategy(StandInStrategy):
    """A crew of rule agents (their decisions are put to the validator), which keeps the validated share it is
    told."""

    def __init__(self) -> None:
        super().__init__()
        self.validated: list[tuple[int, int]] = []

    def member(self, agent_id: str, instrument: str) -> Any:
        return MomentumAgent(MomentumConfig())

    def apply_validated(self, reproduced: int, answered: int) -> None:
        self.validated.append((reproduced, answered))


@pytest.mark.slow  # anvil, the attestor process, and a validator answering on chain
def test_a_rule_agents_decision_goes_to_the_validator_and_its_answer_comes_back_as_the_validated_share(
        anvil: Anvil, tmp_path: Path) -> None:
    """With a validator set, the attestor asks it about each rule agent's decision once the feedback is mined, and
    reads its answers back: the strategy gets (reproduced, answered) for the bridge. This decision names no scene,
    so the validator answers 0, and says why."""
    validator_key = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # anvil's second account
    strategy, sink = RuleCrewStrategy(), CollectingSink()
    link = TrustLink(tmp_path, rpc_url=anvil.url, key=ANVIL_KEY, seed=SEED, multipliers={"BTC-USDT-SWAP.OKX": 0.01},
                     strategy=strategy, sink=sink, bus=strategy.bus, agents=AGENTS, writer=StandInWriter(),  # type: ignore[arg-type]
                     validator=Account.from_key(validator_key).address)
    link.start()
    try:
        decided = outcome(0)
        strategy.bus.publish(IntentDecided(decided.intent_id))
        strategy.bus.publish(EventPublished(messages.IntentGenerated(
            intent_id=decided.intent_id, agent=decided.agent, intent_kind="TrendFollow",
            instrument="BTC-USDT-SWAP.OKX", target_position=1.0, confidence=0.7), 1, 1))
        strategy.close(decided)
        chain = Chain.signer(anvil.url, validator_key)
        journal = Journal(tmp_path / "journal.sqlite")
        validator = ValidatorService(chain, Erc8004.of_validation(chain, str(journal.get_meta("validation"))))
        journal.close()
        answers: list[Any] = []
        tick_until(strategy, lambda: bool(answers.extend(validator.poll()) or answers), 60,
                   "the validator was never asked")
        assert [answer.response for answer in answers] == [0]
        assert "names no scene recording" in answers[0].reason
        tick_until(strategy, lambda: (0, 1) in strategy.validated, 60, "the validated share never came back")
    finally:
        link.stop()
