"""The original face's lighting as a few SH coefficients, and shading on other normals. Pure functions.

The lighting is fitted by least squares on the original's skin pixels (linear luminance) with the normals of
the original's own mesh, and normalised so that its mean shading over those pixels is 1: the coefficients
carry the direction and contrast of the light, not the skin's brightness (the colour stage sets that). They
are rendered on the NEW geometry's normals, never copied pixel for pixel (low frequencies of the original
carry identity, ../shared/DESIGN.md section 9).
"""

from __future__ import annotations

import numpy as np

from .sh import LUMA, ORDER, fit_sh, sh_basis

# ridge per SH order: the second order is poorly constrained by a face's half sphere of normals
RIDGE = np.array([0.0, 1e-4, 1e-2])[ORDER]  # none on the constant: shrinking it tilts the light
SHADING_RANGE = (0.05, 2.5)


def fit_lighting(linear_rgb: np.ndarray, normals: np.ndarray, order: int = 2) -> np.ndarray:
    """(9,) SH coefficients of the luminance of (K, 3) linear-RGB pixels with unit normals (K, 3), scaled to a
    mean shading of 1 over those pixels."""
    if len(normals) < 30:
        raise ValueError(f"too few skin pixels to fit the lighting ({len(normals)})")
    y = np.asarray(linear_rgb, np.float64) @ LUMA
    coeffs = fit_sh(y[:, None], normals, RIDGE, order)[:, 0]
    residual = y - sh_basis(normals) @ coeffs
    inliers = np.abs(residual) <= 2.5 * residual.std() + 1e-9  # one trimmed refit: shadows, specular spots
    if inliers.sum() >= 30:
        normals = normals[inliers]
        coeffs = fit_sh(y[inliers, None], normals, RIDGE, order)[:, 0]
    mean = float(sh_basis(normals).mean(0) @ coeffs)
    if mean <= 1e-6:
        raise ValueError("the fitted lighting is not positive")
    return coeffs / mean


def soft_floor(shading: np.ndarray, floor: float) -> np.ndarray:
    """``sqrt(s^2 + floor^2)``: shading that never falls below ``floor`` and bends into it smoothly (a hard
    clip draws the floor's edge on the face); above about 3x the floor it is unchanged within 6%."""
    return np.sqrt(np.square(shading) + floor * floor).astype(np.asarray(shading).dtype)


def shading(normals: np.ndarray, coeffs: np.ndarray) -> np.ndarray:
    """(K,) shading of unit normals (K, 3) under (9,) coefficients, clipped to a plausible range."""
    if np.any(coeffs[4:]):
        s = sh_basis(normals) @ coeffs
    else:  # first order only: no (K, 9) basis
        s = 0.282095 * coeffs[0] + 0.488603 * (normals @ coeffs[[3, 1, 2]].astype(normals.dtype))
    return np.clip(s, *SHADING_RANGE)


FLAT = np.r_[1 / 0.282095, np.zeros(8)]  # uniform light: shading 1 everywhere (the --no-relight ablation)
