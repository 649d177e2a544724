"""Creating and opening the memory-mapped files, with a validated header.

A writer creates its file whole (header included) under a temporary name and renames it into place, so a reader
never maps a half-initialised file. A reader maps read-only and checks magic, version, sizes and the layout
hash before it touches anything else; on a mismatch it raises and the file stays exactly as it was.

A mapped file that something truncates in place is a trap: touching a mapped page past the new end of the file
raises SIGBUS, which kills the process. `MappedFile.check_intact` compares the file's current size (one fstat)
with the mapping and raises `StateFileError` instead; readers call it before their reads, except the seqlock hot
reads, whose callers call it at their own bounded rate (docs/shared-memory.md lists which reads are checked).
"""

from __future__ import annotations

import mmap
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sextant.state.layout import HEADER_DTYPE, HEADER_SIZE, LAYOUT_VERSION, MAGIC_NAMES, OFFSET_HEARTBEAT
from sextant.state.processes import process_alive


class StateFileError(Exception):
    """A shared-memory file cannot be used. The message names the file, the problem and the fix."""


class LayoutMismatchError(StateFileError):
    """The file exists but is not the layout this build expects (wrong magic, version, size or field list)."""


@dataclass(frozen=True, slots=True)
class FileSpec:
    """What a file of one kind must look like."""

    magic: int
    record_size: int
    record_count: int
    layout_hash: int
    layout_name: str  # what the hash covers, for messages: "field" (ContextWindow) or "slot" (rings)
    # A ContextWindow has one geometry per build; a ring's slot count and size are chosen by its writer, so a
    # reader takes them from the header (after checking they are self-consistent and plausible).
    fixed_geometry: bool = True
    min_record_size: int = 8

    @property
    def kind(self) -> str:
        return MAGIC_NAMES[self.magic]

    @property
    def file_size(self) -> int:
        return HEADER_SIZE + self.record_size * self.record_count


@dataclass(slots=True)
class MappedFile:
    path: Path
    mm: mmap.mmap
    buf: np.ndarray  # uint8 view of the whole file (read-only for readers)
    header: np.ndarray  # HEADER_DTYPE view of the first 128 bytes

    @property
    def heartbeat_ns(self) -> int:
        """The writer's last heartbeat (wall clock, ns)."""
        return int.from_bytes(self.mm[OFFSET_HEARTBEAT:OFFSET_HEARTBEAT + 8], "little")

    def check_intact(self) -> None:
        """Raise StateFileError if the file is now shorter than its mapping: reading the missing part would kill
        this process with SIGBUS. One fstat on the map's own descriptor."""
        try:
            size = self.mm.size()
        except (OSError, ValueError) as error:  # ValueError: this map was closed
            raise StateFileError(f"{self.path}: cannot check its size ({error}); re-open it.") from None
        if size < len(self.mm):
            raise StateFileError(
                f"{self.path}: truncated to {size} bytes while mapped (it had {len(self.mm)}); something other "
                f"than its writer changed it, or it was cut short. Restart its writer, or fix the path.")

    def remove(self) -> None:
        """Close the map and delete the file, if the path still holds this file: a writer whose start failed
        leaves nothing behind, and a newer writer's file at the same path is left alone."""
        created = int(self.header[0]["created_ns"]) if len(self.header) else 0
        self.close()
        try:
            on_disk = read_header(self.path)
            if on_disk is not None and created and int(on_disk["created_ns"]) == created:
                self.path.unlink()
        except OSError:
            pass  # gone already, or no longer ours to read: nothing of ours to remove

    def close(self) -> None:
        # numpy views keep exported buffers alive; drop them before closing the map.
        self.buf = np.empty(0, np.uint8)
        self.header = np.empty(0, HEADER_DTYPE)
        try:
            self.mm.close()
        except BufferError:
            # A caller still holds a view (for example a snapshot array). The map is released when it goes.
            pass


def _os_problem(error: OSError, target: Path) -> str:
    """What the OS said, naming the path it said it about when that is not `target` (a parent, a temporary)."""
    problem = error.strerror or str(error)
    return problem if error.filename in (None, str(target)) else f"{problem}: {error.filename}"


def read_header(path: Path) -> np.void | None:
    """The header of an existing file, or None if the file is shorter than a header."""
    with open(path, "rb") as handle:
        raw = handle.read(HEADER_SIZE)
    if len(raw) < HEADER_SIZE:
        return None
    return np.frombuffer(raw, HEADER_DTYPE)[0]


def create(path: str | os.PathLike[str], spec: FileSpec, *, live_writer_grace_s: float = 2.0) -> MappedFile:
    """Create (or replace a stale) file for `spec` and map it read-write.

    Refuses, leaving the file untouched, when the path holds something that is not a Sextant state file, or a
    file of another kind, or a file whose writer process is still alive and beating.
    """
    target = Path(path)
    try:
        return _create(target, spec, live_writer_grace_s)
    except OSError as error:
        raise StateFileError(f"{target}: cannot create the {spec.kind} here ({_os_problem(error, target)}); fix "
                             f"the path or its permissions.") from None


def check_usable(path: str | os.PathLike[str], spec: FileSpec) -> None:
    """Raise StateFileError if no writer of `spec` could ever create its file at `path`: it is a directory, a file
    that is not a Sextant state file, a state file of another kind, or unreadable. A missing file or a (stale)
    file of this kind is fine. For a reader whose writer may start after it (the engine, of the CommandRing)."""
    target = Path(path)
    try:
        _existing_header(target, spec)
    except OSError as error:
        raise StateFileError(f"{target}: cannot read it ({_os_problem(error, target)}); fix the path or its "
                             f"permissions for the {spec.kind}.") from None


def _existing_header(target: Path, spec: FileSpec) -> np.void | None:
    """The header of a file of `spec`'s kind already at `target`, or None if there is none (or an empty file);
    raises StateFileError for anything a writer of that kind must not replace."""
    if not target.exists():
        return None
    if target.is_dir():
        raise StateFileError(f"{target}: is a directory; point the {spec.kind} path at a file")
    header = read_header(target)
    size = target.stat().st_size
    if header is None:
        if size > 0:
            raise StateFileError(
                f"{target}: exists, is {size} bytes and is not a Sextant state file; refusing to overwrite it. "
                f"Move it away or choose another path for the {spec.kind}.")
        return None
    magic = int(header["magic"])
    if magic not in MAGIC_NAMES:
        raise StateFileError(
            f"{target}: exists and is not a Sextant state file (magic {magic:#018x}); refusing to overwrite it. "
            f"Move it away or choose another path for the {spec.kind}.")
    if magic != spec.magic:
        raise StateFileError(
            f"{target}: holds a {MAGIC_NAMES[magic]}, not a {spec.kind}; check the configured paths (they must "
            f"differ).")
    return header


def _create(target: Path, spec: FileSpec, live_writer_grace_s: float) -> MappedFile:
    existing = _existing_header(target, spec)
    if existing is not None:
        pid = int(existing["writer_pid"])
        age_s = (time.time_ns() - int(existing["heartbeat_ns"])) / 1e9
        if pid != os.getpid() and process_alive(pid) and age_s < live_writer_grace_s:
            raise StateFileError(
                f"{target}: another writer (pid {pid}) is live on this {spec.kind} (heartbeat {age_s:.2f} s ago); "
                f"stop it or use another path.")
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    header = np.zeros(1, HEADER_DTYPE)
    now = time.time_ns()
    header["magic"] = spec.magic
    header["layout_version"] = LAYOUT_VERSION
    header["header_size"] = HEADER_SIZE
    header["file_size"] = spec.file_size
    header["record_size"] = spec.record_size
    header["record_count"] = spec.record_count
    header["layout_hash"] = spec.layout_hash
    header["writer_pid"] = os.getpid()
    header["heartbeat_ns"] = now
    header["created_ns"] = now
    try:
        with open(temporary, "wb") as handle:
            handle.write(header.tobytes())
            handle.truncate(spec.file_size)
        os.replace(temporary, target)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise
    handle_fd = os.open(target, os.O_RDWR)
    try:
        mapped = mmap.mmap(handle_fd, spec.file_size, access=mmap.ACCESS_WRITE)
    finally:
        os.close(handle_fd)
    buf = np.frombuffer(mapped, np.uint8)
    return MappedFile(target, mapped, buf, buf[:HEADER_SIZE].view(HEADER_DTYPE))


def open_readonly(path: str | os.PathLike[str], spec: FileSpec) -> MappedFile:
    """Map an existing file read-only after validating its header against `spec`."""
    target = Path(path)
    try:
        return _open_readonly(target, spec)
    except OSError as error:
        raise StateFileError(f"{target}: cannot read the {spec.kind} ({_os_problem(error, target)}); fix the path "
                             f"or its permissions.") from None


def _open_readonly(target: Path, spec: FileSpec) -> MappedFile:
    kind = spec.kind
    expect_magic = spec.magic
    if not target.exists():
        raise StateFileError(f"{target}: no such file; start the {kind} writer first (the engine), or fix the path.")
    if not target.is_file():
        raise StateFileError(f"{target}: is not a regular file (a directory?); point the {kind} path at a file.")
    size = target.stat().st_size
    if size < HEADER_SIZE:
        raise LayoutMismatchError(
            f"{target}: {size} bytes is too small for a {kind} (header alone is {HEADER_SIZE} bytes); the file is "
            f"not a {kind} or was truncated. Restart its writer.")
    header = read_header(target)
    if header is None:
        raise LayoutMismatchError(f"{target}: cut short while being opened; restart its writer.")
    magic = int(header["magic"])
    if magic != expect_magic:
        found = MAGIC_NAMES.get(magic, f"a file that is not a Sextant state file (magic {magic:#018x})")
        raise LayoutMismatchError(f"{target}: wrong magic: expected a {kind}, found {found}. Check the path.")
    version = int(header["layout_version"])
    if version != LAYOUT_VERSION:
        raise LayoutMismatchError(
            f"{target}: layout version {version}, this build reads version {LAYOUT_VERSION}. Run the writer and "
            f"the reader from the same Sextant version.")
    if int(header["header_size"]) != HEADER_SIZE:
        raise LayoutMismatchError(f"{target}: header size {int(header['header_size'])}, expected {HEADER_SIZE}.")
    declared = int(header["file_size"])
    record_size, record_count = int(header["record_size"]), int(header["record_count"])
    if declared != size or declared != HEADER_SIZE + record_size * record_count:
        raise LayoutMismatchError(
            f"{target}: size mismatch: the file is {size} bytes, its header declares {declared} bytes for "
            f"{record_count} x {record_size}-byte records. The file is corrupt or was truncated; restart its writer.")
    if spec.fixed_geometry and (record_size, record_count) != (spec.record_size, spec.record_count):
        raise LayoutMismatchError(
            f"{target}: record geometry {record_count} x {record_size} bytes, this build expects "
            f"{spec.record_count} x {spec.record_size}. Run writer and reader from the same Sextant version.")
    if not spec.fixed_geometry and (record_count < 2 or record_size < spec.min_record_size or record_size % 8):
        raise LayoutMismatchError(f"{target}: implausible ring geometry {record_count} x {record_size} bytes; "
                                  f"the header is corrupt. Restart its writer.")
    if int(header["layout_hash"]) != spec.layout_hash:
        raise LayoutMismatchError(
            f"{target}: {spec.layout_name} layout hash {int(header['layout_hash']):#x} differs from this build's "
            f"{spec.layout_hash:#x}. Run writer and reader from the same Sextant version.")
    handle_fd = os.open(target, os.O_RDONLY)
    try:
        mapped = mmap.mmap(handle_fd, size, access=mmap.ACCESS_READ)
    except ValueError:  # mmap's word for a file now shorter than `size`
        raise LayoutMismatchError(f"{target}: cut short while being opened; restart its writer.") from None
    finally:
        os.close(handle_fd)
    buf = np.frombuffer(mapped, np.uint8)
    opened = MappedFile(target, mapped, buf, buf[:HEADER_SIZE].view(HEADER_DTYPE))
    try:
        opened.check_intact()  # cut short between the checks above and the map
    except StateFileError:
        opened.close()
        raise
    return opened

