"""LLM proposals: the real openai client against a scripted OpenAI-compatible server. A valid proposal becomes a
hypothesis like any other; an invalid one is refused with its reason and a mutation takes its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from sextant.research.config import ResearchConfig
from sextant.research.data import planted_momentum
from sextant.research.hypothesis import baseline
from sextant.research.ledger import Ledger
from sextant.research.llm_proposals import LlmProposer, parse_proposal
from sextant.research.ratchet import Ratchet
from tests.fixtures.llm_toml import local_llm_config
from tests.fixtures.openai_standin import OpenAIStandin, Rule

GOOD = {"params": {"horizon_index": 1, "volatility_index": 2, "entry_z": 1.5, "exit_z": 0.1},
        "rationale": "a longer horizon should follow the persistent drift"}


def proposer(tmp_path: Path, url: str, ledger: Ledger) -> LlmProposer:
    return LlmProposer(local_llm_config(tmp_path, url, large="research-model"),
                       lambda family: getattr(ledger.best(family), "selection_ir", None))


def run(tmp_path: Path, rules: list[Rule], budget: int = 4) -> tuple[Ledger, object, OpenAIStandin]:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    config = ResearchConfig(budget=budget, executor="inline", workers=1, families=("momentum",), proposer="llm",
                            llm_every=1, seed=3)
    with OpenAIStandin(rules) as standin:
        summary = Ratchet(config, planted_momentum(12_000, seed=4), ledger,
                          llm_proposer=proposer(tmp_path, standin.url, ledger)).run()
    return ledger, summary, standin


@pytest.mark.slow
def test_a_valid_proposal_is_evaluated_as_a_hypothesis_with_its_parent_and_rationale(tmp_path: Path) -> None:
    ledger, summary, standin = run(tmp_path, [Rule(match="research-model", content=GOOD, times=1)])
    (llm_row,) = [row for row in ledger.rows() if row.origin == "llm"]
    assert llm_row.params == {"horizon_index": 1.0, "volatility_index": 2.0, "entry_z": 1.5, "exit_z": 0.1}
    assert llm_row.judged and llm_row.rationale == GOOD["rationale"]
    assert llm_row.parent_id == baseline("momentum").id
    request = standin.requests[0]
    assert request["response_format"]["type"] == "json_schema"
    schema = request["response_format"]["json_schema"]["schema"]["properties"]["params"]["properties"]
    assert schema["entry_z"] == {"type": "number", "minimum": 0.3, "maximum": 4.0}
    assert "Current best" in request["messages"][1]["content"]
    # the later requests found no rule (404): each is said, and a mutation took its slot
    assert ledger.counts()["proposed"] == 4 and len(summary.llm_failures) == 3  # type: ignore[attr-defined]
    assert all("HTTP 404" in failure for failure in summary.llm_failures)  # type: ignore[attr-defined]


@pytest.mark.slow
def test_invalid_proposals_are_refused_with_the_reason_and_nothing_is_lost(tmp_path: Path) -> None:
    answers = ["I would raise the threshold a bit.",
               {"params": {**GOOD["params"], "entry_z": "NaN"}, "rationale": "x"},
               {"params": {**GOOD["params"], "entry_z": 99}, "rationale": "x"},
               {"params": {**GOOD["params"], "exit_z": 1.8}, "rationale": "x"},
               {"family": "breakout", "params": {"lookback_s": 60}, "rationale": "x"}]
    ledger, summary, _ = run(tmp_path, [Rule(match="research-model", content=answers)], budget=5)
    failures = summary.llm_failures  # type: ignore[attr-defined]
    assert len(failures) == 5
    for failure, reason in zip(failures, ("no JSON object", "must be a number", "outside", "must be below entry_z",
                                          "asked for momentum"), strict=True):
        assert reason in failure
    rows = [row for row in ledger.rows() if row.origin != "baseline"]
    assert len(rows) == 5 and all(row.origin == "mutation" and row.judged for row in rows)


@pytest.mark.parametrize(("text", "reason"), [
    (None, "empty answer"),
    ("{\"params\": {\"entry_z\": 1.2,}}", "malformed JSON"),
    ("[1, 2]", "no JSON object"),
    ("{\"rationale\": \"only words\"}", "no params object"),
    ("{\"params\": {\"entry_z\": 1.2, \"leverage\": 5}}", "no parameter leverage"),
])
def test_parse_proposal_names_what_is_wrong(text: str | None, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_proposal(text, baseline("momentum"))
