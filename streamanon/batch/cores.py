"""Cores for worker processes: each pins itself to its own free cores, so that every library's thread pool
(FFmpeg, onnxruntime, OpenCV) sizes itself to the worker's share and N workers do not oversubscribe a node."""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

_held: list[int] | None = None  # lock fds of the cores this process is pinned to, held while it lives


def available_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def pin_to_free_cores(threads: int) -> None:
    """Pin this process, once, to ``threads`` free cores of the machine (``--threads``; a Ray task's
    ``num_cpus``). A core is taken with a lock file in the temporary folder, released by the kernel when the
    process dies; with too few free (another batch on the machine), the process stays unpinned."""
    global _held
    if _held is not None or not hasattr(os, "sched_setaffinity"):
        return
    taken: list[tuple[int, int]] = []
    for cpu in sorted(os.sched_getaffinity(0)):
        fd = os.open(Path(tempfile.gettempdir()) / f"streamanon-core-{cpu}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        taken.append((cpu, fd))
        if len(taken) == threads:
            os.sched_setaffinity(0, [c for c, _ in taken])
            _held = [fd for _, fd in taken]
            return
    for _, fd in taken:
        os.close(fd)
