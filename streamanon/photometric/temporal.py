"""Per-track smoothing over time of what the photometric stages measure on the original (SH lighting, skin
colour statistics, grain level), reset on new tracks and on scene cuts."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

THUMB = (32, 18)
CUT_THRESHOLD = 28.0  # mean absolute grey change (0-255) of a 32x18 thumbnail that reads as a scene cut


def ema(previous: np.ndarray | float | None, value: np.ndarray | float, alpha: float):
    """Exponential moving average: ``value`` when there is no previous value."""
    if previous is None:
        return value
    return previous + alpha * (np.asarray(value) - previous) if isinstance(previous, np.ndarray) else \
        previous + alpha * (value - previous)


def steady_points(previous: np.ndarray | None, points: np.ndarray, jitter: float, floor: float = 0.2
                  ) -> np.ndarray:
    """``points`` (N, 2) smoothed against ``previous``: a point that moved ``jitter`` or more passes as it is
    (a turn, a mouth opening, a blink), one that moved less keeps a share of its old place (``floor`` of the
    move at the least): landmark jitter no longer shakes what is drawn on the points."""
    if previous is None or previous.shape != points.shape:
        return points
    step = points - previous
    alpha = np.clip(np.linalg.norm(step, axis=-1, keepdims=True) / jitter, floor, 1.0)
    return (previous + alpha * step).astype(points.dtype)


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    """A 32x18 grey thumbnail of a frame (for scene-cut detection)."""
    small = cv2.resize(rgb, THUMB, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)


def is_cut(previous: np.ndarray | None, current: np.ndarray) -> bool:
    """True when the frame differs from the previous one as after a cut (or there is no previous frame)."""
    return previous is None or previous.shape != current.shape or \
        float(np.abs(previous - current).mean()) > CUT_THRESHOLD


@dataclass
class TrackState:
    """Smoothed measurements of one track; None until its first face."""

    sh: np.ndarray | None = None
    lab_mean: np.ndarray | None = None
    lab_std: np.ndarray | None = None
    grain: float | None = None
    correction: np.ndarray | None = None  # low-pass of the refinement's correction, in its aligned crop
    lips: np.ndarray | None = None  # the original's lip colour as a factor on its skin colour (sRGB)
    beard: float | None = None  # how much darker the original's beard area is than its cheeks
    tail: float | None = None  # the plain variance of the Laplacian over the original's skin
    teeth: float | None = None  # how much of the original's mouth opening shows teeth


@dataclass
class TemporalStore:
    """TrackState per track id. ``alpha``: weight of the newest measurement (1 = no smoothing)."""

    alpha: float = 0.3
    states: dict[int, TrackState] = field(default_factory=dict)
    _thumb: np.ndarray | None = None

    def new_frame(self, rgb: np.ndarray) -> bool:
        """Call once per frame; forgets every track on a scene cut (returns True then)."""
        thumb = thumbnail(rgb)
        cut = is_cut(self._thumb, thumb)
        self._thumb = thumb
        if cut:
            self.states.clear()
        return cut

    def forget(self, live_ids: set[int]) -> None:
        for tid in [t for t in self.states if t not in live_ids]:
            del self.states[tid]

    def smooth(self, track_id: int, sh: np.ndarray, lab_mean: np.ndarray, lab_std: np.ndarray, grain: float,
               frames: int = 1, lips: np.ndarray | None = None, beard: float = 0.0, tail: float = 0.0,
               teeth: float | None = None) -> TrackState:
        """The track's state after this frame's measurements, the first for ``frames`` frames (the weight is
        that of ``frames`` measurements in a row: the smoothing's time constant stays the same)."""
        a = 1.0 - (1.0 - self.alpha) ** max(frames, 1)
        s = self.states.setdefault(track_id, TrackState())
        s.sh, s.lab_mean = ema(s.sh, sh, a), ema(s.lab_mean, lab_mean, a)
        s.lab_std, s.grain = ema(s.lab_std, lab_std, a), ema(s.grain, grain, a)
        s.beard, s.tail = ema(s.beard, beard, a), ema(s.tail, tail, a)
        if teeth is not None:  # a closed mouth tells nothing: the last reading stays
            s.teeth = ema(s.teeth, teeth, a)
        if lips is not None:
            s.lips = ema(s.lips, lips, a)
        return s

    def current(self, track_id: int) -> TrackState | None:
        """The track's state when it has measurements, else None (new track, or after a scene cut)."""
        s = self.states.get(track_id)
        return s if s is not None and s.sh is not None else None

    def smooth_correction(self, track_id: int, low: np.ndarray) -> np.ndarray:
        """The track's smoothed low-frequency refinement correction after this frame's ``low``."""
        s = self.states.setdefault(track_id, TrackState())
        s.correction = ema(s.correction, low, self.alpha)
        return s.correction
