"""What the bridge says of the crew's models: the last hour's spend per role, and the calls now
(sextant/bridge/positions.py, shown in the Memory drawer and the terminal's [3])."""

from __future__ import annotations

import numpy as np

from sextant.bridge.positions import llm_calls_text, llm_role_spend
from sextant.state.context import ContextSnapshot
from sextant.state.layout import instrument_view_dtype


def snapshot(**fields: object) -> ContextSnapshot:
    record = np.zeros(1, instrument_view_dtype(0))[0]
    for name, value in fields.items():
        record[name] = value
    return ContextSnapshot(1, record, 0)


def test_each_role_that_spent_has_a_line_and_the_others_none() -> None:
    shown = snapshot(llm_role_tokens_hour=(18_400, 0, 0, 0, 120), llm_role_cost_hour=(0.0184, 0, 0, 0, 0.0))
    assert llm_role_spend(shown) == [("perception", "18.4k tokens · $0.0184"), ("research", "120 tokens · $0.0000")]
    assert llm_role_spend(snapshot()) == []


def test_the_calls_being_answered_and_waiting_are_counted() -> None:
    assert llm_calls_text(snapshot(llm_in_flight=1, llm_queue_depth=2)) == "1 asking · 2 waiting"


def test_each_models_record_is_the_latest_its_scored_answers_said() -> None:
    from sextant.bridge.link import LinkStatus, Tick
    from sextant.bridge.model import BridgeModel
    from sextant.bridge.positions import model_record_lines
    from sextant.state import messages
    from sextant.state.ring import RingMessage

    def scored(hit: int, answers: int, hits: int, role: str = "perception") -> messages.LlmAnswerScored:
        return messages.LlmAnswerScored(model="local/smollm2", role=role, action="BUY", confidence=0.9,
                                        asked_mid=60_000.0, mid=60_010.0, hit=hit, answers=answers, hits=hits)

    model = BridgeModel()
    events = [scored(1, 12, 10), scored(1, 13, 11), scored(0, 4, 1, "strategy")]
    model.apply(Tick(LinkStatus.LIVE, None, [RingMessage(n, e.KIND, 0, False, e) for n, e in enumerate(events)],
                     0.0, 0), 0.0)
    assert model_record_lines(model) == [("L2", "local/smollm2 11/13 right (85%)"),
                                         ("L3", "local/smollm2 1/4 right (25%)")]
