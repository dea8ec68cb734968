"""Lighting, colour and sharpness of a face region. Pure functions.

Lighting: second-order spherical harmonics (9 coefficients per RGB channel) fitted by least squares to
linear-RGB skin pixels, with the pixel's surface normal from the mesh. Albedo is absorbed in the
coefficients, so two faces are compared by the direction of the first-order part and by relative L2.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import linalg
from skimage import color

LUMA = np.array([0.2126, 0.7152, 0.0722])  # Rec. 709 weights of linear R, G, B


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """uint8 sRGB -> float linear RGB in [0, 1]."""
    c = np.asarray(rgb, np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def sh_basis(normals: np.ndarray) -> np.ndarray:
    """(N, 9) real spherical harmonics up to order 2 of unit normals (N, 3) in the order
    1, y, z, x, xy, yz, 3z^2 - 1, xz, x^2 - y^2 (each with its normalisation constant)."""
    x, y, z = normals[:, 0], normals[:, 1], normals[:, 2]
    c0, c1, c2, c3, c4 = 0.282095, 0.488603, 1.092548, 0.315392, 0.546274
    return np.stack([np.full_like(x, c0), c1 * y, c1 * z, c1 * x, c2 * x * y, c2 * y * z,
                     c3 * (3 * z * z - 1), c2 * x * z, c4 * (x * x - y * y)], 1)


def fit_sh(colours: np.ndarray, normals: np.ndarray, ridge: float = 1e-3) -> np.ndarray:
    """(9, 3) coefficients with colours (N, 3) ~ sh_basis(normals) @ coeffs (ridge-regularised least squares)."""
    b = sh_basis(normals)
    gram = b.T @ b / len(b) + ridge * np.eye(9)
    return np.linalg.solve(gram, b.T @ colours / len(b))


def light_direction(coeffs: np.ndarray) -> np.ndarray:
    """(3,) x, y, z direction of the first-order (directional) part, luminance-weighted over channels."""
    return coeffs[[3, 1, 2]] @ LUMA


def angle_degrees(u: np.ndarray, v: np.ndarray) -> float | None:
    """Angle between two vectors in degrees; None when either is zero (no directional light to compare)."""
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    if nu < 1e-9 or nv < 1e-9:
        return None
    return float(np.degrees(np.arctan2(np.linalg.norm(np.cross(u, v)), u @ v)))  # stable near 0 and 180


def relative_l2(reference: np.ndarray, other: np.ndarray) -> float:
    """||other - reference|| / ||reference||."""
    return float(np.linalg.norm(other - reference) / max(np.linalg.norm(reference), 1e-12))


def mean_lab(pixels: np.ndarray) -> np.ndarray:
    """(3,) mean CIELAB (D65) of (N, 3) uint8 sRGB pixels."""
    lab = color.rgb2lab(np.asarray(pixels, np.uint8).reshape(-1, 1, 3))
    return lab.reshape(-1, 3).mean(0)


def ciede2000(lab_a: np.ndarray, lab_b: np.ndarray) -> float:
    """CIEDE2000 colour difference of two CIELAB colours."""
    return float(color.deltaE_ciede2000(np.asarray(lab_a, np.float64), np.asarray(lab_b, np.float64)))


def laplacian_variance(rgb: np.ndarray, mask: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image inside ``mask`` (a no-reference sharpness)."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = cv2.Laplacian(grey, cv2.CV_32F, ksize=3)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    values = lap[inner if inner.any() else mask]
    return float(values.var()) if values.size else 0.0


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two sets of embeddings (N, D) and (M, D), FID's formula:
    |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root = linalg.sqrtm(s_a @ s_b)
    if not np.isfinite(root).all():  # near-singular product: nudge the diagonals
        eps = 1e-6 * np.eye(len(s_a))
        root = linalg.sqrtm((s_a + eps) @ (s_b + eps))
    root = np.real(root)
    return float(max(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * root), 0.0))
