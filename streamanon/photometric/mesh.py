"""Face regions, triangles and per-pixel surface normals of the 478-point face mesh. Pure functions shared by
the renderer (streamanon.photometric.stages) and the metrics (streamanon.metrics.regions, .face).

Points are (478, 2|3) mesh landmarks in a region's pixel coordinates (z: larger = farther).
"""

from __future__ import annotations

import functools
from collections import defaultdict

import cv2
import numpy as np

from ..faces.landmarks import FACE_OVAL, mesh_indices
from ..faces.mp_backend import solutions

RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263
NOSE_TIP = 1
N_MESH = 468  # points without the 10 iris points of refine_landmarks
_fm = solutions.face_mesh
HOLES = [mesh_indices(e) for e in (_fm.FACEMESH_LEFT_EYE, _fm.FACEMESH_RIGHT_EYE, _fm.FACEMESH_LEFT_EYEBROW,
                               _fm.FACEMESH_RIGHT_EYEBROW, _fm.FACEMESH_LIPS)]


def inter_ocular(points: np.ndarray) -> float:
    """Distance between the outer eye corners."""
    return float(np.linalg.norm(points[LEFT_EYE_OUTER, :2] - points[RIGHT_EYE_OUTER, :2]))


def face_frame(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(origin, axes (3, 3) as rows x, y, z, inter-ocular distance) of a 3-D mesh. z: normal of the plane
    that best fits the face outline, pointing into the head (the nose tip is on the other side); x: the eye
    line (towards the face's left, i.e. image right) in that plane; y = z cross x (towards the chin)."""
    p = points[:N_MESH]
    oval = p[FACE_OVAL]
    ez = np.linalg.svd(oval - oval.mean(0))[2][2]
    if ez @ (p[NOSE_TIP] - oval.mean(0)) > 0:
        ez = -ez
    ex = p[LEFT_EYE_OUTER] - p[RIGHT_EYE_OUTER]
    iod = float(np.linalg.norm(ex))
    ex = ex - ex @ ez * ez
    ex = ex / np.linalg.norm(ex)
    return p.mean(0), np.stack([ex, np.cross(ez, ex), ez]), iod


def polygon_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bool mask of the polygon through the points in order."""
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(points[:, :2]).astype(np.int32)], 1)
    return mask.astype(bool)


def hull_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bool mask of the convex hull of the points."""
    hull = cv2.convexHull(np.round(points[:, :2]).astype(np.int32))
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    return mask.astype(bool)


def face_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Inside the mesh's face outline (FACE_OVAL)."""
    return polygon_mask(points[FACE_OVAL], shape)


def skin_mask(points: np.ndarray, shape: tuple[int, int], grow: float = 0.06) -> np.ndarray:
    """Face outline minus the eyes, brows and lips (convex hulls), grown by ``grow`` inter-ocular distances."""
    hole = np.zeros(shape[:2], bool)
    for idx in HOLES:
        hole |= hull_mask(points[idx], shape)
    r = max(1, int(round(grow * inter_ocular(points))))
    hole = cv2.dilate(hole.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return face_mask(points, shape) & ~hole.astype(bool)


@functools.lru_cache(maxsize=1)
def mesh_triangles() -> np.ndarray:
    """(T, 3) triangles of the face mesh: the 3-cliques of FACEMESH_TESSELATION's edges."""
    adj: dict[int, set[int]] = defaultdict(set)
    for a, b in solutions.face_mesh.FACEMESH_TESSELATION:
        adj[a].add(b)
        adj[b].add(a)
    tris = {tuple(sorted((a, b, c))) for a in adj for b in adj[a] for c in adj[a] & adj[b]}
    return np.array(sorted(tris), np.int64)


def vertex_normals(verts: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """(N, 3) unit normals, area-weighted over the triangles, pointing out of the head (away from a point
    one inter-ocular distance behind the face's centre)."""
    a, b, c = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    n = np.cross(b - a, c - a)
    origin, axes, iod = face_frame(verts)
    inside = origin + axes[2] * iod
    flip = np.einsum("ij,ij->i", n, (a + b + c) / 3 - inside) < 0
    n[flip] *= -1
    out = np.zeros_like(verts, dtype=np.float64)
    for k in range(3):
        np.add.at(out, tris[:, k], n)
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, norm, out=np.zeros_like(out), where=norm > 0)


def normal_map(points: np.ndarray, normals: np.ndarray, tris: np.ndarray, mask: np.ndarray, limit: int = 0
               ) -> tuple[np.ndarray, np.ndarray]:
    """Normals of the pixels in ``mask`` covered by the mesh, interpolated (barycentric) from vertex normals
    over the 2-D triangles. Triangles whose three normals face away from the camera (z > 0) are skipped.
    ``limit`` > 0 keeps at most that many pixels, evenly spread.

    Returns (pixels (K,) flat indices into ``mask``, normals (K, 3) unit).
    """
    front = (normals[tris][:, :, 2] < 0).any(1)
    tris = tris[front]
    index = np.zeros(mask.shape[:2], np.int32)
    pts = points[:, :2]
    corners = np.round(pts[tris]).astype(np.int32)
    for t, c in enumerate(corners):  # later triangles overwrite: fine for a mostly frontal shell
        cv2.fillConvexPoly(index, c, t + 1)
    flat = np.flatnonzero((index > 0) & mask)
    if limit and len(flat) > limit:
        flat = flat[np.linspace(0, len(flat) - 1, limit).astype(int)]
    t = index.ravel()[flat] - 1
    ys, xs = np.divmod(flat, mask.shape[1])
    a, b, c = pts[tris[t, 0]], pts[tris[t, 1]], pts[tris[t, 2]]
    v0, v1 = b - a, c - a
    v2 = np.stack([xs, ys], 1) - a
    den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
    den = np.where(np.abs(den) < 1e-9, 1e-9, den)
    wb = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
    wc = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
    w = np.clip(np.stack([1 - wb - wc, wb, wc], 1), 0, 1)
    n = np.einsum("kj,kjd->kd", w, normals[tris[t]])
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    ok = norm[:, 0] > 1e-6
    return flat[ok], n[ok] / norm[ok]
