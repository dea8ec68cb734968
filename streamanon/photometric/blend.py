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
    Blending is linear, so the pyramid of ``m * L(fg) + (1 - m) * L(bg)`` is ``bg`` plus the pyramid of
    ``m * L(fg - bg)``: one Laplacian pyramid (of the difference) instead of two.
    """
    h, w = mask.shape
    levels = max(0, min(levels, int(np.log2(max(min(h, w), 1))) - 3))
    a, b = fg.astype(np.float32), bg.astype(np.float32)
    gd = _gaussian(cv2.subtract(a, b), levels)
    gm = [cv2.merge([g, g, g]) for g in _gaussian(mask.astype(np.float32), levels)]
    out = cv2.multiply(gd[-1], gm[-1])
    for i in range(levels - 1, -1, -1):
        size = (gd[i].shape[1], gd[i].shape[0])
        lap = cv2.subtract(gd[i], cv2.pyrUp(gd[i + 1], dstsize=size))
        out = cv2.add(cv2.pyrUp(out, dstsize=size), cv2.multiply(lap, gm[i]))
    out = cv2.add(out, b)
    cv2.copyTo(a, (mask >= 0.999).astype(np.uint8), out)
    return np.clip(out, 0, 255, out=out).astype(np.uint8)


def feather(mask: np.ndarray, k: int) -> np.ndarray:
    """(H, W) float32 in [0, 1]: 1 inside the (H, W) 0/1 ``mask``, a ring fading outward over about ``k``
    pixels (dilated by k, then blurred): none of what the mask covers is mixed with the background."""
    mask = mask.astype(np.float32)
    grown = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return np.clip(np.maximum(mask, cv2.GaussianBlur(grown, (0, 0), k / 3)) * 1.02, 0, 1)
