"""Plain dataclasses that flow through the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np


@dataclass
class Frame:
    """One decoded video frame, upright RGB (H, W, 3) uint8.

    ``pts``/``time_base`` are the input timestamps, passed through to the encoder unchanged (live mode
    restamps them from the wall clock). ``captured`` is ``time.monotonic()`` when the source produced it.
    """

    index: int
    rgb: np.ndarray
    pts: int | None = None
    time_base: Fraction | None = None
    captured: float | None = None

    @property
    def time(self) -> float | None:
        if self.pts is None or self.time_base is None:
            return None
        return float(self.pts * self.time_base)


@dataclass
class Faces:
    """The faces of one frame as parallel arrays (N faces).

    boxes: (N, 4) float x0, y0, x1, y1 in frame pixels (the region to cover).
    landmarks: (N, 478, 2) float frame pixels, NaN for faces without a mesh (too small, coasting).
    track_ids: (N,) int, stable along a track.
    coasting: (N,) bool, True when the face was not seen this frame and is covered from prediction.
    """

    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    landmarks: np.ndarray = field(default_factory=lambda: np.zeros((0, 478, 2), np.float32))
    track_ids: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    coasting: np.ndarray = field(default_factory=lambda: np.zeros((0,), bool))
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))

    def __post_init__(self) -> None:
        n = len(self.boxes)
        for name in ("landmarks", "track_ids", "coasting", "scores"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Faces.{name} has {len(getattr(self, name))} rows, boxes has {n}")

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index) -> Faces:
        idx = np.atleast_1d(np.arange(len(self))[index])
        return Faces(self.boxes[idx], self.landmarks[idx], self.track_ids[idx], self.coasting[idx],
                     self.scores[idx])

    @property
    def has_mesh(self) -> np.ndarray:
        """(N,) bool: the face has dense landmarks."""
        return ~np.isnan(self.landmarks[:, 0, 0]) if len(self) else np.zeros((0,), bool)
