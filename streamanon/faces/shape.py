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
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

N_POINTS = 478


@dataclass
class ShapeModel:
    """mean (2N,), pca (2N, r), whiten (r, r), unwhiten (r, r), identity (r, k), id_std (k,), depth (N,)."""

    mean: np.ndarray
    pca: np.ndarray
    whiten: np.ndarray
    unwhiten: np.ndarray
    identity: np.ndarray
    id_std: np.ndarray
    typical_distance: float  # median whitened identity distance between two different people
    depth: np.ndarray | None = None  # (N,) mean face depth (MediaPipe z / crop side), for remove_rigid
    # (G, k) mean and spread of the identity coordinates of G groups of real faces (tools/fit_identity_prior.py:
    # adults, children). New identities are drawn from the group the original face is likeliest in: the whole
    # training population is a third children, and drawn from all of it an adult got a child's proportions
    prior_mean: np.ndarray | None = None
    prior_std: np.ndarray | None = None

    @property
    def k(self) -> int:
        return self.identity.shape[1]

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, **{k: np.asarray(getattr(self, k)) for k in self.__dataclass_fields__
                                      if getattr(self, k) is not None})

    @classmethod
    def load(cls, path: str | Path, verify: bool = True) -> ShapeModel:
        """Load an npz; ``verify``: first check its sha256 against the manifest.json of its folder (ModelError
        when it is missing, altered or truncated). Tools that fit a new model load it with ``verify=False``."""
        path = Path(path)
        if verify:
            from ..models.engine import verified_model

            verified_model(path.name, path.parent)
        d = np.load(path)
        return cls(**{k: (d[k] if d[k].ndim else float(d[k])) for k in d.files})

    @cached_property
    def _to_identity(self) -> np.ndarray:
        """(2N, k): centred shape -> identity coordinates."""
        return self.pca @ self.whiten @ self.identity

    @cached_property
    def _from_identity(self) -> np.ndarray:
        """(k, 2N): identity coordinate change -> shape change."""
        return self.identity.T @ self.unwhiten @ self.pca.T

    def identity_coords(self, shapes: np.ndarray) -> np.ndarray:
        """(B, k) identity coordinates of (B, 478, 2) normalised shapes."""
        return (shapes.reshape(len(shapes), -1) - self.mean) @ self._to_identity

    def swap_identity(self, shapes: np.ndarray, coords: np.ndarray, weights: np.ndarray | None = None,
                      own_coords: np.ndarray | None = None) -> np.ndarray:
        """Replace the identity part of (B, 478, 2) shapes by ``coords`` (B, k); keep the rest.

        ``weights`` (478,) scales the change per point (e.g. less on the lips, eyes and brows, whose own
        shape the expression metrics compare). ``own_coords`` (B, k): the person's identity coordinates when
        known better than from these shapes alone (a track's mean over its frames); by default each shape's
        own projection, which also takes the part of a strong expression that lies in the identity subspace.
        """
        own = self.identity_coords(shapes) if own_coords is None else own_coords
        delta = ((coords - own) @ self._from_identity).reshape(shapes.shape)
        if weights is not None:
            delta = delta * weights[None, :, None]
        return (shapes + delta).astype(np.float32)

    def new_shape(self, own: np.ndarray, coords: np.ndarray, weights: np.ndarray | None = None,
                  size: float = 1.0, own_coords: np.ndarray | None = None) -> np.ndarray:
        """A (N, 2) shape (in a crop of side ``size``) with the identity ``coords`` and ``own``'s head pose and
        expression: the identity swap, less what a pose fit would read as rotation, shift or scale and what
        reads as expression (``remove_rigid``; the mean depth stands in for the face's own). ``own_coords``:
        see ``swap_identity``."""
        swapped = self.swap_identity((own / size)[None], coords[None], weights,
                                     None if own_coords is None else own_coords[None])[0] * size
        if self.depth is None:
            return swapped
        own3d = np.concatenate([own, self.depth[:, None] * size], 1)
        return own + remove_rigid(swapped - own, own3d, keep_expression=True)

    def group_of(self, coords: np.ndarray) -> int:
        """The prior group (``prior_mean`` row) whose Gaussian gives ``coords`` the highest likelihood."""
        if self.prior_mean is None or len(self.prior_mean) == 1:
            return 0
        z = (np.asarray(coords)[None] - self.prior_mean) / self.prior_std
        return int(np.argmax(-0.5 * (z * z).sum(1) - np.log(self.prior_std).sum(1)))

    def group_typical(self, group: int) -> float:
        """Typical (root mean square) identity distance between two people of a prior group."""
        return float(np.sqrt(2.0 * np.square(self.prior_std[group]).sum()))

    def sample_identity(self, rng: np.random.Generator, avoid: np.ndarray | None = None,
                        min_distance: float = 1.3, tries: int = 64) -> np.ndarray:
        """(k,) identity coordinates drawn from the population (with a prior: from the group ``avoid`` is
        likeliest in, else the first); at least ``min_distance`` x the typical distance between two people (of
        that group) away from ``avoid`` (the original person) when given, else the farthest of ``tries``."""
        if self.prior_mean is not None:
            g = self.group_of(avoid) if avoid is not None else 0
            centre, spread = self.prior_mean[g], self.prior_std[g]
            typical = self.group_typical(g)
        else:
            centre, spread, typical = np.zeros(self.k, np.float32), self.id_std, self.typical_distance
        best, best_d = None, -1.0
        for _ in range(tries):
            c = centre + rng.normal(0.0, 1.0, self.k) * spread * 0.9
            if avoid is None:
                return c
            d = float(np.linalg.norm(c - avoid))
            if d >= min_distance * typical:
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


def rigid_basis(points3d: np.ndarray) -> np.ndarray:
    """(2N, 6) how the 2-D projection of (N, 3) points changes under a small head rotation (yaw, pitch,
    roll), a shift (x, y) and a scale, all about the points' centroid."""
    p = points3d - points3d.mean(0)
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    zero, one = np.zeros_like(x), np.ones_like(x)
    cols = [
        np.stack([z, zero], 1),  # yaw: rotation about the vertical axis moves x by z
        np.stack([zero, -z], 1),  # pitch: about the horizontal axis moves y by z
        np.stack([-y, x], 1),  # roll: in-plane rotation
        np.stack([one, zero], 1),
        np.stack([zero, one], 1),
        np.stack([x, y], 1),  # scale
    ]
    return np.stack([c.reshape(-1) for c in cols], 1).astype(np.float64)


# MediaPipe face mesh indices (lids without the eye corners, lips without the mouth corners)
_UPPER_LIP = [185, 40, 39, 37, 0, 267, 269, 270, 409, 191, 80, 81, 82, 13, 312, 311, 310, 415]
_LOWER_LIP = [146, 91, 181, 84, 17, 314, 405, 321, 375, 95, 88, 178, 87, 14, 317, 402, 318, 324]
_MOUTH_CORNERS = ([61, 78], [291, 308])  # image left, image right
_EYES = (([246, 161, 160, 159, 158, 157, 173], [7, 163, 144, 145, 153, 154, 155]),
         ([466, 388, 387, 386, 385, 384, 398], [249, 390, 373, 374, 380, 381, 382]))
_BROWS = ([156, 70, 63, 105, 66, 107, 55, 193, 35, 124, 46, 53, 52, 65],
          [383, 300, 293, 334, 296, 336, 285, 417, 265, 353, 276, 283, 282, 295])


@lru_cache(maxsize=4)
def _expression_basis(n: int) -> np.ndarray:
    return expression_basis(n)


def expression_basis(n: int = N_POINTS) -> np.ndarray:
    """(2n, 6) landmark changes that read as expression: mouth opening, mouth width, each eye's opening and
    each brow's raise (image y points down)."""

    def field(moves: list[tuple[list[int], float, float]]) -> np.ndarray:
        v = np.zeros((n, 2))
        for idx, dx, dy in moves:
            v[idx] += (dx, dy)
        return v.reshape(-1)

    cols = [field([(_UPPER_LIP, 0, -1), (_LOWER_LIP, 0, 1)]),
            field([(_MOUTH_CORNERS[0], -1, 0), (_MOUTH_CORNERS[1], 1, 0)])]
    cols += [field([(upper, 0, -1), (lower, 0, 1)]) for upper, lower in _EYES]
    cols += [field([(brow, 0, -1)]) for brow in _BROWS]
    return np.stack(cols, 1)


def remove_rigid(delta: np.ndarray, points3d: np.ndarray, keep_expression: bool = False) -> np.ndarray:
    """The part of a (N, 2) landmark change that a head-pose fit cannot see: ``delta`` minus its projection
    on ``rigid_basis(points3d)``. To first order, a least-squares pose fit (e.g. solvePnP) on the changed
    points gives the same rotation, position and scale as on the original points. ``keep_expression`` also
    removes the change along ``expression_basis`` (mouth and eye opening, mouth width, brow raise)."""
    j = rigid_basis(points3d)
    if keep_expression:
        j = np.concatenate([j, _expression_basis(len(points3d))], 1)
    d = delta.reshape(-1).astype(np.float64)
    # least squares by the normal equations: a (m, m) solve, m <= 12 (no LAPACK QR per face and frame)
    jtj = j.T @ j
    coef = np.linalg.solve(jtj + 1e-9 * np.trace(jtj) * np.eye(len(jtj)), j.T @ d)
    return (d - j @ coef).reshape(delta.shape).astype(np.float32)
