"""Identity-vs-expression shape model of the dense landmarks, and the identity swap it allows.

Landmarks are taken in the canonical crop (streamanon.faces.align), x, y divided by the crop side.
Within-person variation (the same person in several images: expression, head pose) and between-person
variation (identity) are separated by whitening the within-person covariance in a PCA space and then
taking the principal directions of the between-person covariance there (a generalised eigenproblem, as
in LDA). In whitened coordinates the within-person variance is 1 in every direction, so the top-k
directions are those where people differ most relative to how one person varies: the identity subspace.
Anonymizing replaces a face's coordinates in that subspace by a sampled identity and keeps everything
else (expression, pose, the per-person deformation), so lips, eyes and brows move as before on a
different face shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

N_POINTS = 478


@dataclass
class ShapeModel:
    """mean (2N,), pca (2N, r), whiten (r, r), unwhiten (r, r), identity (r, k), id_std (k,)."""

    mean: np.ndarray
    pca: np.ndarray
    whiten: np.ndarray
    unwhiten: np.ndarray
    identity: np.ndarray
    id_std: np.ndarray
    typical_distance: float  # median whitened identity distance between two different people

    @property
    def k(self) -> int:
        return self.identity.shape[1]

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, **{k: np.asarray(v) for k, v in self.__dict__.items()})

    @classmethod
    def load(cls, path: str | Path) -> ShapeModel:
        d = np.load(path)
        return cls(**{k: (d[k] if d[k].ndim else float(d[k])) for k in d.files})

    def identity_coords(self, shapes: np.ndarray) -> np.ndarray:
        """(B, k) identity coordinates of (B, 478, 2) normalised shapes."""
        z = (shapes.reshape(len(shapes), -1) - self.mean) @ self.pca @ self.whiten
        return z @ self.identity

    def swap_identity(self, shapes: np.ndarray, coords: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Replace the identity part of (B, 478, 2) shapes by ``coords`` (B, k); keep the rest.

        ``weights`` (478,) scales the change per point (e.g. less on the lips, eyes and brows, whose own
        shape the expression metrics compare).
        """
        x = shapes.reshape(len(shapes), -1)
        z = (x - self.mean) @ self.pca @ self.whiten
        dz = (coords - z @ self.identity) @ self.identity.T
        delta = (dz @ self.unwhiten @ self.pca.T).reshape(shapes.shape)
        if weights is not None:
            delta = delta * weights[None, :, None]
        return (shapes + delta).astype(np.float32)

    def sample_identity(self, rng: np.random.Generator, avoid: np.ndarray | None = None,
                        min_distance: float = 1.0, tries: int = 32) -> np.ndarray:
        """(k,) identity coordinates drawn from the population; at least ``min_distance`` x the typical
        distance between two people away from ``avoid`` (the original person) when given."""
        best, best_d = None, -1.0
        for _ in range(tries):
            c = rng.normal(0.0, 1.0, self.k) * self.id_std * 0.9
            if avoid is None:
                return c
            d = float(np.linalg.norm(c - avoid))
            if d >= min_distance * self.typical_distance:
                return c
            if d > best_d:
                best, best_d = c, d
        return best


def fit_shape_model(shapes: np.ndarray, person: np.ndarray, k: int = 24, r: int = 80,
                    ridge: float = 1e-3) -> ShapeModel:
    """Fit from (N, 478, 2) normalised shapes and a person label per shape (unique label = one image)."""
    x = shapes.reshape(len(shapes), -1).astype(np.float64)
    mean = x.mean(0)
    xc = x - mean
    _, _, vt = np.linalg.svd(xc[:: max(1, len(xc) // 8000)], full_matrices=False)
    pca = vt[:r].T
    y = xc @ pca
    labels, inv, counts = np.unique(person, return_inverse=True, return_counts=True)
    sums = np.zeros((len(labels), r))
    np.add.at(sums, inv, y)
    means = sums / counts[:, None]
    multi = counts[inv] > 1
    within = y[multi] - means[inv[multi]]
    cw = within.T @ within / max(len(within) - 1, 1)
    cw += ridge * np.trace(cw) / r * np.eye(r)
    evals, evecs = np.linalg.eigh(cw)
    whiten = evecs / np.sqrt(evals)
    unwhiten = (evecs * np.sqrt(evals)).T
    zm = means @ whiten
    cb = np.cov(zm.T)
    bvals, bvecs = np.linalg.eigh(cb)
    order = np.argsort(bvals)[::-1][:k]
    identity = bvecs[:, order]
    coords = zm @ identity
    id_std = coords.std(0)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(coords), (2, 4000))
    keep = a != b
    typical = float(np.median(np.linalg.norm(coords[a[keep]] - coords[b[keep]], axis=1)))
    return ShapeModel(mean=mean.astype(np.float32), pca=pca.astype(np.float32), whiten=whiten.astype(np.float32),
                      unwhiten=unwhiten.astype(np.float32), identity=identity.astype(np.float32),
                      id_std=id_std.astype(np.float32), typical_distance=typical)
