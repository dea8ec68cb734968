"""Eyes and the mouth opening of the face of nobody, drawn on the NEW geometry: the gaze (iris landmarks), the
eye opening and the mouth opening of the expression are kept; nothing of the original's eyes, teeth or tongue
is copied (keeping them raised rank-1 identification to 27% in the issue's probe). Pure functions on float
sRGB images in [0, 1]; index tables from MediaPipe."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from ..faces.mp_backend import solutions
from .uv import edge_loops

_fm = solutions.face_mesh
UPPER_INNER_LIP, LOWER_INNER_LIP = 13, 14
# iris colours (sRGB, 0-1) and how often each is drawn: dark brown, brown, hazel, green-grey, grey-blue, blue
IRIS_PALETTE = np.array([[0.20, 0.12, 0.08], [0.33, 0.20, 0.11], [0.42, 0.32, 0.18], [0.36, 0.40, 0.30],
                         [0.38, 0.45, 0.52], [0.27, 0.40, 0.58]], np.float32)
IRIS_WEIGHTS = np.array([0.35, 0.25, 0.12, 0.08, 0.10, 0.10])


@dataclass(frozen=True)
class EyeIndex:
    """contour (16,) eye opening in order; centre: iris centre point; ring (4,) iris edge points."""

    contour: np.ndarray
    centre: int
    ring: np.ndarray


@lru_cache(maxsize=1)
def eye_indices() -> tuple[EyeIndex, ...]:
    """Both eyes, from MediaPipe's eye and iris edge sets."""
    eyes = []
    pairs = ((_fm.FACEMESH_LEFT_EYE, _fm.FACEMESH_LEFT_IRIS), (_fm.FACEMESH_RIGHT_EYE, _fm.FACEMESH_RIGHT_IRIS))
    for eye, iris in pairs:
        contour = max(edge_loops(eye), key=len)
        ring = edge_loops(iris)[0]
        eyes.append(EyeIndex(contour, int(ring.min()) - 1, ring))  # the centre point precedes its ring
    return tuple(eyes)


@lru_cache(maxsize=1)
def mouth_arcs() -> tuple[np.ndarray, np.ndarray]:
    """(upper, lower) inner lip arcs, each from one mouth corner to the other."""
    from .uv import default_layout

    loop = default_layout().mouth
    uv = default_layout().uv[loop]
    a, b = int(np.argmin(uv[:, 0])), int(np.argmax(uv[:, 0]))
    rolled = np.roll(loop, -a)
    k = (b - a) % len(loop)
    first, second = rolled[:k + 1], np.r_[rolled[k:], rolled[:1]][::-1]
    upper_first = UPPER_INNER_LIP in first
    return (first, second) if upper_first else (second, first)


def iris_colour(rng: np.random.Generator) -> np.ndarray:
    """(3,) a random iris colour of the palette, slightly varied."""
    c = IRIS_PALETTE[rng.choice(len(IRIS_PALETTE), p=IRIS_WEIGHTS)]
    return np.clip(c * rng.uniform(0.85, 1.15), 0, 1).astype(np.float32)


def _soft_polygon(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(points[:, :2] * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) / 255.0


def _disk(shape: tuple[int, int], centre: np.ndarray, radius: float) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.circle(mask, tuple(np.round(centre * 16).astype(int)), max(1, int(round(radius * 16))), 255, -1,
               cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) / 255.0


def _over(image: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> None:
    a = alpha[..., None]
    image *= 1 - a
    image += a * colour


def _box(points: np.ndarray, shape: tuple[int, int], pad: float) -> tuple[tuple[slice, slice], np.ndarray]:
    """The slices of the region around the points (grown by ``pad`` px, clipped) and its (x0, y0)."""
    lo = np.maximum(np.floor(points.min(0) - pad).astype(int), 0)
    hi = np.minimum(np.ceil(points.max(0) + pad).astype(int) + 1, (shape[1], shape[0]))
    return (slice(lo[1], max(hi[1], lo[1])), slice(lo[0], max(hi[0], lo[0]))), lo.astype(np.float64)


def draw_eyes(image: np.ndarray, points: np.ndarray, iris: np.ndarray, light: float) -> None:
    """Sclera, iris, pupil, highlight and lash line of both eyes into the (H, W, 3) image, in place.
    ``light``: brightness of the face (about 1 for a well-lit face)."""
    for eye in eye_indices():
        contour = points[eye.contour, :2]
        height = max(float(np.ptp(contour[:, 1])), 1.0)
        thick = max(1, int(round(0.12 * height)))
        box, origin = _box(contour, image.shape[:2], thick + 2)
        sub = image[box]
        if sub.shape[0] < 2 or sub.shape[1] < 2:
            continue
        c = contour - origin
        opening = _soft_polygon(sub.shape[:2], c)
        centre = points[eye.centre, :2] - origin
        radius = float(np.linalg.norm(points[eye.ring, :2] - points[eye.centre, :2], axis=1).mean())
        gy, gx = np.mgrid[0:sub.shape[0], 0:sub.shape[1]].astype(np.float32)
        half = max(np.ptp(c[:, 0]) / 2, 1.0)
        shade = (1 - 0.35 * ((gx - c[:, 0].mean()) / half) ** 2) * \
            (0.7 + 0.3 * np.clip((gy - c[:, 1].min()) / height, 0, 1))
        eye_img = np.empty_like(sub)
        eye_img[:] = np.array([0.80, 0.76, 0.73], np.float32) * light
        eye_img *= np.clip(shade, 0.3, 1.0)[..., None]
        r = np.hypot(gx - centre[0], gy - centre[1]) / max(radius, 1e-3)
        iris_px = iris * light * (0.95 - 0.45 * np.clip((r - 0.6) / 0.4, 0, 1))[..., None]
        _over(eye_img, iris_px, _disk(sub.shape[:2], centre, radius))
        _over(eye_img, np.array([0.03, 0.025, 0.025], np.float32), _disk(sub.shape[:2], centre, 0.4 * radius))
        if radius >= 2.5:
            spot = centre + np.array([-0.3, -0.35]) * radius
            _over(eye_img, np.array([0.95, 0.95, 0.95], np.float32) * min(light, 1.0),
                  0.45 * _disk(sub.shape[:2], spot, 0.12 * radius))
        _over(sub, eye_img, opening)
        left, right = int(np.argmin(c[:, 0])), int(np.argmax(c[:, 0]))
        rolled = np.roll(c, -left, 0)
        k = (right - left) % len(c)
        arcs = (rolled[:k + 1], np.r_[rolled[k:], rolled[:1]])
        upper = min(arcs, key=lambda a: a[:, 1].mean())
        lash = np.zeros(sub.shape[:2], np.uint8)
        cv2.polylines(lash, [np.round(upper * 16).astype(np.int32)], False, 255, thick, cv2.LINE_AA, shift=4)
        _over(sub, np.array([0.07, 0.05, 0.045], np.float32) * light, 0.75 * lash.astype(np.float32) / 255.0)


def draw_mouth(image: np.ndarray, points: np.ndarray, size: float, light: float) -> None:
    """The mouth opening (inner lip contour) of the new geometry: a dark interior and, when open, a row of
    upper teeth under the upper lip, into the (H, W, 3) image, in place."""
    upper, lower = mouth_arcs()
    gap = float(np.linalg.norm(points[UPPER_INNER_LIP, :2] - points[LOWER_INNER_LIP, :2]))
    if gap < 1.0:
        return
    box, origin = _box(points[np.r_[upper, lower], :2], image.shape[:2], 2)
    sub = image[box]
    if sub.shape[0] < 2 or sub.shape[1] < 2:
        return
    top, bottom = points[upper, :2] - origin, points[lower, :2] - origin
    opening = _soft_polygon(sub.shape[:2], np.concatenate([top, bottom[::-1]]))
    inside = np.empty_like(sub)
    inside[:] = np.array([0.17, 0.07, 0.07], np.float32) * light
    if gap > 0.03 * size:
        depth = min(0.35 * gap, 0.05 * size)
        teeth = _soft_polygon(sub.shape[:2], np.concatenate([top, (top + (0, depth))[::-1]]))
        _over(inside, np.array([0.72, 0.69, 0.63], np.float32) * light, 0.6 * teeth)
    _over(sub, inside, opening)
