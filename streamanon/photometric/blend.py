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
    soft = cv2.max(mask, cv2.GaussianBlur(grown, (0, 0), k / 3))
    return cv2.min(cv2.multiply(soft, 1.02), 1.0)  # in [0, 1]: both are


def push_pull(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(H, W, C) float32: ``values`` where ``weight`` (H, W, in [0, 1]) is 1, elsewhere a smooth fill from
    the weighted values around (pull down an image pyramid, push back up): a membrane over the holes."""
    vs = [values.astype(np.float32) * weight[..., None]]  # premultiplied
    ws = [weight.astype(np.float32)]
    while min(ws[-1].shape) > 4:
        vs.append(cv2.pyrDown(vs[-1]))
        ws.append(cv2.pyrDown(ws[-1]))
    mean = vs[-1].sum((0, 1)) / max(float(ws[-1].sum()), 1e-6)  # where no weight reaches even the top level
    out = np.where(ws[-1][..., None] > 1e-3, vs[-1] / np.maximum(ws[-1], 1e-6)[..., None], mean)
    for v, w in zip(reversed(vs[:-1]), reversed(ws[:-1])):
        up = cv2.pyrUp(out, dstsize=(w.shape[1], w.shape[0]))
        if up.ndim == 2:
            up = up[..., None]
        a = np.minimum(w, 1.0)[..., None]
        out = np.where(a >= 1.0, v / np.maximum(w, 1e-6)[..., None], v + (1.0 - a) * up)
    return out.astype(np.float32)


def boundary_offset(fg: np.ndarray, bg: np.ndarray, inside: np.ndarray, ring: int, reach: float,
                    trust: np.ndarray | None = None, core: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) float32 offset that makes ``fg`` meet ``bg`` along the edge of the (H, W) bool ``inside``:
    bg - fg measured on a ``ring`` px band just outside it (only where the (H, W) bool ``trust`` holds, if
    given), spread by normalised convolution and faded inward with the distance from the edge of ``inside``, or of the
    (H, W) bool ``core`` within it if given (1/e at ``reach`` px). Zero outside ``inside`` and its ring, and
    deep inside."""
    m = inside.astype(np.uint8)
    band = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ring + 1, 2 * ring + 1))) & (1 - m)
    weight = band.astype(np.float32) * (1.0 if trust is None else trust.astype(np.float32))
    if not weight.any():
        return np.zeros_like(fg, np.float32)
    sigma = max(reach / 2, 1.0)  # normalised convolution: each point takes the ring's nearby differences
    near = cv2.GaussianBlur(weight, (0, 0), sigma)
    weighted = (bg - fg) * weight[..., None]
    mean = weighted.sum((0, 1)) / weight.sum()  # far from the ring: its mean
    diff = (cv2.GaussianBlur(weighted, (0, 0), sigma) + 0.02 * mean) / (near + 0.02)[..., None]
    depth = cv2.distanceTransform(m if core is None else core.astype(np.uint8), cv2.DIST_L2, 3)
    return diff * np.exp(-depth / max(reach, 1.0))[..., None] * (m | band)[..., None].astype(np.float32)
