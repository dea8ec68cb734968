"""Grain: the generated skin gets the fine detail level of the frame's own face, so it is not plastic beside
its surroundings. The level is one number (variance of the Laplacian over the skin), matched by adding a
per-track noise texture that moves with the face."""

from __future__ import annotations

import cv2
import numpy as np

NOISE_RES = 512  # side of the per-track noise texture in UV space


def laplacian_variance(rgb: np.ndarray, mask: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image inside ``mask`` (a no-reference sharpness); the mask is
    eroded by 2 px so that its own border does not count."""
    return grey_laplacian_variance(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY), mask)


def _skin_laplacian(grey: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The Laplacian of a grey image at the pixels of ``mask`` eroded by 2 px (its own border does not count)."""
    lap = cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F, ksize=3)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    return lap[inner if inner.any() else mask.astype(bool)]


def grey_laplacian_variance(grey: np.ndarray, mask: np.ndarray) -> float:
    """``laplacian_variance`` of a grey image (any dtype, 0-255 scale)."""
    values = _skin_laplacian(grey, mask)
    return float(values.var()) if values.size else 0.0


def texture_variance(rgb: np.ndarray, mask: np.ndarray) -> float:
    """``grey_texture_variance`` of an RGB image."""
    return grey_texture_variance(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY), mask)


def grey_texture_variance(grey: np.ndarray, mask: np.ndarray) -> float:
    """The skin's texture level: a robust variance of the Laplacian of a grey image inside ``mask`` (eroded by
    2 px), (1.4826 x the median absolute deviation)^2. Edges (the nose's outline, the lids, a fold) and JPEG
    ringing are outliers here; they made most of the plain variance of a smooth-skinned face, and noise matched
    to that was several times the skin's own texture (sandpaper). For Gaussian noise both are the same."""
    values = _skin_laplacian(grey, mask)
    if not values.size:
        return 0.0
    values = values[:: max(1, len(values) // 20000)]  # medians of at most ~20,000 pixels (per face and frame)
    mad = float(np.median(np.abs(values - np.median(values))))
    return (1.4826 * mad) ** 2


def _unit(x: np.ndarray) -> np.ndarray:
    x = x - float(x.mean())
    return (x / max(float(x.std()), 1e-6)).astype(np.float32)


def noise_texture(rng: np.random.Generator, res: int = NOISE_RES) -> np.ndarray:
    """(res, res) float32 zero-mean skin detail of unit standard deviation, one per track: fine grain, a
    coarser orange-peel texture, pores (small dark dots, denser in the middle of the face) and faint mottling
    (blobs about a tenth of the texture across). Drawn from ``rng`` alone: nothing of any person's skin."""
    def band(sigma: float) -> np.ndarray:
        return _unit(cv2.GaussianBlur(rng.standard_normal((res, res)).astype(np.float32), (0, 0), sigma))

    fine, peel = band(0.7 * res / NOISE_RES), band(1.6 * res / NOISE_RES)
    y, x = (np.mgrid[0:res, 0:res].astype(np.float32) + 0.5) / res
    middle = np.exp(-(((x - 0.5) / 0.22) ** 2 + ((y - 0.55) / 0.25) ** 2))  # nose and inner cheeks
    dots = (rng.random((res, res)) < 0.006 * (0.4 + middle)) * rng.uniform(0.5, 1.0, (res, res))
    pores = _unit(cv2.GaussianBlur(dots.astype(np.float32), (0, 0), 0.9 * res / NOISE_RES))
    mottle = band(res / 40)
    return _unit(fine + 0.6 * peel - 0.25 * pores + 0.35 * mottle)


def grain_amount(target: float, base: float, noise: float) -> float:
    """Amplitude a with base + a^2 * noise = target (variances of the Laplacian; 0 when already there)."""
    return float(np.sqrt(max(target - base, 0.0) / max(noise, 1e-9)))
