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


def grey_laplacian_variance(grey: np.ndarray, mask: np.ndarray) -> float:
    """``laplacian_variance`` of a grey image (any dtype, 0-255 scale)."""
    lap = cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F, ksize=3)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    values = lap[inner if inner.any() else mask.astype(bool)]
    return float(values.var()) if values.size else 0.0


def noise_texture(rng: np.random.Generator, res: int = NOISE_RES) -> np.ndarray:
    """(res, res) float32 zero-mean grain of unit standard deviation, slightly blurred (skin, not pixels)."""
    n = cv2.GaussianBlur(rng.standard_normal((res, res)).astype(np.float32), (0, 0), 0.7)
    return n / max(float(n.std()), 1e-6)


def grain_amount(target: float, base: float, noise: float) -> float:
    """Amplitude a with base + a^2 * noise = target (variances of the Laplacian; 0 when already there)."""
    return float(np.sqrt(max(target - base, 0.0) / max(noise, 1e-9)))
