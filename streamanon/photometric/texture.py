"""The albedo model: a PCA of de-lit face textures in the mesh's UV space (streamanon.photometric.uv).

One albedo per track is sampled from it (seeded by the run's seed and the track id) and kept for the track's
life: a face of nobody whose texture is stable by construction. Textures are linear RGB, each training face
divided by its mean skin colour before the fit (``tone`` is the mean of those colours), so the components hold
the face's structure (brows, lips, eyes, shading left over) rather than its skin tone, which the colour stage
takes from the original.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


@dataclass
class TextureModel:
    """res: texture side; texels (D,) flat indices of the covered texels; mean (D, 3); components (k, D, 3);
    std (k,) of each component's coefficient; tone (3,) mean linear skin colour of the training faces."""

    res: int
    texels: np.ndarray
    mean: np.ndarray
    components: np.ndarray
    std: np.ndarray
    tone: np.ndarray

    @property
    def k(self) -> int:
        return len(self.std)

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, res=self.res, texels=self.texels.astype(np.int32),
                            mean=self.mean.astype(np.float16), components=self.components.astype(np.float16),
                            std=self.std.astype(np.float32), tone=self.tone.astype(np.float32))

    @classmethod
    def load(cls, path: str | Path) -> TextureModel:
        d = np.load(path)
        return cls(int(d["res"]), d["texels"], d["mean"].astype(np.float32), d["components"].astype(np.float32),
                   d["std"], d["tone"])

    def coefficients(self, rng: np.random.Generator, scale: float = 0.45, clip: float = 1.5) -> np.ndarray:
        """(k,) coefficients of a random face: normal, ``scale`` x the population's spread, clipped."""
        return np.clip(rng.standard_normal(self.k), -clip, clip) * self.std * scale

    def texture(self, coeffs: np.ndarray, fill: float = 1.0) -> np.ndarray:
        """(res, res, 3) float32 linear albedo (relative to the mean skin colour) for ``coeffs``; uncovered
        texels are ``fill``."""
        flat = self.mean + np.tensordot(coeffs.astype(np.float32), self.components, 1)
        tex = np.full((self.res * self.res, 3), fill, np.float32)
        tex[self.texels] = np.clip(flat, 0.0, 4.0)
        return tex.reshape(self.res, self.res, 3)

    def project(self, textures: np.ndarray) -> np.ndarray:
        """(B, k) coefficients of (B, D, 3) textures (least squares on the orthonormal components)."""
        return np.tensordot(textures - self.mean, self.components, ([1, 2], [1, 2]))


def fit_texture_model(textures: np.ndarray, texels: np.ndarray, res: int, tone: np.ndarray, k: int = 80
                      ) -> tuple[TextureModel, np.ndarray]:
    """PCA of (N, D, 3) textures; returns the model and the explained share of variance per component."""
    x = textures.reshape(len(textures), -1).astype(np.float64)
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    var = s ** 2 / (len(x) - 1)
    k = min(k, len(vt))
    comps = vt[:k].reshape(k, -1, 3)
    model = TextureModel(res, texels, mean.reshape(-1, 3).astype(np.float32), comps.astype(np.float32),
                         np.sqrt(var[:k]).astype(np.float32), np.asarray(tone, np.float32))
    return model, var[:k] / var.sum()


# the albedo's middle band of luminance (between these two blur widths, shares of the texture side) is kept at
# BAND_KEEP: there the training faces left what de-lighting does not remove (blurred eyes, brows and smile lines,
# the nose's highlight and the cheeks' shadows, which the render's own shading then doubled: dirty sockets and
# a contoured look). On lp_d11 the face's frame-to-frame change fell from 1.24 to 1.16 x the original's at 0, to
# 1.19 at 0.4; at 0 rank-1 on the 68 CelebA-HQ faces rose from 2 to 4, at 0.4 it stayed at 2 (seed 0)
BAND = (1 / 48, 1 / 8)
BAND_KEEP = 0.4
DARK_FEATURE = 0.92  # texels darker than this share of their surroundings are features, not skin


def calm_albedo(tex: np.ndarray, brow_top: float, chroma_sigma: float = 1 / 24, top_sigma: float = 1 / 8,
                dark: float = 0.5, band: tuple[float, float] = BAND, band_keep: float = BAND_KEEP,
                zone: np.ndarray | None = None) -> np.ndarray:
    """(R, R, 3) albedo with the training set's marks toned down: its chroma (colour / luminance) smoothed
    over ``chroma_sigma`` of the texture (stains, makeup; brows and lips are drawn on their own), and above
    the brows (texture rows over ``brow_top``, in [0, 1]) its luminance blended, increasingly towards the
    top, into a blur over ``top_sigma`` (the bands that hair over the training foreheads left); what is darker
    than its surroundings (blurred eyes, brows, sockets) kept at ``dark`` of its depth (the eyes and brows
    are drawn sharp on their own); then the luminance's ``band`` (between two blur widths, shares of the side)
    kept at ``band_keep``: the broad tone and the fine marks stay. ``zone``: (R, R) weights in [0, 1] of texels
    whose luminance and chroma are replaced, by that weight, with a fill from the skin around the zone (a blur
    over ``top_sigma`` that leaves out the zone and texels under DARK_FEATURE of their surroundings: brows, eyes).
    For the middle of the forehead down to the nose's bridge (``glabella_zone``): some training faces bear a
    tilak or a bindi there, and a sampled albedo drew a pale Y or a frown between the new brows."""
    res = tex.shape[0]
    lum = np.maximum(tex.mean(-1, keepdims=True), 1e-3)
    chroma = cv2.GaussianBlur(tex / lum, (0, 0), chroma_sigma * res)
    rows = (np.arange(res, dtype=np.float32) + 0.5) / res
    w = np.clip((brow_top - 0.03 - rows) / max(brow_top - 0.1, 1e-3), 0, 0.85)[:, None, None]
    if zone is not None:  # filled from the skin around the zone (a normalised blur that leaves out the zone and
        z = zone[..., None].astype(np.float32)  # what is darker than its surroundings: brows, eyes)
        skin = lum[..., 0] >= DARK_FEATURE * cv2.GaussianBlur(lum, (0, 0), top_sigma * res)
        out = np.maximum((1.0 - z) * skin[..., None], 1e-3)
        norm = cv2.GaussianBlur(out, (0, 0), top_sigma * res)[..., None]
        chroma = chroma * (1 - z) + cv2.GaussianBlur(chroma * out, (0, 0), top_sigma * res) / norm * z
        lum = lum * (1 - z) + cv2.GaussianBlur(lum * out, (0, 0), top_sigma * res)[..., None] / norm * z
    lum = lum * (1 - w) + cv2.GaussianBlur(lum, (0, 0), top_sigma * res)[..., None] * w
    around = cv2.GaussianBlur(lum, (0, 0), res / 24)[..., None]
    lum = np.where(lum < around, around - dark * (around - lum), lum)
    if band_keep < 1.0:
        fine = np.maximum(cv2.GaussianBlur(lum, (0, 0), band[0] * res), 1e-3)[..., None]
        broad = np.maximum(cv2.GaussianBlur(lum, (0, 0), band[1] * res), 1e-3)[..., None]
        lum = broad * (lum / fine) * (fine / broad) ** band_keep
    return (chroma * lum).astype(np.float32)
