"""One writer per output: an exclusive lock beside it, a private temporary name, a rename when complete."""

from __future__ import annotations

import fcntl
import glob
import json
import os
import socket
import time
import uuid
from pathlib import Path

from ..errors import OutputError


def temporary_name(dst: Path) -> Path:
    """A hidden sibling of ``dst``, unique to this attempt, with the same extension (the muxer is chosen by it)."""
    return dst.with_name(f".{dst.stem}.batch-{uuid.uuid4().hex[:12]}{dst.suffix}")


def stale_files(dst: Path) -> list[Path]:
    """Temporary files an earlier, killed attempt left for ``dst`` (ours, and the sink's inside ours)."""
    stem = glob.escape(dst.stem)
    return [Path(p) for pattern in (f".{stem}.batch-*", f"..{stem}.batch-*")
            for p in glob.glob(str(Path(glob.escape(str(dst.parent))) / pattern))]


class OutputLock:
    """``with OutputLock(dst) as lock:`` holds ``.<name>.lock`` beside ``dst`` (flock: released by the kernel when
    the holder dies, on NFS too). ``lock.attempt`` counts attempts: the file outlives a killed holder and tells
    the next one. A lock held by a live task raises OutputError: never two writers of one output."""

    def __init__(self, dst: Path):
        self.path = dst.with_name(f".{dst.name}.lock")
        self.fd: int | None = None
        self.attempt = 1

    def __enter__(self) -> OutputLock:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.read(fd, 4096).decode("utf-8", "replace").strip()
                os.close(fd)
                raise OutputError(f"another task is writing {self.path.name[1:-5]} ({owner or 'unknown'})",
                                  path=str(self.path)) from None
            except OSError as exc:
                os.close(fd)
                raise OutputError(f"cannot lock {self.path}: {exc.strerror}", path=str(self.path)) from exc
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the file was unlinked by its last holder between our open and our lock: again
        self.fd = fd
        self.attempt = self._previous(fd) + 1
        owner = {"host": socket.gethostname(), "pid": os.getpid(), "attempt": self.attempt, "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(owner).encode(), 0)
        return self

    @staticmethod
    def _previous(fd: int) -> int:
        """Attempts recorded by a holder that died (0 when the file is new)."""
        try:
            return int(json.loads(os.pread(fd, 4096, 0) or b"{}").get("attempt", 0))
        except (ValueError, AttributeError):
            return 0

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self.fd)
            self.fd = None
