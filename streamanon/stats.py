"""Counters and per-stage timings of one run (written by --stats)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field


@dataclass
class Stats:
    frames: int = 0
    faces: int = 0  # face instances covered, summed over frames
    tracks: int = 0
    coasted: int = 0  # face instances covered from prediction (face not seen that frame)
    fallbacks: int = 0  # faces covered by a solid fill after an error
    failed_frames: int = 0  # frames whose analysis failed: covered whole
    audio_packets: int = 0
    interrupted: bool = False
    seconds: float = 0.0
    stage_seconds: dict = field(default_factory=lambda: {"decode": 0.0, "analyze": 0.0, "anonymize": 0.0,
                                                          "encode": 0.0})

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fps"] = round(self.fps, 2)
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
