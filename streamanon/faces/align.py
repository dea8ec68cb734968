"""Similarity alignment of a face to a canonical crop (the generator's frame), and back."""

from __future__ import annotations

import cv2
import numpy as np

# Five anchors of the 478-point mesh: iris centres, nose tip, mouth corners.
ANCHORS = np.array([468, 473, 1, 61, 291])
# Where they sit in a crop of side 1 (derived from the mean mesh of the training faces, rounded); the
# eyes are 0.24 apart, leaving a context margin of about a quarter of the crop around the face.
TEMPLATE = np.array([[0.380, 0.420], [0.620, 0.420], [0.500, 0.570], [0.405, 0.665], [0.595, 0.665]],
                    np.float32)


def align_matrix(landmarks: np.ndarray, size: int) -> np.ndarray:
    """2x3 similarity mapping frame pixels to the ``size`` x ``size`` canonical crop."""
    src = landmarks[ANCHORS, :2].astype(np.float32)
    m, _ = cv2.estimateAffinePartial2D(src, TEMPLATE * size, method=cv2.LMEDS)
    if m is None:
        raise ValueError("degenerate landmarks: cannot align")
    return m


def warp_crop(rgb: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """The aligned crop (borders replicated)."""
    return cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def transform(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine to the x, y of (N, 2|3) points (z, if any, is scaled by the same factor)."""
    out = points.astype(np.float32).copy()
    out[:, :2] = points[:, :2] @ m[:, :2].T + m[:, 2]
    if points.shape[1] == 3:
        out[:, 2] = points[:, 2] * float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    return out
