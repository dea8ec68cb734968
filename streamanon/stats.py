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
    interrupted: bool = False
    live: bool = False
    seconds: float = 0.0
    stage_seconds: dict = field(default_factory=lambda: {"decode": 0.0, "analyze": 0.0, "anonymize": 0.0,
                                                          "encode": 0.0})
    # generate: mean milliseconds per rendered face of each photometric stage (photometric.stages.STAGES)
    face_stage_ms: dict = field(default_factory=dict)
    # seconds, capture -> written, per frame; the last hour at 30 fps, so a camera left running stays bounded
    latencies: deque = field(default_factory=lambda: deque(maxlen=108_000), repr=False)

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
        del d["latencies"]
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
