"""Spherical-harmonics (SH) lighting maths shared by the renderer and the metrics. Pure functions.

Colours are linear RGB; normals are unit vectors in image axes (x right, y down, z away from the camera).
"""

from __future__ import annotations

import numpy as np

LUMA = np.array([0.2126, 0.7152, 0.0722])  # Rec. 709 weights of linear R, G, B
ORDER = np.array([0, 1, 1, 1, 2, 2, 2, 2, 2])  # SH order of each of the 9 coefficients


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """uint8 sRGB -> float linear RGB in [0, 1]."""
    c = np.asarray(rgb, np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(lin: np.ndarray) -> np.ndarray:
    """Float linear RGB -> float sRGB in [0, 255] (clipped)."""
    c = np.clip(lin, 0.0, 1.0)
    return 255.0 * np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)


_LUT_SIZE = 8192
_TO_SRGB = linear_to_srgb(np.linspace(0.0, 1.0, _LUT_SIZE)).astype(np.float32) / 255.0


def linear_to_srgb_fast(lin: np.ndarray) -> np.ndarray:
    """``linear_to_srgb`` / 255 by a 8192-entry table (float32 in [0, 1]; error < 0.3 / 255 above black)."""
    idx = np.clip(lin * (_LUT_SIZE - 1) + 0.5, 0, _LUT_SIZE - 1).astype(np.int32)
    return _TO_SRGB[idx]


def sh_basis(normals: np.ndarray) -> np.ndarray:
    """(N, 9) real spherical harmonics up to order 2 of unit normals (N, 3) in the order
    1, y, z, x, xy, yz, 3z^2 - 1, xz, x^2 - y^2 (each with its normalisation constant)."""
    x, y, z = normals[:, 0], normals[:, 1], normals[:, 2]
    c0, c1, c2, c3, c4 = 0.282095, 0.488603, 1.092548, 0.315392, 0.546274
    return np.stack([np.full_like(x, c0), c1 * y, c1 * z, c1 * x, c2 * x * y, c2 * y * z,
                     c3 * (3 * z * z - 1), c2 * x * z, c4 * (x * x - y * y)], 1)


def fit_sh(colours: np.ndarray, normals: np.ndarray, ridge: float | np.ndarray = 1e-3, order: int = 2
           ) -> np.ndarray:
    """(9, C) coefficients with colours (N, C) ~ sh_basis(normals) @ coeffs, ridge-regularised least squares
    (``ridge``: one value, or one per coefficient). ``order`` 1 fits the first four only (the others are 0)."""
    n = 4 if order == 1 else 9
    b = sh_basis(normals)[:, :n]
    reg = np.broadcast_to(np.asarray(ridge, np.float64), (9,))[:n]
    gram = b.T @ b / len(b) + np.diag(reg)
    colours = np.asarray(colours, np.float64)
    out = np.zeros((9,) + colours.shape[1:])
    out[:n] = np.linalg.solve(gram, b.T @ colours / len(b))
    return out


def light_direction(coeffs: np.ndarray) -> np.ndarray:
    """(3,) x, y, z direction of the first-order (directional) part, luminance-weighted over channels
    (coefficients (9, 3) RGB or (9,) one channel)."""
    first = coeffs[[3, 1, 2]]
    return first @ LUMA if first.ndim == 2 else first
