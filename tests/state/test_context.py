"""ContextWindow: a numeric record over an mmap seqlock double buffer, written by one process, read by any."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
import pytest

from sextant.state import seqlock
from sextant.state.bus import Bus, ContextCommitted
from sextant.state.context import (
    ContextReader,
    ContextWriter,
    RecordFields,
    crew_lines,
    render_market_text,
    validated_share,
)
from sextant.state.layout import (
    CONTEXT_DTYPE,
    CONTEXT_FILE_SIZE,
    CONTEXT_RECORD_SIZE,
    HEADER_DTYPE,
    HEADER_SIZE,
    INSTRUMENT_DTYPE,
    LAYOUT_VERSION,
    MAX_INSTRUMENTS,
    SLOTS_OFFSET,
    CrewAgent,
    CrewState,
    CrewTask,
    TraceKind,
    field_offset,
    instrument_view_dtype,
)
from sextant.state.shm import LayoutMismatchError, StateFileError
from tests.conftest import rewrite_header, run_isolated


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "context.mmap"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class TestLayout:
    def test_record_is_numeric_c_layout_padded_to_cache_lines(self) -> None:
        assert CONTEXT_RECORD_SIZE % 64 == 0
        assert CONTEXT_FILE_SIZE == HEADER_SIZE + 2 * CONTEXT_RECORD_SIZE
        assert SLOTS_OFFSET % 64 == 0 and INSTRUMENT_DTYPE.itemsize % 64 == 0, "slots start on their own lines"
        for dtype in (CONTEXT_DTYPE, INSTRUMENT_DTYPE):
            for name in dtype.names:
                field_type, offset = dtype.fields[name][:2]
                base = field_type.base
                if name == "instruments":
                    assert base == INSTRUMENT_DTYPE and field_type.shape == (MAX_INSTRUMENTS,)
                    continue
                assert base.kind in "uif", f"{name} is not numeric"
                assert offset % base.alignment == 0, f"{name} is misaligned"

    def test_header_has_magic_version_size_pid_heartbeat(self) -> None:
        for name in ("magic", "layout_version", "file_size", "record_size", "writer_pid", "heartbeat_ns",
                     "sequence"):
            assert name in HEADER_DTYPE.names
        assert HEADER_DTYPE.itemsize == HEADER_SIZE
        assert HEADER_DTYPE.fields["sequence"][1] == 64, "the sequence word must sit alone on the second line"

    def test_spec_fields_are_present(self) -> None:
        required = ["write_seq", "ts_ns", "instrument", "bid", "ask", "last", "bid_size", "ask_size", "mid",
                    "spread_bps", "momentum", "volatility", "position_size", "entry_price", "unrealized_pnl",
                    "realized_pnl", "risk_x", "risk_potential", "risk_gradient", "risk_total", "autonomy",
                    "autonomy_ceiling", "estop", "crew_state", "crew_task", "crew_last_decision_ns", "trace_kind",
                    "trace_price", "trace_count", "checksum"]
        assert not [name for name in required if name not in instrument_view_dtype(0).names]


class TestRoundTrip:
    def test_a_committed_record_is_what_the_reader_sees(self, path: Path) -> None:
        writer = ContextWriter(path, "BTC-USDT-SWAP.OKX")
        writer.record["bid"] = 60000.1
        writer.record["ask"] = 60000.2
        writer.record["mid"] = 60000.15
        writer.record["position_size"] = -2.5
        writer.record["momentum"][:] = [0.001, 0.002, -0.003, 0.0]
        sequence = writer.commit()
        reader = ContextReader(path)
        snapshot = reader.snapshot()
        assert snapshot.sequence == sequence == reader.sequence
        assert snapshot.instrument == "BTC-USDT-SWAP.OKX"
        assert snapshot["mid"] == 60000.15
        assert list(snapshot["momentum"]) == [0.001, 0.002, -0.003, 0.0]
        assert snapshot.checksum_ok
        assert reader.mid == 60000.15 and reader.bid == 60000.1 and reader.ask == 60000.2
        assert reader.position_size == -2.5
        assert reader.writer_pid == os.getpid()

    def test_uncommitted_changes_are_invisible(self, path: Path) -> None:
        writer = ContextWriter(path, "X.SIM")
        reader = ContextReader(path)
        writer.record["mid"] = 1.0
        writer.commit()
        writer.record["mid"] = 2.0
        assert reader.mid == 1.0
        writer.commit()
        assert reader.mid == 2.0

    def test_every_commit_advances_the_sequence_and_alternates_buffers(self, path: Path) -> None:
        writer = ContextWriter(path, "X.SIM")
        reader = ContextReader(path)
        first = reader.sequence
        for value in range(1, 101):
            writer.record["mid"] = float(value)
            writer.commit()
            assert reader.mid == float(value)
        assert reader.sequence == first + 100

    def test_njit_readers_agree_with_python(self, path: Path) -> None:
        writer = ContextWriter(path, "X.SIM")
        writer.record["mid"] = 123.5
        writer.record["position_size"] = 3.0
        writer.record["quote_count"] = 77
        writer.commit()
        buffer = ContextReader(path).buffer
        assert seqlock.seqlock_read_f64(buffer, field_offset("mid")) == 123.5
        assert seqlock.seqlock_read_u64(buffer, field_offset("quote_count")) == 77
        assert seqlock.seqlock_read_f64_pair(buffer, field_offset("mid"), field_offset("position_size")) == \
            (123.5, 3.0)
        words = np.zeros(2, np.uint64)
        offsets = np.array([field_offset("mid"), field_offset("position_size")], np.int64)
        assert seqlock.seqlock_read_words(buffer, offsets, words) >= 1
        assert list(words.view(np.float64)) == [123.5, 3.0]
        out = np.zeros(CONTEXT_RECORD_SIZE, np.uint8)
        assert seqlock.seqlock_snapshot(buffer, out) == ContextReader(path).sequence
        assert out.view(instrument_view_dtype(0))[0]["mid"] == 123.5
        assert seqlock.seqlock_verify_in_place(buffer)[1]


class TestTrace:
    def test_trace_is_chronological_after_wrapping(self, path: Path) -> None:
        """The original read slot 63 as 'latest' forever after 64 events; ours is oldest→newest always."""
        writer = ContextWriter(path, "X.SIM")
        for index in range(70):
            writer.push_trace(TraceKind.QUOTE, 100.0 + index, 1.0, 1_000 + index)
        writer.commit()
        trace = ContextReader(path).snapshot().trace()
        assert len(trace) == 64
        assert list(trace["price"]) == [100.0 + i for i in range(6, 70)]
        assert list(trace["ts_ns"]) == sorted(trace["ts_ns"])

    def test_short_trace_starts_at_the_first_event(self, path: Path) -> None:
        writer = ContextWriter(path, "X.SIM")
        writer.push_trace(TraceKind.FILL, 5.0, 2.0, 1)
        writer.push_trace(TraceKind.QUOTE, 6.0, 1.0, 2)
        writer.commit()
        trace = ContextReader(path).snapshot().trace()
        assert list(trace["kind"]) == [TraceKind.FILL, TraceKind.QUOTE]


class TestRecordFields:
    def test_views_follow_the_record_and_write_through_the_writer(self, path: Path) -> None:
        writer = ContextWriter(path)
        fields = RecordFields(writer.record)
        writer.record["mid"] = 101.5
        writer.record["momentum"] = [0.1, 0.2, 0.3, 0.4]
        assert fields.mid.item() == 101.5 and fields.momentum.item(2) == 0.3, "later writes are seen"
        with pytest.raises(ValueError):
            fields.mid[0] = 1.0  # over a record: read-only
        writer.fields.ask[0] = 102.0
        writer.fields.volatility[1] = 0.5
        writer.fields.trace_count[0] = 7
        assert float(writer.record["ask"]) == 102.0 and float(writer.record["volatility"][1]) == 0.5
        assert fields.trace_count.item() == 7 and isinstance(fields.trace_count.item(), int)
        writer.close()

    def test_a_record_of_a_larger_array_is_its_own(self) -> None:
        records = np.zeros(3, instrument_view_dtype(0))
        records["mid"] = [1.0, 2.0, 3.0]
        assert RecordFields(records[2]).mid.item() == 3.0


class TestRenderedText:
    def test_market_text_is_rendered_from_the_numbers(self, path: Path) -> None:
        writer = ContextWriter(path, "BTC-USDT-SWAP.OKX")
        record = writer.record
        record["bid"], record["ask"], record["mid"] = 60000.1, 60000.3, 60000.2
        record["bid_size"], record["ask_size"] = 1.5, 2.0
        record["spread_bps"] = 0.0333
        record["position_size"], record["entry_price"], record["unrealized_pnl"] = 2.0, 59990.0, 4.08
        record["horizon_s"][:2] = [10.0, 60.0]
        record["momentum"][:2] = [0.0004, -0.0011]
        writer.commit()
        text = render_market_text(ContextReader(path).snapshot())
        assert "bid 60000.10 x 1.50" in text and "ask 60000.30 x 2.00" in text
        assert "position LONG 2.00 @ 59990.00" in text
        assert "10s:+0.00040" in text and "60s:-0.00110" in text

    def test_crew_tasks_are_codes_rendered_to_one_line(self, path: Path) -> None:
        writer = ContextWriter(path, "X.SIM")
        record = writer.record
        record["crew_count"] = 2
        record["crew_agent"][:2] = [CrewAgent.MOMENTUM, CrewAgent.RISK]
        record["crew_state"][:2] = [CrewState.ACTIVE, CrewState.ALERT]
        record["crew_task"][:2] = [CrewTask.MOMENTUM_SIGNAL, CrewTask.RISK_VETO]
        record["crew_task_value"][:2] = [0.00042, 2.31]
        writer.commit()
        lines = crew_lines(ContextReader(path).snapshot())
        assert lines == [("MOMENTUM", "ACTIVE", "momentum +0.00042"), ("RISK", "ALERT", "veto, U=2.31")]


class TestStaleness:
    def test_heartbeat_age_shows_a_stalled_writer(self, path: Path) -> None:
        writer = ContextWriter(path, "X.SIM")
        reader = ContextReader(path)
        assert not reader.is_stale(1.0)
        writer.heartbeat(time.time_ns() - 2_000_000_000)
        assert reader.is_stale(1.0)
        assert reader.heartbeat_age_s() >= 2.0
        writer.heartbeat()
        assert not reader.is_stale(1.0)


class TestBadFiles:
    @pytest.mark.parametrize(
        ("corruption", "message"),
        [
            ({"magic": 0x1234}, "wrong magic"),
            ({"layout_version": LAYOUT_VERSION + 1}, "layout version"),
            ({"file_size": CONTEXT_FILE_SIZE + 64}, "size mismatch"),
            ({"record_size": CONTEXT_RECORD_SIZE + 64, "file_size": HEADER_SIZE + 2 * (CONTEXT_RECORD_SIZE + 64)},
             "size mismatch"),
            ({"layout_hash": 42}, "layout hash"),
        ],
    )
    def test_a_corrupt_header_is_refused_and_the_file_left_untouched(
            self, path: Path, corruption: dict[str, int], message: str) -> None:
        ContextWriter(path, "X.SIM").close()
        rewrite_header(path, **corruption)
        before = _digest(path)
        with pytest.raises(LayoutMismatchError, match=message):
            ContextReader(path)
        assert _digest(path) == before

    def test_a_truncated_file_is_refused(self, path: Path) -> None:
        ContextWriter(path, "X.SIM").close()
        path.write_bytes(path.read_bytes()[: HEADER_SIZE + 100])
        before = _digest(path)
        with pytest.raises(LayoutMismatchError, match="size mismatch"):
            ContextReader(path)
        assert _digest(path) == before

    def test_a_tiny_file_is_refused(self, path: Path) -> None:
        path.write_bytes(b"hello")
        with pytest.raises(LayoutMismatchError, match="too small"):
            ContextReader(path)
        assert path.read_bytes() == b"hello"

    def test_a_missing_file_names_the_fix(self, path: Path) -> None:
        with pytest.raises(StateFileError, match="start the ContextWindow writer"):
            ContextReader(path)

    def test_the_writer_never_overwrites_a_foreign_file(self, path: Path) -> None:
        path.write_bytes(b"precious user data, not a state file" * 10)
        before = _digest(path)
        with pytest.raises(StateFileError, match="refusing to overwrite"):
            ContextWriter(path, "X.SIM")
        assert _digest(path) == before

    def test_a_ring_file_is_not_mistaken_for_a_context(self, tmp_path: Path) -> None:
        from sextant.state.ring import EventRingWriter

        ring = tmp_path / "events.mmap"
        EventRingWriter(ring).close()
        with pytest.raises(LayoutMismatchError, match="found EventRing"):
            ContextReader(ring)
        with pytest.raises(StateFileError, match="holds a EventRing"):
            ContextWriter(ring, "X.SIM")

    def test_a_stale_file_from_a_dead_writer_is_replaced(self, path: Path) -> None:
        ContextWriter(path, "X.SIM").close()
        rewrite_header(path, writer_pid=2**31 - 7)  # no such process
        writer = ContextWriter(path, "Y.SIM")
        assert ContextReader(path).snapshot().instrument == "Y.SIM"
        writer.close()


    def test_a_foreign_file_is_refused_by_the_reader_and_left_untouched(self, path: Path) -> None:
        path.write_bytes(b"precious user data, not a state file" * 100)
        before = _digest(path)
        with pytest.raises(LayoutMismatchError, match="not a Sextant state file"):
            ContextReader(path)
        assert _digest(path) == before

    def test_a_directory_is_refused_by_the_reader(self, tmp_path: Path) -> None:
        with pytest.raises(StateFileError, match="not a regular file"):
            ContextReader(tmp_path)

    def test_a_path_beneath_a_plain_file_is_a_state_file_error_naming_it(self, tmp_path: Path) -> None:
        (tmp_path / "plain").write_text("a file, so nothing is beneath it")
        with pytest.raises(StateFileError, match="plain/context.mmap: no such file"):
            ContextReader(tmp_path / "plain" / "context.mmap")
        with pytest.raises(StateFileError, match="plain/context.mmap: cannot create"):
            ContextWriter(tmp_path / "plain" / "context.mmap", "X.SIM")


TRUNCATE_WHILE_MAPPED = """
import os, sys
from sextant.state.context import ContextReader, ContextWriter
from sextant.state.shm import StateFileError
writer = ContextWriter(sys.argv[1], "X.SIM")
reader = ContextReader(sys.argv[1])
reader.check_intact()
assert reader.snapshot().instrument == "X.SIM"
os.truncate(sys.argv[1], int(sys.argv[2]))
for read in (reader.check_intact, reader.is_stale, reader.heartbeat_age_s, lambda: reader.writer_pid):
    try:
        read()
    except StateFileError as error:
        print("refused:", error)
    else:
        print("read a truncated file")
"""


class TestTruncatedWhileMapped:
    """A file cut short under a reader: reading its mapped pages would be a SIGBUS, so the checked reads raise
    StateFileError. Each runs in its own process, where a regression is a signal death, not a dead test run."""

    @pytest.mark.parametrize("size", [0, HEADER_SIZE + 100])
    def test_the_checked_reads_raise_a_state_file_error_instead_of_sigbus(self, path: Path, size: int) -> None:
        result = run_isolated(TRUNCATE_WHILE_MAPPED, str(path), str(size))
        assert result.returncode == 0, f"returncode {result.returncode}: {result.stderr[-2000:]}"
        lines = result.stdout.splitlines()
        assert len(lines) == 4 and all(line.startswith("refused:") for line in lines), result.stdout
        assert f"truncated to {size} bytes while mapped" in lines[0] and str(path) in lines[0]

    def test_an_intact_file_passes_the_check(self, path: Path) -> None:
        writer = ContextWriter(path, "X.SIM")
        reader = ContextReader(path)
        reader.check_intact()
        assert not reader.is_stale()
        reader.close()
        writer.close()


def test_a_throttled_writer_commits_what_the_scene_recorder_would_keep(tmp_path: Path) -> None:
    """With the recorder's interval, a throttled writer hands the recorder the same records as one committing on
    every call, also around a commit outside the throttle (a trading state change)."""
    from sextant.replay.recorder import SceneRecorder

    clock = [100 * i + (7 if i % 3 else 0) for i in range(1, 60)]
    forced = {clock[20], clock[31]}
    kept: dict[int, list[int]] = {}
    for interval in (0, 250):
        bus = Bus()
        writer = ContextWriter(tmp_path / f"context-{interval}.mmap", bus=bus)
        writer.throttle(interval)
        recorder = SceneRecorder(tmp_path / "scene", {}, context_interval_s=250e-9)
        rows = kept.setdefault(interval, [])
        recorder._append = lambda table, row, rows=rows: rows.append(row[0])  # what it keeps
        bus.subscribe(ContextCommitted, recorder.on_context)
        for now in clock:
            writer.commit(now) if now in forced else writer.commit_if_due(now)
        writer.close()
    assert kept[250] == kept[0]
    assert len(kept[0]) < len(clock) // 2


def test_the_validated_share_says_nothing_before_a_validator_answered_and_rounds_down_after() -> None:
    assert validated_share(0, 0) == ""
    assert validated_share(11, 12) == "validated 91% (11/12)"  # never shown higher than it is
    assert validated_share(12, 12) == "validated 100% (12/12)"


def test_the_validated_counts_sit_in_the_account_sections_padding_so_older_v3_records_read_0() -> None:
    """Added without a layout version: every field before them keeps its offset, and the record its size."""
    fields = CONTEXT_DTYPE.fields
    assert fields is not None
    assert fields["llm_queue_depth"][1] < fields["validations_reproduced"][1] < fields["validations_answered"][1]
    assert fields["validations_answered"][1] + 4 <= fields["instruments"][1]
    older = np.zeros(1, CONTEXT_DTYPE)[0]  # an older writer left the padding as np.zeros made it
    assert int(older["validations_answered"]) == 0
