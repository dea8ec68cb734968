"""Import MediaPipe quietly (its C++ logging goes straight to fd 2 at graph start) and quickly (its drawing
helpers import matplotlib.pyplot, 0.9 s of every start-up, for plots we never draw)."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import types

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


class _LazyPyplot(types.ModuleType):
    """Stands in for matplotlib.pyplot while MediaPipe loads; the first attribute anyone reads imports the real
    module (and puts it in its place), so a caller's plotting, or MediaPipe's, works as before."""

    def __getattr__(self, name: str):
        if sys.modules.get("matplotlib.pyplot") is self:
            del sys.modules["matplotlib.pyplot"]
        return getattr(importlib.import_module("matplotlib.pyplot"), name)


class _LazyMatplotlib(types.ModuleType):
    """Stands in for the matplotlib package while MediaPipe loads (``import matplotlib.pyplot as plt`` imports the
    package first: 0.1 s); its ``pyplot`` is the lazy one, anything else imports the real package."""

    def __init__(self, pyplot: types.ModuleType):
        super().__init__("matplotlib")
        self.__dict__["pyplot"] = pyplot

    def __getattr__(self, name: str):
        if sys.modules.get("matplotlib") is self:
            del sys.modules["matplotlib"]
        return getattr(importlib.import_module("matplotlib"), name)


@contextlib.contextmanager
def lazy_pyplot():
    """matplotlib and its pyplot are imported on first use, not at import (unless they are already loaded)."""
    if "matplotlib.pyplot" in sys.modules:
        yield
        return
    stub = _LazyPyplot("matplotlib.pyplot")
    package = None if "matplotlib" in sys.modules else _LazyMatplotlib(stub)
    sys.modules["matplotlib.pyplot"] = stub
    if package is not None:
        sys.modules["matplotlib"] = package
    try:
        yield
    finally:
        if sys.modules.get("matplotlib.pyplot") is stub:
            del sys.modules["matplotlib.pyplot"]
        if package is not None and sys.modules.get("matplotlib") is package:
            del sys.modules["matplotlib"]


with silenced_stderr(), lazy_pyplot():
    import mediapipe as mp  # noqa: E402

solutions = mp.solutions
