"""Output paths that cannot be turned against the user: no write through a link onto the input, temporary files
created exclusively (O_EXCL, random name) in the output's folder, folder listings that stay inside the folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def exclusive_temp(dst: Path, tag: str = "partial") -> Path:
    """Create a new, empty, hidden sibling of ``dst`` with a random name and ``dst``'s extension (the muxer is
    chosen by it), with O_CREAT | O_EXCL: a file or link planted at a predictable name is never written
    through. Its mode is what a plain new file gets (0666 less the umask), since it is renamed to ``dst``."""
    fd, name = tempfile.mkstemp(prefix=f".{dst.stem}.{tag}-", suffix=dst.suffix, dir=dst.parent)
    try:
        umask = os.umask(0o022)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
    finally:
        os.close(fd)
    return Path(name)


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
