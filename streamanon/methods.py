"""Pixel methods that hide a face region: blur, pixelate, solid mask. Pure functions on a ROI."""

from __future__ import annotations

import cv2
import numpy as np


def blur(roi: np.ndarray, face_size: float) -> np.ndarray:
    """Heavy blur at a cost independent of face size: shrink to ~6 px per face, smooth, enlarge.

    Strong enough that a HOG face detector no longer finds the face's layout (at 12 px per face it
    still did on real clips)."""
    h, w = roi.shape[:2]
    f = max(face_size / 6.0, 1.0)
    sw, sh = max(1, round(w / f)), max(1, round(h / f))
    small = cv2.resize(roi, (sw, sh), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 1.0)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def pixelate(roi: np.ndarray, face_size: float, blocks: int = 8) -> np.ndarray:
    """Blocks of face_size / ``blocks`` pixels."""
    h, w = roi.shape[:2]
    f = max(face_size / blocks, 1.0)
    small = cv2.resize(roi, (max(1, round(w / f)), max(1, round(h / f))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def solid(roi: np.ndarray, face_size: float, colour: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """A flat fill."""
    out = np.empty_like(roi)
    out[:] = colour
    return out


PIXEL_METHODS = {"blur": blur, "pixelate": pixelate, "mask": solid}
