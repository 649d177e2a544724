"""Low-latency idle: while the engine runs, ask Linux to keep every CPU's wake-up latency at 0.

Between quotes the engine's CPU goes idle. An idle CPU halts, and in a virtual machine a halt leaves the guest: the
next quote first waits for its vCPU to be scheduled back, then runs on caches the host has used meanwhile. Linux's
PM QoS interface, `/dev/cpu_dma_latency`, lets a process cap how long a CPU may take to wake: at 0 µs the idle loop
polls instead of halting. It is what tuned's `latency-performance` profile sets, asked for here only by the process
that needs it and only while it runs: the kernel keeps the request while the file is open and drops it when the file
is closed, by us or by the kernel when the process exits, however it exits. The host is never left changed.

The cost is that idle CPUs spin: power on a laptop, busy vCPUs on a shared host. So it is off by default and on with
`SEXTANT_LOW_LATENCY_IDLE=1`, for live trading. Writing the file needs root (or write access given to the engine's
user); without it the engine runs with the host's idle and says so.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from types import TracebackType
from typing import Self

CPU_LATENCY_DEVICE = Path("/dev/cpu_dma_latency")
S32 = struct.Struct("=i")  # the device reads and writes the latency as a native 32-bit signed integer (µs)


class CpuLatencyRequest:
    """A PM QoS CPU latency request, held from `acquire()` (or entering the `with`) until `release()`.

    `acquire` never raises: a host that refuses the request leaves `held` false and `refusal` saying why, and the
    engine runs on with the host's idle."""

    def __init__(self, latency_us: int = 0, device: str | os.PathLike[str] | None = None) -> None:
        if latency_us < 0:
            raise ValueError(f"latency_us={latency_us}: a wake-up latency is 0 µs or more")
        self.latency_us = latency_us
        self.device = Path(device) if device is not None else CPU_LATENCY_DEVICE
        self.refusal = ""
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Open the device and write the request. Returns whether it is held."""
        if self._fd is not None:
            return True
        try:
            fd = os.open(self.device, os.O_WRONLY | os.O_CLOEXEC)
        except OSError as error:
            self.refusal = f"{self.device}: {error.strerror or error}"
            return False
        try:
            os.write(fd, S32.pack(self.latency_us))
        except OSError as error:
            os.close(fd)
            self.refusal = f"{self.device}: {error.strerror or error}"
            return False
        self._fd, self.refusal = fd, ""
        return True

    def release(self) -> None:
        """Close the device: the kernel drops the request. Safe to call when nothing is held."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def describe(self) -> str:
        """One line for the engine's start-up output and the bench's header."""
        if self.held:
            return f"low-latency idle: CPU wake-up latency held at {self.latency_us} µs ({self.device})"
        reason = self.refusal or "not requested yet"
        return f"low-latency idle: not held ({reason}); the CPUs idle as the host sets"

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.release()

