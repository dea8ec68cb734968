"""Face masks from landmarks (or boxes): hull, expanded, feathered; all in a region of interest.

Masks are drawn at a reduced scale (a face ~64 px across) and enlarged: they are smooth, so this costs
little accuracy and keeps the cost independent of the face size.
"""

from __future__ import annotations

import cv2
import numpy as np

MASK_FACE_PX = 64.0


def region_of(box: np.ndarray, scale: float, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """Integer (x0, y0, x1, y1) of ``box`` scaled about its centre and clipped to the frame; None if empty."""
    h, w = shape
    c = (box[:2] + box[2:]) / 2
    half = (box[2:] - box[:2]) / 2 * scale
    x0, y0 = np.floor(c - half).astype(int)
    x1, y1 = np.ceil(c + half).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return int(x0), int(y0), int(x1), int(y1)


def expand_points(points: np.ndarray, scale: float) -> np.ndarray:
    """Scale points about their centroid."""
    c = points.mean(0)
    return c + (points - c) * scale


def hull_mask(points: np.ndarray, roi: tuple[int, int, int, int], scale: float, feather: float) -> np.ndarray:
    """Float32 mask (roi h, roi w) in [0, 1]: 1 inside the convex hull of the points expanded by ``scale``,
    a soft edge ``feather`` x face size wide outside it."""
    x0, y0 = roi[:2]
    pts = expand_points(points.astype(np.float64), scale) - np.array([x0, y0])
    hull = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2)
    return _filled(hull, roi, float(np.ptp(pts, axis=0).max()), feather)


def ellipse_mask(box: np.ndarray, roi: tuple[int, int, int, int], scale: float, feather: float) -> np.ndarray:
    """Like hull_mask, for a face known only by its box (too small for the mesh, or coasting)."""
    x0, y0 = roi[:2]
    c = (box[:2] + box[2:]) / 2 - np.array([x0, y0])
    axes = (box[2:] - box[:2]) / 2 * scale
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    poly = np.stack([c[0] + axes[0] * np.cos(t), c[1] + axes[1] * np.sin(t)], 1)
    return _filled(poly, roi, float(2 * axes.max()), feather)


def _filled(poly: np.ndarray, roi: tuple[int, int, int, int], size: float, feather: float) -> np.ndarray:
    x0, y0, x1, y1 = roi
    w, h = x1 - x0, y1 - y0
    f = min(1.0, MASK_FACE_PX / max(size, 1.0))
    sw, sh = max(1, round(w * f)), max(1, round(h * f))
    small = np.zeros((sh, sw), np.uint8)
    cv2.fillPoly(small, [np.round(poly * f * 16).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=4)
    soft = feather * size * f
    mask = small.astype(np.float32) * (1.0 / 255.0)
    if soft >= 1.0:  # feather outward only: the hull itself stays fully covered
        k = int(soft) | 1
        grown = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        mask = np.maximum(mask, cv2.GaussianBlur(grown.astype(np.float32) * (1.0 / 255.0), (0, 0),
                                                 soft / 2))
    if (sw, sh) != (w, h):
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)
    return mask


def blend(dst: np.ndarray, src: np.ndarray, alpha: np.ndarray) -> None:
    """dst = src * alpha + dst * (1 - alpha), in place; uint8 images, float32 alpha (h, w)."""
    dst[:] = cv2.blendLinear(src, dst, alpha, 1.0 - alpha)
