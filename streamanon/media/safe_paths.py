"""Output paths that cannot be turned against the user: no write through a link onto the input, temporary files
created exclusively (O_EXCL, random name) in the output's folder, folder listings that stay inside the folder."""

from __future__ import annotations

import glob
import os
import tempfile
from pathlib import Path


def exclusive_temp(dst: Path, tag: str = "partial") -> Path:
    """Create a new, empty, hidden sibling of ``dst`` with a random name and ``dst``'s extension (the muxer is
    chosen by it), with O_CREAT | O_EXCL: a file or link planted at a predictable name is never written
    through. Its mode is what a plain new file gets (0666 less the umask), since it is renamed to ``dst``."""
    remove_stale(dst, tag)
    fd, name = tempfile.mkstemp(prefix=f".{dst.stem}.{tag}-{os.getpid()}-", suffix=dst.suffix, dir=dst.parent)
    try:
        umask = os.umask(0o022)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
    finally:
        os.close(fd)
    return Path(name)


def remove_stale(dst: Path, tag: str = "partial") -> list[Path]:
    """Remove the temporary files for ``dst`` that a process which no longer runs left behind (killed with
    SIGKILL, or the machine went down); returns them. Files of live processes are left alone."""
    removed = []
    pattern = f".{glob.escape(dst.stem)}.{tag}-*-*{glob.escape(dst.suffix)}"
    for p in Path(dst.parent).glob(pattern):
        pid = p.name[len(f".{dst.stem}.{tag}-"):].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)) or p.is_symlink() or not p.is_file():
            continue
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def same_file(a: Path, b: Path) -> bool:
    """``a`` and ``b`` are one file: the same path after links, or one inode (a hard link)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def inside(path: Path, folder: Path) -> bool:
    """``path``, links followed, lies in ``folder`` (links followed): a listing never leaves its folder."""
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False
