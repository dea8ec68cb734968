"""Lighting, colour and sharpness of a face region. Pure functions.

Lighting: second-order spherical harmonics (9 coefficients per RGB channel) fitted by least squares to
linear-RGB skin pixels, with the pixel's surface normal from the mesh. Albedo is absorbed in the
coefficients, so two faces are compared by the direction of the first-order part and by relative L2.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg
from skimage import color

from ..photometric.colour import near_median
from ..photometric.grain import laplacian_variance, texture_variance  # noqa: F401 (re-exported)
from ..photometric.sh import LUMA, fit_sh, light_direction, sh_basis, srgb_to_linear  # noqa: F401 (re-exported)


def angle_degrees(u: np.ndarray, v: np.ndarray) -> float | None:
    """Angle between two vectors in degrees; None when either is zero (no directional light to compare)."""
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    if nu < 1e-9 or nv < 1e-9:
        return None
    return float(np.degrees(np.arctan2(np.linalg.norm(np.cross(u, v)), u @ v)))  # stable near 0 and 180


def relative_l2(reference: np.ndarray, other: np.ndarray) -> float:
    """||other - reference|| / ||reference||."""
    return float(np.linalg.norm(other - reference) / max(np.linalg.norm(reference), 1e-12))


def skin_lab(pixels: np.ndarray, core: np.ndarray, k: float = 2.5,
             floor: tuple[float, float, float] = (8.0, 1.5, 1.5)) -> np.ndarray:
    """(3,) mean CIELAB of the (N, 3) uint8 pixels that show skin: those within ``k`` robust standard deviations
    (1.4826 MAD + ``floor``: the light varies over a face, its colour less) of the median of the (M, 3) ``core``
    pixels (a region that is nearly always skin). A fringe, glasses or strands of hair over the measured region
    are left out; the mean of all pixels read them as skin. Plain mean when the core has fewer than 30 pixels."""
    lab = color.rgb2lab(np.asarray(pixels, np.uint8).reshape(-1, 1, 3)).reshape(-1, 3)
    if len(core) < 30:
        return lab.mean(0)
    keep = near_median(lab, color.rgb2lab(np.asarray(core, np.uint8).reshape(-1, 1, 3)).reshape(-1, 3), k, floor)
    return lab[keep].mean(0) if keep.sum() >= 30 else lab.mean(0)


def ciede2000(lab_a: np.ndarray, lab_b: np.ndarray) -> float:
    """CIEDE2000 colour difference of two CIELAB colours."""
    return float(color.deltaE_ciede2000(np.asarray(lab_a, np.float64), np.asarray(lab_b, np.float64)))


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
