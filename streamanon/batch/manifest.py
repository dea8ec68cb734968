"""OUT/manifest.jsonl: one JSON line per input and run, appended (and synced) as each file ends."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

from .inputs import Job

MANIFEST = "manifest.jsonl"
DONE, SKIPPED, FAILED = "done", "skipped", "failed"
CHUNK = 1 << 20
# what a skipped file's entry copies from the entry that made its output
CARRIED = ("duration", "frames", "faces", "tracks", "fallbacks", "failed_frames", "sha256_out", "bytes_out")


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


class Manifest:
    """The manifest of one OUT folder. Only the driver writes it (one writer, whatever the workers)."""

    def __init__(self, out: Path):
        self.path = Path(out) / MANIFEST

    def last(self) -> dict[str, dict]:
        """The latest entry of each output (``rel``); a line cut short by a crash is ignored."""
        entries: dict[str, dict] = {}
        if not self.path.exists():
            return entries
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                try:
                    e = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(e, dict) and "rel" in e:
                    entries[e["rel"]] = e
        return entries

    def append(self, entry: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, sort_keys=False) + "\n")
            f.flush()
            os.fsync(f.fileno())


def plan(jobs: list[Job], last: dict[str, dict], force: bool, overwrite: bool) -> list[Job]:
    """Mark each job: ``verify`` (a candidate to skip: done before, output there, input's size and mtime the
    same; the worker then compares the sha256) and ``overwrite`` (-y, --force, or an output of this manifest)."""
    planned = []
    for job in jobs:
        prev = last.get(job.rel)
        verify = None
        if not force and prev is not None and prev.get("status") in (DONE, SKIPPED) and _unchanged(job, prev):
            verify = prev.get("sha256_in")
        planned.append(replace(job, verify=verify, overwrite=overwrite or force or prev is not None))
    return planned


def _unchanged(job: Job, prev: dict) -> bool:
    try:
        src, dst = os.stat(job.src), os.stat(job.dst)
    except OSError:
        return False
    return (src.st_size == prev.get("size") and src.st_mtime_ns == prev.get("mtime_ns")
            and dst.st_size == prev.get("bytes_out"))
