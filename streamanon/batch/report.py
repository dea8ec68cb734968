"""What the user sees: two progress bars (files, frames) on a terminal, one line per failed file, a summary."""

from __future__ import annotations

import sys
import time

from .manifest import DONE, FAILED, SKIPPED


class Tally:
    """Counts of a batch run, for the summary line and the exit code."""

    def __init__(self, files: int):
        self.files = files
        self.counts = {DONE: 0, SKIPPED: 0, FAILED: 0}
        self.frames = self.faces = 0
        self.t0 = time.perf_counter()

    def add(self, entry: dict) -> None:
        self.counts[entry["status"]] = self.counts.get(entry["status"], 0) + 1
        if entry["status"] == DONE:
            self.frames += entry.get("frames", 0)
            self.faces += entry.get("faces", 0)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.t0

    def summary(self, manifest: str) -> str:
        c, s = self.counts, max(self.seconds, 1e-9)
        left = self.files - sum(c.values())
        rest = f", {left} not run" if left > 0 else ""
        return (f"streamanon batch: {self.files} files: {c[DONE]} done, {c[SKIPPED]} skipped, {c[FAILED]} failed"
                f"{rest}; {self.frames} frames, {self.faces} faces in {s:.1f} s ({self.frames / s:.1f} fps, "
                f"{c[DONE] * 3600 / s:.0f} files/hour); manifest {manifest}")


class Bars:
    """tqdm bars for files and frames on a terminal; nothing elsewhere. ``note`` prints one line either way."""

    def __init__(self, files: int, enabled: bool):
        self.files = self.frames = None
        if enabled:
            from tqdm import tqdm
            self.files = tqdm(total=files, unit="file", desc="files", position=0, dynamic_ncols=True)
            self.frames = tqdm(unit="frame", desc="frames", position=1, dynamic_ncols=True)

    def entry(self, entry: dict) -> None:
        if self.files is not None:
            self.files.update(1)

    def add_frames(self, n: int) -> None:
        if self.frames is not None and n > 0:
            self.frames.update(n)

    def note(self, line: str) -> None:
        if self.files is not None:
            self.files.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def close(self) -> None:
        for bar in (self.frames, self.files):
            if bar is not None:
                bar.close()
