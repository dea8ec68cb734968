"""Counters and per-stage timings of one run (written by --stats)."""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class Stats:
    frames: int = 0  # frames written (frames out)
    frames_in: int = 0  # frames the source produced (live: some are dropped)
    dropped: int = 0  # live: frames dropped unprocessed (too late, or the output was down); never written
    reconnects: int = 0  # live: input and output reconnections
    faces: int = 0  # face instances covered, summed over frames
    tracks: int = 0
    coasted: int = 0  # face instances covered from prediction (face not seen that frame)
    box_faces: int = 0  # face instances covered from their box (too small for the mesh, coasting, backfilled)
    backfilled: int = 0  # face instances covered on frames before their track's first detection
    fallbacks: int = 0  # faces covered by a solid fill after an error
    failed_frames: int = 0  # frames whose analysis failed: covered whole
    audio_packets: int = 0
    corrupt_packets: int = 0  # packets the decoder rejected: skipped, as ffmpeg skips or conceals them
    truncated: str | None = None  # why a file input ended before its announced end (output: what decoded)
    interrupted: bool = False
    live: bool = False
    seconds: float = 0.0
    stage_seconds: dict = field(default_factory=lambda: {"decode": 0.0, "analyze": 0.0, "anonymize": 0.0,
                                                          "encode": 0.0})
    # generate: mean milliseconds per mesh face of each photometric stage (photometric.stages.STAGES; "reuse" is
    # the moving of a track's last full render onto the frames between, --render-every)
    face_stage_ms: dict = field(default_factory=dict)
    reused_faces: int = 0  # generate: mesh faces moved from their track's last full render instead of rendered
    # seconds, capture -> written, per frame; the last hour at 30 fps, so a camera left running stays bounded
    latencies: deque = field(default_factory=lambda: deque(maxlen=108_000), repr=False)
    # per minute of writing: {"minute", "frames", "median", "p95", "max"} in ms (a soak's latency over time);
    # the last 24 hours
    latency_minutes: deque = field(default_factory=lambda: deque(maxlen=1440), repr=False)
    _window: list = field(default_factory=list, repr=False)
    _window_start: float | None = field(default=None, repr=False)

    def add_latency(self, seconds: float, now: float | None = None) -> None:
        """One written frame's capture -> write time; closes the current one-minute window when due."""
        now = time.monotonic() if now is None else now
        if self._window_start is None:
            self._window_start = now
        elif now - self._window_start >= 60.0:
            self._close_window()
            self._window_start = now
        self.latencies.append(seconds)
        self._window.append(seconds)

    def _close_window(self) -> None:
        if self._window:
            self.latency_minutes.append(self._minute())
        self._window = []

    def _minute(self) -> dict:
        ms = 1000.0 * np.asarray(self._window)
        return {"minute": len(self.latency_minutes), "frames": int(ms.size), "median": round(float(np.median(ms)), 1),
                "p95": round(float(np.percentile(ms, 95)), 1), "max": round(float(ms.max()), 1)}

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def latency_ms(self) -> dict:
        """Median, 95th percentile and maximum of capture -> write time over the last 108,000 frames,
        milliseconds (empty when unknown)."""
        if not self.latencies:
            return {}
        ms = 1000.0 * np.asarray(self.latencies)
        return {"median": round(float(np.median(ms)), 1), "p95": round(float(np.percentile(ms, 95)), 1),
                "max": round(float(ms.max()), 1)}

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("latencies", "_window", "_window_start"):
            del d[k]
        d["latency_minutes"] = list(self.latency_minutes)
        if self._window:  # the minute under way, as far as it went
            d["latency_minutes"].append({**self._minute(), "partial": True})
        d["fps"] = round(self.fps, 2)
        d["latency_ms"] = self.latency_ms()
        d["stage_ms_per_frame"] = {k: round(1000 * v / max(self.frames, 1), 3)
                                   for k, v in self.stage_seconds.items()}
        return d

    def write(self, path: str) -> None:
        with open(path, "w") as f:
            json.dump(self.to_dict(), f, indent=2)


class StageTimer:
    """``with timer(stats, 'analyze'):`` adds the elapsed seconds to that stage."""

    def __init__(self, stats: Stats, stage: str):
        self.stats, self.stage = stats, stage

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc) -> None:
        self.stats.stage_seconds[self.stage] += time.perf_counter() - self.t0
