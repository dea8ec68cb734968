"""Untouched and partly covered faces (DESIGN.md section 5): pure functions on (original, output) pairs.

For a face box found in the ORIGINAL frame (``small_faces``):

- **untouched**: on the inner 60% of the box (same centre, 60% of its width and height), the mean absolute grey
  change is < 8 AND the face's detail survives: its high-pass detail (grey minus its Gaussian blur, sigma 1.5 px)
  still correlates > 0.8 with the original's, OR its structure at the face's own scale (a band-pass of grey,
  Gaussians of 1/40 and 1/10 of the box height) correlates > 0.95. The fine detail of a soft or dark face is
  mostly codec noise, which a plain re-encode changes: the structure term is what still finds such a face bare
  (on a dark concert clip, a plain re-encode was called untouched for 52% of its faces by the fine detail alone,
  81% with the structure; blurred and generated faces stay far below 0.95).
- **partly covered** (only when not untouched): less than 90% of the box's pixels changed. A pixel changed when
  the absolute grey difference, smoothed by a Gaussian (sigma 1 px), is > 6 (codec noise at usual quality stays
  below), or when its local detail (|high-pass|, smoothed), or its local structure at the face's scale (|band-pass|
  as above, smoothed over 1/20 of the box height), lost more than half of an original level of at least 2 grey
  levels (a blur removes detail without moving the mean; on a soft face there is little fine detail to lose,
  but its structure goes), or when such a pixel lies within 1/8 of the box
  height of it (a blur leaves flat skin almost as it was; the dilation counts such pixels with the changes
  around them). For a face of low contrast (grey spread p5-p95 of its box under 60 levels: dark or soft) both
  levels shrink in proportion, to a third at most: a blur moves such a face's pixels less.

Grey is ITU-R BT.601 luma of RGB.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

INNER = 0.6
MAX_MEAN_CHANGE = 8.0
MIN_DETAIL_CORR = 0.8
MIN_STRUCTURE_CORR = 0.95
STRUCTURE_SIGMAS = (1 / 40, 1 / 10)  # of the box height
HIGHPASS_SIGMA = 1.5
CHANGED_DIFF = 6.0
CHANGED_SMOOTH = 1.0
CHANGED_SPREAD = 1 / 8  # of the box height
DETAIL_LEVEL = 2.0  # grey levels of local |high-pass| below which a pixel has no detail to lose
DETAIL_LOST = 0.5  # a pixel whose local detail fell below this share of the original's changed
MIN_CHANGED_SHARE = 0.9
FULL_CONTRAST = 60.0  # grey spread (p95 - p5) of a face's box from which the change levels apply in full
MIN_LEVEL_SCALE = 1 / 3


@dataclass(frozen=True)
class FaceChange:
    """How much of one original face survives in the output."""

    mean_change: float  # mean |grey difference| on the inner box
    detail_corr: float  # correlation of the high-pass detail on the inner box (1 = same detail)
    changed_share: float  # share of the whole box's pixels that changed
    structure_corr: float = 0.0  # correlation of the band-pass structure at the face's scale on the inner box

    @property
    def untouched(self) -> bool:
        return self.mean_change < MAX_MEAN_CHANGE and (self.detail_corr > MIN_DETAIL_CORR
                                                       or self.structure_corr > MIN_STRUCTURE_CORR)

    @property
    def partly_covered(self) -> bool:
        return not self.untouched and self.changed_share < MIN_CHANGED_SHARE


def grey(rgb: np.ndarray) -> np.ndarray:
    """(H, W) float32 luma of an (H, W, 3) RGB array."""
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def inner_box(box: np.ndarray, share: float = INNER) -> np.ndarray:
    """The box shrunk about its centre to ``share`` of its width and height."""
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, share * (x1 - x0) / 2, share * (y1 - y0) / 2
    return np.array([cx - hw, cy - hh, cx + hw, cy + hh])


def highpass(g: np.ndarray, sigma: float = HIGHPASS_SIGMA) -> np.ndarray:
    """Grey minus its Gaussian blur: the fine detail a blur or a replaced face removes."""
    return g - cv2.GaussianBlur(g, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def bandpass(g: np.ndarray, height: float) -> np.ndarray:
    """The face's structure at its own scale (eyes, nose, mouth; not the pixel noise): the difference of two
    Gaussian blurs, ``STRUCTURE_SIGMAS`` x the face ``height``."""
    s1, s2 = (max(0.7, f * height) for f in STRUCTURE_SIGMAS)
    return (cv2.GaussianBlur(g, (0, 0), s1, borderType=cv2.BORDER_REFLECT)
            - cv2.GaussianBlur(g, (0, 0), max(s2, 2 * s1), borderType=cv2.BORDER_REFLECT))


def level_scale(g_box: np.ndarray) -> float:
    """How far the change levels shrink for a face of low contrast: its grey spread (p95 - p5) over
    ``FULL_CONTRAST``, within [``MIN_LEVEL_SCALE``, 1]."""
    if g_box.size == 0:
        return 1.0
    lo, hi = np.percentile(g_box, [5, 95])
    return float(np.clip((hi - lo) / FULL_CONTRAST, MIN_LEVEL_SCALE, 1.0))


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two arrays; 1 when both are flat and equal, 0 when only one is flat."""
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    a, b = a - a.mean(), b - b.mean()
    na, nb = np.sqrt((a * a).sum()), np.sqrt((b * b).sum())
    if na < 1e-6 or nb < 1e-6:
        return 1.0 if na < 1e-6 and nb < 1e-6 and np.allclose(a, b) else 0.0
    return float((a * b).sum() / (na * nb))


def _slices(box: np.ndarray, shape: tuple[int, ...], origin: tuple[int, int] = (0, 0)) -> tuple[slice, slice]:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    ox, oy = origin
    return (slice(max(y0 - oy, 0), max(min(y1 - oy, shape[0]), 0)),
            slice(max(x0 - ox, 0), max(min(x1 - ox, shape[1]), 0)))


def changed_pixels(g_original: np.ndarray, g_output: np.ndarray, face_height: float, scale: float = 1.0
                   ) -> np.ndarray:
    """(H, W) bool: pixels whose smoothed grey difference exceeds ``CHANGED_DIFF`` or whose local detail or
    structure was lost (``DETAIL_LOST``), dilated by ``CHANGED_SPREAD`` of the face height; levels x ``scale``."""
    diff = cv2.GaussianBlur(np.abs(g_original - g_output), (0, 0), CHANGED_SMOOTH)
    changed = diff > CHANGED_DIFF * scale
    for a, b, sigma in ((highpass(g_original), highpass(g_output), 2.0),  # fine detail
                        (bandpass(g_original, face_height), bandpass(g_output, face_height),  # the structure
                         max(2.0, face_height / 20))):
        da = cv2.GaussianBlur(np.abs(a), (0, 0), sigma)
        db = cv2.GaussianBlur(np.abs(b), (0, 0), sigma)
        changed |= (da > DETAIL_LEVEL * scale) & (db < DETAIL_LOST * da)
    changed = changed.astype(np.uint8)
    r = max(1, int(round(CHANGED_SPREAD * face_height)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(changed, kernel) > 0


def face_change(original: np.ndarray, output: np.ndarray, box: np.ndarray) -> FaceChange:
    """``FaceChange`` of the face ``box`` (x0, y0, x1, y1) between two same-size RGB frames.

    The grey crops carry a margin of a quarter box around the box, so the filters see real neighbours.
    """
    if original.shape != output.shape:
        raise ValueError(f"frame sizes differ: {original.shape} vs {output.shape}")
    box = np.asarray(box, np.float64)[:4]
    h = max(box[3] - box[1], 1.0)
    margin = 0.25 * max(h, box[2] - box[0])
    ry, rx = _slices(box + np.array([-margin, -margin, margin, margin]), original.shape)
    origin = (rx.start, ry.start)
    ga, gb = grey(original[ry, rx]), grey(output[ry, rx])
    iy, ix = _slices(inner_box(box), ga.shape, origin)
    by, bx = _slices(box, ga.shape, origin)
    if ga[iy, ix].size == 0 or ga[by, bx].size == 0:
        return FaceChange(0.0, 1.0, 0.0)
    mean_change = float(np.abs(ga[iy, ix] - gb[iy, ix]).mean())
    detail = correlation(highpass(ga)[iy, ix], highpass(gb)[iy, ix])
    structure = correlation(bandpass(ga, h)[iy, ix], bandpass(gb, h)[iy, ix])
    changed = float(changed_pixels(ga, gb, h, level_scale(ga[by, bx]))[by, bx].mean())
    return FaceChange(mean_change, detail, changed, structure)


def face_changes(original: np.ndarray, output: np.ndarray, boxes: np.ndarray) -> list[FaceChange]:
    """``face_change`` of every box."""
    return [face_change(original, output, b) for b in np.asarray(boxes).reshape(-1, 4)]


def side_by_side(original: np.ndarray, output: np.ndarray, box: np.ndarray, size: int = 160,
                 margin: float = 0.3) -> np.ndarray:
    """(size, 2 * size + 4, 3) RGB: the face (box grown by ``margin`` per side, square) in the original | in
    the output, the box drawn in green, a white gap between."""
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    s = size / side
    m = np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]])
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    tiles = []
    for img in (original, output):
        tile = cv2.warpAffine(img, m, (size, size), flags=interp, borderMode=cv2.BORDER_CONSTANT)
        p0 = (int(round(s * x0 + m[0, 2])), int(round(s * y0 + m[1, 2])))
        p1 = (int(round(s * x1 + m[0, 2])), int(round(s * y1 + m[1, 2])))
        cv2.rectangle(tile, p0, p1, (0, 255, 0), 1)
        tiles.append(tile)
    return np.hstack([tiles[0], np.full((size, 4, 3), 255, np.uint8), tiles[1]])


@dataclass
class UntouchedCounts:
    """Faces judged, untouched and partly covered: in all, and per judge detector (``found_by`` columns)."""

    detectors: tuple[str, ...]
    frames: int = 0
    faces: int = 0
    untouched: int = 0
    partly_covered: int = 0
    by_detector: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, changes: list[FaceChange], found_by: np.ndarray) -> None:
        """Count one judged frame: its faces' changes and the (N, len(detectors)) ``found_by`` matrix."""
        self.frames += 1
        for c, row in zip(changes, np.asarray(found_by, bool).reshape(len(changes), len(self.detectors)), strict=True):
            self.faces += 1
            self.untouched += c.untouched
            self.partly_covered += c.partly_covered
            for name, hit in zip(self.detectors, row, strict=True):
                if hit:
                    d = self.by_detector.setdefault(name, {"faces": 0, "untouched": 0, "partly_covered": 0})
                    d["faces"] += 1
                    d["untouched"] += c.untouched
                    d["partly_covered"] += c.partly_covered

    def merge(self, other: UntouchedCounts) -> None:
        """Add another clip's counts into these."""
        self.frames += other.frames
        self.faces += other.faces
        self.untouched += other.untouched
        self.partly_covered += other.partly_covered
        for name, d in other.by_detector.items():
            mine = self.by_detector.setdefault(name, {"faces": 0, "untouched": 0, "partly_covered": 0})
            for k, v in d.items():
                mine[k] += v

    def to_dict(self) -> dict:
        return asdict(self) | {"untouched_rate": self.rate("untouched"),
                               "partly_covered_rate": self.rate("partly_covered")}

    def rate(self, what: str) -> float | None:
        return getattr(self, what) / self.faces if self.faces else None
