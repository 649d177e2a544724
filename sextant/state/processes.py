"""Whether a process is there, by pid: the files and reports that name their writer's pid (state/shm.py,
state/supervision.py) ask it. No numpy here: `sextant run` reads it before anything heavy is imported."""

from __future__ import annotations

import os


def process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user
    return True
