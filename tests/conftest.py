"""Shared fixtures: the CLI in a subprocess, the synthetic media factory, ../shared/data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent

if str(TESTS) not in sys.path:  # lets test modules `import media_factory` whatever pytest's rootdir/importmode
    sys.path.insert(0, str(TESTS))


def cli_env() -> dict[str, str]:
    """The environment the CLI runs in: this checkout first on the path, no colour, one thread per library."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("NO_COLOR", "1")
    return env


def cli_command(*args) -> list[str]:
    return [sys.executable, "-m", "streamanon", *(str(a) for a in args)]


def run_cli(*args, timeout: float = 120, cwd=None) -> subprocess.CompletedProcess:
    """Run ``python -m streamanon ARGS`` and return the CompletedProcess (text stdout/stderr)."""
    return subprocess.run(cli_command(*args), capture_output=True, text=True, timeout=timeout,
                          cwd=cwd or REPO, env=cli_env(), stdin=subprocess.DEVNULL)


@pytest.fixture
def cli():
    """The ``run_cli`` helper as a fixture."""
    return run_cli


@pytest.fixture
def shared_data() -> Path:
    """../shared/data beside the repository, or a skip where it is absent."""
    path = REPO.parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"../shared/data is absent: {path} (research data, never part of the project)")
    return path


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    """A session-wide folder for synthetic inputs (each built once, never written by the CLI)."""
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def frame_and_faces():
    """skimage's astronaut photo and its one face with a mesh, as the analyzer finds it."""
    import numpy as np

    skimage_data = pytest.importorskip("skimage.data")
    from streamanon.faces.analyze import FaceAnalyzer

    rgb = np.ascontiguousarray(skimage_data.astronaut())
    analyzer = FaceAnalyzer()
    faces = analyzer.analyze(rgb)
    analyzer.close()
    assert len(faces) >= 1 and faces.has_mesh.all()
    return rgb, faces
