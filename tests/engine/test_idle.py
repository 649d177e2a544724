"""Low-latency idle: the engine holds a PM QoS CPU latency request while it runs, only when asked, and a host that
refuses it costs a line of output, never the engine."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import pytest

from sextant.config import ConfigError, load_config
from sextant.engine import idle
from sextant.engine.config import EngineConfig
from sextant.engine.idle import CPU_LATENCY_DEVICE, S32, CpuLatencyRequest
from sextant.engine.node import EngineParts
from tests.engine.conftest import engine_config, run_engine

real_device_writable = pytest.mark.skipif(
    not (CPU_LATENCY_DEVICE.exists() and os.access(CPU_LATENCY_DEVICE, os.W_OK)),
    reason="needs write access to /dev/cpu_dma_latency (root)")


def written_requests(stand_in: Path) -> list[int]:
    return [value for (value,) in S32.iter_unpack(stand_in.read_bytes())]


def effective_cpu_latency_us() -> int:
    """What the kernel applies now: the smallest request of any process (the device reads as one integer)."""
    with open(CPU_LATENCY_DEVICE, "rb") as device:
        return S32.unpack(device.read(S32.size))[0]


class TestTheRequest:
    def test_it_writes_the_latency_as_a_32_bit_integer_and_is_held_until_released(self, tmp_path: Path) -> None:
        stand_in = tmp_path / "cpu_dma_latency"
        stand_in.write_bytes(b"")
        request = CpuLatencyRequest(device=stand_in)
        assert request.acquire() and request.held
        assert written_requests(stand_in) == [0]
        assert "held at 0 µs" in request.describe()
        request.release()
        assert not request.held
        request.release()  # a second release is harmless

    def test_a_missing_device_is_refused_with_the_reason_and_nothing_raises(self, tmp_path: Path) -> None:
        request = CpuLatencyRequest(device=tmp_path / "no-such-device")
        assert request.acquire() is False and not request.held
        assert "no-such-device" in request.refusal and "No such file" in request.refusal
        assert "not held" in request.describe() and "host" in request.describe()
        request.release()

    def test_a_device_that_cannot_be_opened_for_writing_is_refused(self, tmp_path: Path) -> None:
        with CpuLatencyRequest(device=tmp_path) as request:  # a folder: EISDIR, as a non-root user gets EACCES
            assert not request.held and "Is a directory" in request.refusal

    def test_a_negative_latency_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="0 µs or more"):
            CpuLatencyRequest(latency_us=-1)

    @real_device_writable
    def test_on_this_host_the_kernel_applies_the_request_while_held_and_drops_it_after(self) -> None:
        before = effective_cpu_latency_us()
        with CpuLatencyRequest() as request:
            assert request.held
            assert effective_cpu_latency_us() == 0
        assert effective_cpu_latency_us() == before


class TestTheSetting:
    def test_it_is_off_unless_asked_for(self) -> None:
        assert load_config(environ={}).engine.low_latency_idle is False
        assert EngineConfig().low_latency_idle is False

    def test_the_environment_turns_it_on_for_the_engine(self) -> None:
        settings = load_config(environ={"SEXTANT_LOW_LATENCY_IDLE": "1"})
        assert EngineConfig.from_settings(settings).low_latency_idle is True

    def test_a_malformed_value_names_the_variable(self) -> None:
        with pytest.raises(ConfigError, match="SEXTANT_LOW_LATENCY_IDLE"):
            load_config(environ={"SEXTANT_LOW_LATENCY_IDLE": "maybe"})

    def test_the_engine_config_rejects_a_misspelt_field(self) -> None:
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert({"low_latency_idel": True}, EngineConfig)


@pytest.mark.slow
class TestTheEngine:
    def test_it_holds_the_request_while_the_node_runs_and_releases_it_at_stop(
            self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        stand_in = tmp_path / "cpu_dma_latency"
        stand_in.write_bytes(b"")
        monkeypatch.setattr(idle, "CPU_LATENCY_DEVICE", stand_in)
        seen_while_running: list[bool] = []

        def on_ready(parts: EngineParts, loop: object) -> None:
            seen_while_running.append(parts.cpu_latency is not None and parts.cpu_latency.held)

        parts, _ = run_engine(engine_config(tmp_path, duration_s=1.5, low_latency_idle=True), on_ready)
        assert seen_while_running == [True]
        assert written_requests(stand_in) == [0]
        assert parts.cpu_latency is not None and not parts.cpu_latency.held

    def test_without_the_setting_it_asks_for_nothing(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        stand_in = tmp_path / "cpu_dma_latency"
        stand_in.write_bytes(b"")
        monkeypatch.setattr(idle, "CPU_LATENCY_DEVICE", stand_in)
        parts, _ = run_engine(engine_config(tmp_path, duration_s=1.0))
        assert parts.cpu_latency is None and stand_in.read_bytes() == b""

    def test_a_refused_request_leaves_the_engine_trading(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(idle, "CPU_LATENCY_DEVICE", tmp_path / "no-such-device")
        parts, _ = run_engine(engine_config(tmp_path, duration_s=1.5, low_latency_idle=True))
        assert parts.cpu_latency is not None and "no-such-device" in parts.cpu_latency.refusal
        assert int(parts.context.record["quote_count"]) > 0
