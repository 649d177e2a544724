"""The engine's write-ahead file of decisions: complete lines only, a torn line never swallows the next decision,
bad lines are reported by position, and an offset past the end (the file begun again) reads from the start."""

from __future__ import annotations

from pathlib import Path

from sextant.trust.handoff import HandoffWriter, read_from


def test_appended_decisions_read_back_in_order_with_their_end_offsets(tmp_path: Path) -> None:
    writer = HandoffWriter(tmp_path / "handoff.jsonl")
    ends = [writer.append({"n": n}) for n in range(3)]
    lines = read_from(tmp_path / "handoff.jsonl", 0)
    assert [line.entry for line in lines] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert [line.end_offset for line in lines] == ends
    assert [line.entry for line in read_from(tmp_path / "handoff.jsonl", ends[0])] == [{"n": 1}, {"n": 2}]
    writer.close()


def test_a_partial_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "handoff.jsonl"
    path.write_bytes(b'{"n":0}\n{"n":')
    assert [line.entry for line in read_from(path, 0)] == [{"n": 0}]


def test_a_line_torn_by_a_crash_is_closed_off_and_the_next_decision_survives(tmp_path: Path) -> None:
    path = tmp_path / "handoff.jsonl"
    path.write_bytes(b'{"n":0}\n{"n":1, "outcome": {"realiz')  # the engine died mid-write
    writer = HandoffWriter(path)
    writer.append({"n": 2})
    lines = read_from(path, 0)
    assert [line.entry for line in lines] == [{"n": 0}, None, {"n": 2}]
    assert "handoff.jsonl bytes 8–" in lines[1].error
    writer.close()


def test_a_line_that_is_not_an_object_is_reported_not_acted_on(tmp_path: Path) -> None:
    path = tmp_path / "handoff.jsonl"
    path.write_bytes(b'[1, 2]\n{"n":1}\n')
    lines = read_from(path, 0)
    assert lines[0].entry is None and "not a JSON object" in lines[0].error and lines[1].entry == {"n": 1}


def test_an_offset_past_the_end_reads_a_begun_again_file_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "handoff.jsonl"
    path.write_bytes(b'{"n":0}\n')
    assert [line.entry for line in read_from(path, 10_000)] == [{"n": 0}]
    assert read_from(tmp_path / "absent.jsonl", 0) == []
