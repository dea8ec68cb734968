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


# weight of the newest teeth reading (read on every frame: how much of the opening shows teeth changes with each
# syllable; one reading in six, or a slow average, drew a dark hole while the original's teeth showed)
TEETH_ALPHA = 0.5


@dataclass
class TrackState:
    """Smoothed measurements of one track; None until its first face. ``raw``: the latest measurements, which the
    smoothed values approach by one step a frame (``TemporalStore.advance``)."""

    sh: np.ndarray | None = None
    lab_mean: np.ndarray | None = None
    lab_std: np.ndarray | None = None
    grain: float | None = None
    correction: np.ndarray | None = None  # low-pass of the refinement's correction, in its aligned crop
    lips: np.ndarray | None = None  # the original's lip colour as a factor on its skin colour (sRGB)
    beard: float | None = None  # how much darker the original's beard area is than its cheeks
    beard_hair: np.ndarray | None = None  # the colour of the original's beard hairs as a factor on its cheeks'
    tail: float | None = None  # the plain variance of the Laplacian over the original's skin
    teeth: float | None = None  # how much of the original's mouth opening shows teeth
    teeth_light: float | None = None  # the grey of the original's teeth over its skin's
    skin_rgb: np.ndarray | None = None  # the mean sRGB colour (0-255) of the original's skin pixels
    brows: float | None = None  # how much darker the original's brow region is than its skin
    brow_hue: np.ndarray | None = None  # the hue of the original's brow hairs (colour over grey)
    lids: float | None = None  # how dark the original's upper lid line is
    raw: dict = field(default_factory=dict)


@dataclass
class TemporalStore:
    """TrackState per track id. ``alpha``: weight of the newest measurement per frame (1 = no smoothing)."""

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
               lips: np.ndarray | None = None, beard: float = 0.0, tail: float = 0.0,
               teeth: float | None = None, skin_rgb: np.ndarray | None = None,
               teeth_light: float | None = None, brows: float | None = None,
               lids: float | None = None, beard_hair: np.ndarray | None = None,
               brow_hue: np.ndarray | None = None) -> TrackState:
        """The track's state after this frame's measurements: they become the values it approaches (a lip colour
        or skin colour that could not be read (None) leaves the last one), and it takes one step."""
        s = self.states.setdefault(track_id, TrackState())
        fresh = dict(sh=sh, lab_mean=lab_mean, lab_std=lab_std, grain=grain, lips=lips, beard=beard, tail=tail,
                     skin_rgb=skin_rgb, brows=brows, lids=lids, beard_hair=beard_hair, brow_hue=brow_hue)
        s.raw.update({k: v for k, v in fresh.items() if v is not None})
        self.teeth(track_id, teeth, teeth_light)
        return self.advance(track_id)

    def advance(self, track_id: int) -> TrackState:
        """One frame's step of the track's smoothed values towards its latest measurements (a frame on which
        the original is not measured moves on as smoothly as one on which it is)."""
        s = self.states.setdefault(track_id, TrackState())
        for k, v in s.raw.items():
            setattr(s, k, ema(getattr(s, k), v, self.alpha))
        return s

    def teeth(self, track_id: int, teeth: float | None, light: float | None = None) -> None:
        """This frame's teeth reading and the teeth's grey over the skin's (None, not read, tells nothing:
        the last value stays)."""
        s = self.states.setdefault(track_id, TrackState())
        a = TEETH_ALPHA if self.alpha < 1.0 else 1.0
        if teeth is not None:
            s.teeth = ema(s.teeth, teeth, a)
        if light is not None:
            s.teeth_light = ema(s.teeth_light, light, a)

    def current(self, track_id: int) -> TrackState | None:
        """The track's state when it has measurements, else None (new track, or after a scene cut)."""
        s = self.states.get(track_id)
        return s if s is not None and s.sh is not None else None

    def smooth_correction(self, track_id: int, low: np.ndarray) -> np.ndarray:
        """The track's smoothed low-frequency refinement correction after this frame's ``low``."""
        s = self.states.setdefault(track_id, TrackState())
        s.correction = ema(s.correction, low, self.alpha)
        return s.correction
