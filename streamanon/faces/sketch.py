"""Dense landmarks rendered as sketch channels (the generator's geometry input), and face masks in the crop."""

from __future__ import annotations

import cv2
import numpy as np

from .landmarks import FACE_OVAL


def _edges(flat: list[int]) -> np.ndarray:
    return np.array(flat, np.int32).reshape(-1, 2)


# MediaPipe face mesh connections (FACEMESH_* in mediapipe.solutions.face_mesh), grouped in 5 channels.
CHANNELS: dict[str, np.ndarray] = {
    "outline": _edges([10, 338, 21, 54, 54, 103, 58, 132, 67, 109, 93, 234, 103, 67, 109, 10, 127, 162, 132, 93,
                       136, 172, 148, 176, 149, 150, 150, 136, 152, 148, 162, 21, 172, 58, 176, 149, 234, 127, 251,
                       389, 284, 251, 288, 397, 297, 332, 323, 361, 332, 284, 338, 297, 356, 454, 361, 288, 365,
                       379, 377, 152, 378, 400, 379, 378, 389, 356, 397, 365, 400, 377, 454, 323]),
    "brows": _edges([276, 283, 282, 295, 283, 282, 293, 334, 295, 285, 296, 336, 300, 293, 334, 296,
                     46, 53, 52, 65, 53, 52, 63, 105, 65, 55, 66, 107, 70, 63, 105, 66]),
    "eyes": _edges([249, 390, 263, 249, 263, 466, 373, 374, 374, 380, 380, 381, 381, 382, 382, 362, 384, 398, 385,
                    384, 386, 385, 387, 386, 388, 387, 390, 373, 398, 362, 466, 388,
                    7, 163, 33, 7, 33, 246, 144, 145, 145, 153, 153, 154, 154, 155, 155, 133, 157, 173, 158, 157,
                    159, 158, 160, 159, 161, 160, 163, 144, 173, 133, 246, 161,
                    474, 475, 475, 476, 476, 477, 477, 474, 469, 470, 470, 471, 471, 472, 472, 469]),
    "nose": _edges([1, 19, 2, 326, 4, 1, 4, 45, 5, 4, 6, 197, 19, 94, 45, 220, 48, 64, 64, 98, 94, 2, 97, 2, 98, 97,
                    115, 48, 168, 6, 195, 5, 197, 195, 220, 115, 275, 4, 278, 344, 294, 278, 326, 327, 327, 294,
                    344, 440, 440, 275]),
    "lips": _edges([0, 267, 13, 312, 14, 317, 17, 314, 37, 0, 39, 37, 40, 39, 61, 146, 61, 185, 78, 95, 78, 191, 80,
                    81, 81, 82, 82, 13, 84, 17, 87, 14, 88, 178, 91, 181, 95, 88, 146, 91, 178, 87, 181, 84, 185,
                    40, 191, 80, 267, 269, 269, 270, 270, 409, 310, 415, 311, 310, 312, 311, 314, 405, 317, 402,
                    318, 324, 321, 375, 324, 308, 375, 291, 402, 318, 405, 321, 409, 291, 415, 308]),
}
N_SKETCH = len(CHANNELS)
# DeepPrivacy v1's sparse variant: 7 keypoints (eyes, ears ~ outline sides, nose, mouth corners).
SPARSE_POINTS = np.array([468, 473, 234, 454, 1, 61, 291])


def render_sketch(points: np.ndarray, size: int) -> np.ndarray:
    """(5, size, size) uint8 line drawings of (478, 2) crop-pixel landmarks, one channel per part."""
    out = np.zeros((N_SKETCH, size, size), np.uint8)
    p = np.round(points[:, :2] * 4).astype(np.int32)
    for c, edges in enumerate(CHANNELS.values()):
        lines = p[edges]  # (E, 2, 2)
        cv2.polylines(out[c], list(lines), False, 255, 1, cv2.LINE_AA, shift=2)
    return out


def render_sparse(points: np.ndarray, size: int) -> np.ndarray:
    """(5, size, size) uint8: the 7 sparse keypoints as dots (channel 0), other channels empty."""
    out = np.zeros((N_SKETCH, size, size), np.uint8)
    for x, y in points[SPARSE_POINTS, :2]:
        cv2.circle(out[0], (int(round(x)), int(round(y))), 2, 255, -1)
    return out


def crop_mask(*point_sets: np.ndarray, size: int, scale: float = 1.12, forehead: float = 0.12) -> np.ndarray:
    """(size, size) uint8 mask: union of the hulls of the face outlines, grown by ``scale`` and raised to cover
    the forehead by ``forehead`` x face height."""
    mask = np.zeros((size, size), np.uint8)
    for pts in point_sets:
        oval = pts[FACE_OVAL, :2].astype(np.float64)
        c = oval.mean(0)
        grown = c + (oval - c) * scale
        h = np.ptp(oval[:, 1])
        top = grown[:, 1] < c[1]
        grown[top, 1] -= forehead * h * (c[1] - grown[top, 1]) / max(c[1] - grown[top, 1].min(), 1e-6)
        hull = cv2.convexHull(np.round(grown * 16).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 255, cv2.LINE_AA, shift=4)
    return mask
