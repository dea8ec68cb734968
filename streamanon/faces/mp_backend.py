"""Import MediaPipe quietly: its C++ logging goes straight to fd 2 at graph start."""

from __future__ import annotations

import contextlib
import os
import sys

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def silenced_stderr():
    """Redirect file descriptor 2 to /dev/null (MediaPipe/absl print there from C++)."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


with silenced_stderr():
    import mediapipe as mp  # noqa: E402

solutions = mp.solutions
