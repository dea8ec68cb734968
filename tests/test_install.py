"""A fresh install without the training extra: the runtime and the test suite never need torch."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO, cli_env

# Modules that are torch code by design (training and export only).
TRAINING_ONLY = {"streamanon.models.generator"}

# Makes `import torch` (and onnxscript) fail in the child, as on a machine where they were never installed.
BLOCK = """
import importlib.abc, sys
class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'torch', 'onnxscript', 'torchvision'}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Absent())
"""


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + code], capture_output=True, text=True, timeout=300,
                          cwd=REPO, env=cli_env(), stdin=subprocess.DEVNULL)


def test_runtime_imports_without_torch():
    code = f"""
import importlib, pkgutil, streamanon
skip = {sorted(TRAINING_ONLY)!r}
for m in pkgutil.walk_packages(streamanon.__path__, 'streamanon.'):
    if m.name not in skip and not m.name.endswith('__main__'):
        importlib.import_module(m.name)
"""
    r = _run(code)
    assert r.returncode == 0, r.stderr[-2000:]


def test_test_suite_collects_without_torch():
    code = """
import pytest
sys.exit(pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider', 'tests']))
"""
    r = _run(code)
    assert r.returncode == 0, (r.stdout + r.stderr)[-2000:]
    assert "error" not in r.stdout.lower().splitlines()[-1], r.stdout[-2000:]
