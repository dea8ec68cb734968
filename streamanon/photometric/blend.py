"""Laplacian-pyramid blending: seams vanish at every scale while the mask's inside is taken whole."""

from __future__ import annotations

import cv2
import numpy as np


def _gaussian(img: np.ndarray, levels: int) -> list[np.ndarray]:
    pyr = [img]
    for _ in range(levels):
        pyr.append(cv2.pyrDown(pyr[-1]))
    return pyr


def laplacian_blend(fg: np.ndarray, bg: np.ndarray, mask: np.ndarray, levels: int = 4) -> np.ndarray:
    """Blend (H, W, 3) uint8 ``fg`` over ``bg`` with (H, W) float mask in [0, 1]; returns uint8.

    Where the mask is 1 the result is ``fg`` exactly (the face region is never a mix with the original).
    """
    h, w = mask.shape
    levels = max(0, min(levels, int(np.log2(max(min(h, w), 1))) - 3))
    a, b = fg.astype(np.float32), bg.astype(np.float32)
    ga, gb, gm = _gaussian(a, levels), _gaussian(b, levels), _gaussian(mask.astype(np.float32), levels)
    out = gm[-1][..., None] * ga[-1] + (1 - gm[-1][..., None]) * gb[-1]
    for i in range(levels - 1, -1, -1):
        size = (ga[i].shape[1], ga[i].shape[0])
        la = ga[i] - cv2.pyrUp(ga[i + 1], dstsize=size)
        lb = gb[i] - cv2.pyrUp(gb[i + 1], dstsize=size)
        m = gm[i][..., None]
        out = cv2.pyrUp(out, dstsize=size) + m * la + (1 - m) * lb
    full = mask >= 0.999
    out[full] = a[full]
    return np.clip(out, 0, 255).astype(np.uint8)
