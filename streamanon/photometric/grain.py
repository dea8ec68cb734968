"""Grain: the generated skin gets the fine detail level of the frame's own face, so it is not plastic beside
its surroundings. Two numbers of the original's skin are matched, each by a per-track texture that moves with
the face: its robust variance of the Laplacian (the even grain, matched by ``noise_texture``) and its plain
variance (the heavy tail: pores, freckles, creases, matched by the sparse ``marks_texture``)."""

from __future__ import annotations

import cv2
import numpy as np

NOISE_RES = 512  # side of the per-track noise texture in UV space
# share of texels that hold a pore, outside the middle of the face (x 1.25 in it): many shallow pores (at 0.08 and
# a depth cap of 12 the few deep ones read as dirt at 1024 px; the same detail level at 0.2 and 6 reads as skin)
PORES = 0.2
FRECKLED = 0.25  # share of tracks with freckles
FRECKLES = 60  # mean number of freckles on a freckled track


def laplacian_variance(rgb: np.ndarray, mask: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image inside ``mask`` (a no-reference sharpness); the mask is
    eroded by 2 px so that its own border does not count."""
    return grey_laplacian_variance(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY), mask)


def skin_pixels(mask: np.ndarray) -> np.ndarray:
    """Flat indices of the pixels of ``mask`` eroded by 2 px (its own border does not count; all of ``mask``
    when nothing is left)."""
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    return np.flatnonzero(inner if inner.any() else mask)


def laplacian_at(grey: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """The Laplacian of a grey image at flat ``pixels``."""
    return cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F, ksize=3).ravel()[pixels]


def _skin_laplacian(grey: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The Laplacian of a grey image at the pixels of ``mask`` eroded by 2 px (its own border does not count)."""
    return laplacian_at(grey, skin_pixels(mask))


def texture_levels(grey: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(``grey_texture_variance``, ``grey_laplacian_variance``) of a grey image from one Laplacian."""
    values = _skin_laplacian(grey, mask)
    return (robust_variance(values), float(values.var())) if values.size else (0.0, 0.0)


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
    return robust_variance(_skin_laplacian(grey, mask))


def robust_variance(values: np.ndarray, limit: int = 20000) -> float:
    """(1.4826 x the median absolute deviation)^2 of Laplacian ``values`` (``grey_texture_variance``), from
    about ``limit`` of them at most."""
    if not values.size:
        return 0.0
    values = values[:: max(1, len(values) // limit)]
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


def marks_texture(rng: np.random.Generator, res: int = NOISE_RES) -> np.ndarray:
    """(res, res) float32 sparse skin marks of one track, 0 on bare skin and negative where a mark darkens it
    (a typical pore is -1): pores, most on the nose and inner cheeks, of gamma-distributed depth, and
    for some tracks freckles. Drawn from ``rng`` alone: nothing of any person's skin."""
    y, x = (np.mgrid[0:res, 0:res].astype(np.float32) + 0.5) / res
    middle = np.exp(-(((x - 0.5) / 0.2) ** 2 + ((y - 0.55) / 0.22) ** 2))  # nose and inner cheeks
    sigma = 0.7 * res / NOISE_RES
    dots = (rng.random((res, res)) < PORES * (0.25 + middle)) * rng.gamma(3.0, 1 / 3, (res, res))
    pores = cv2.GaussianBlur(dots.astype(np.float32), (0, 0), sigma) * (2 * np.pi * sigma ** 2)
    spots = np.zeros((res, res), np.float32)
    count = rng.poisson(FRECKLES) if rng.random() < FRECKLED else 0
    for cx, cy, r, d in zip(rng.uniform(0.2, 0.8, count), rng.uniform(0.25, 0.85, count),
                            rng.uniform(0.6, 1.3, count) * res / NOISE_RES, rng.uniform(0.3, 0.8, count)):
        cv2.circle(spots, (int(cx * res), int(cy * res)), max(1, int(round(r))), float(d), -1, cv2.LINE_AA)
    spots = cv2.GaussianBlur(spots, (0, 0), sigma)
    return -(pores + spots)


def grain_amount(target: float, base: float, noise: float) -> float:
    """Amplitude a with base + a^2 * noise = target (variances of the Laplacian; 0 when already there)."""
    return float(np.sqrt(max(target - base, 0.0) / max(noise, 1e-9)))
