"""Thin-plate-spline warps between two sets of matching points (pure functions)."""

from __future__ import annotations

import cv2
import numpy as np


def _kernel(r2: np.ndarray) -> np.ndarray:
    """The thin-plate kernel r^2 log r, from squared distances."""
    return 0.5 * r2 * np.log(np.maximum(r2, 1e-12))


def _normalised(src: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(the points centred and scaled to a unit spread, their centre, the scale)."""
    centre = src.mean(0)
    scale = max(float(np.ptp(src, 0).max()), 1.0)
    return (src - centre) / scale, centre, scale


def tps_fit(src: np.ndarray, dst: np.ndarray, smooth: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """(weights (N, 2), affine (3, 2)) of the spline that maps (N, 2) ``src`` (normalised: ``_normalised``) onto
    (N, 2) ``dst``; ``smooth`` (relative to the points' spread squared) regularises it, so close or crossing
    points do not fold it."""
    n = len(src)
    s = _normalised(src)[0]
    k = _kernel(((s[:, None] - s[None]) ** 2).sum(-1)) + smooth * np.eye(n)
    p = np.c_[np.ones(n), s]
    a = np.zeros((n + 3, n + 3))
    a[:n, :n], a[:n, n:], a[n:, :n] = k, p, p.T
    b = np.zeros((n + 3, 2))
    b[:n] = dst
    sol = np.linalg.solve(a, b)
    return sol[:n], sol[n:]


def tps_map(src: np.ndarray, dst: np.ndarray, shape: tuple[int, int], origin: np.ndarray,
            smooth: float = 1e-3, step: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(map_x, map_y) float32 (H, W) for ``cv2.remap``: for each pixel of an (H, W) box at ``origin`` (x, y)
    in ``src``'s coordinates, where the spline from ``src`` to ``dst`` takes it (in ``dst``'s coordinates).
    The spline is evaluated every ``step`` px (it is smooth) and interpolated between."""
    w, aff = tps_fit(src, dst, smooth)
    s, centre, scale = _normalised(src)
    h, wd = shape
    ch, cw = max(2, -(-(h - 1) // step) + 1), max(2, -(-(wd - 1) // step) + 1)
    gy, gx = np.meshgrid(np.linspace(0, h - 1, ch), np.linspace(0, wd - 1, cw), indexing="ij")
    q = (np.stack([gx.ravel() + origin[0], gy.ravel() + origin[1]], 1) - centre) / scale
    out = _kernel(((q[:, None] - s[None]) ** 2).sum(-1)) @ w + np.c_[np.ones(len(q)), q] @ aff
    coarse = out.reshape(ch, cw, 2)
    wy, wx = _linear_weights(h, ch), _linear_weights(wd, cw)
    return tuple((wy @ coarse[..., i] @ wx.T).astype(np.float32) for i in range(2))


def _linear_weights(n: int, m: int) -> np.ndarray:
    """(n, m) weights that interpolate m evenly spaced samples (the first at 0, the last at n - 1) linearly
    at 0..n-1."""
    t = np.linspace(0.0, m - 1.0, n)
    i = np.minimum(np.floor(t).astype(int), m - 2)
    f = t - i
    w = np.zeros((n, m))
    w[np.arange(n), i] = 1.0 - f
    w[np.arange(n), i + 1] = f
    return w


def warp_region(image: np.ndarray, src: np.ndarray, dst: np.ndarray, shape: tuple[int, int],
                origin: np.ndarray) -> np.ndarray:
    """The (H, W, C) box at ``origin`` of an image whose points ``dst`` are moved to ``src``: each pixel of the
    box (in ``src``'s coordinates) is read from ``image`` (in ``dst``'s) where the spline takes it."""
    mx, my = tps_map(src, dst, shape, origin)
    return cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
