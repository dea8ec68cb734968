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


# the strongest first-order light taken from a fit: its directional part at most this times the ambient one (a
# single distant light with no ambient gives 2, the Lambertian irradiance projected on SH order 1: 0.25 + 0.5
# cos). A least-squares fit on a face whose sides are darker for other reasons (hair at the edge, the model depth
# overstating how far they turn) read more, with a negative constant: the new face's outer ring fell to a third
# of its centre and, spread by the colour match, showed as a dark dotted line along its outline. At 1.0 the
# lighting direction error on the 68 CelebA-HQ faces rose from 5.8 to 7.6 deg, at 2.0 to 6.4 (rank-1 the same at
# both, and higher than untamed: docs/results.md)
LIGHT_CONTRAST = 2.0


def plausible_light(coeffs: np.ndarray, contrast: float = LIGHT_CONTRAST) -> np.ndarray:
    """First-order (9,) coefficients whose directional term is at most ``contrast`` times the constant one,
    same direction and same shading on a normal facing the camera; FLAT when that shading is not positive."""
    c = np.asarray(coeffs, np.float64).copy()
    ambient, direction = 0.282095 * c[0], 0.488603 * c[[3, 1, 2]]  # (x, y, z) as in ``shading``
    strength = float(np.linalg.norm(direction))
    if strength <= contrast * ambient or np.any(c[4:]):
        return c
    front = ambient - direction[2]  # the shading of the normal (0, 0, -1)
    if front <= 1e-6:
        return FLAT.copy()
    facing = -direction[2] / strength  # cos of the angle between the light and the camera-facing normal
    ambient = front / (1.0 + contrast * facing)
    c[0] = ambient / 0.282095
    c[[3, 1, 2]] = direction / strength * contrast * ambient / 0.488603
    return c


def cavity(model: np.ndarray, normals: np.ndarray, radius: float = 0.08) -> np.ndarray:
    """(N,) how deep each vertex of a (N, 3) face model (z larger = farther) lies under the surface around it
    (Gaussian weights of ``radius`` x the face's width), along its unit normal (N, 3), in face widths, smoothed
    once over the same neighbours; near 0 where the face is convex. Eye sockets, the folds round the nose wings
    and the mouth corners are the deepest: the places that see less of the light around them (ambient
    occlusion)."""
    width = float(np.ptp(model[:, 0]))
    d = model[None, :, :] - model[:, None, :]  # (i, j, 3): P_j - P_i
    w = np.exp(-0.5 * np.square(np.linalg.norm(d, axis=2) / (radius * width)))
    np.fill_diagonal(w, 0.0)
    rise = np.einsum("ijk,ik->ij", d, normals)  # how far each neighbour stands out along the vertex's normal
    depth = (w * rise).sum(1) / np.maximum(w.sum(1), 1e-9) / max(width, 1e-9)
    smooth = (w @ np.maximum(depth, 0.0) + np.maximum(depth, 0.0)) / (w.sum(1) + 1.0)  # one pass over neighbours
    return smooth
