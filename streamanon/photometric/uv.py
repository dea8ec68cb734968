"""The face mesh's UV layout, rasterising a mesh into pixels, and lifting 2-D landmarks to 3-D. Pure functions.

The UV layout is the mean aligned mesh of the shape model (a frontal face), triangulated by Delaunay over its
478 points (irises included, so the eyes and the gaze are part of the texture), less the triangles outside
the face outline and inside the inner lip contour (the mouth opening, rendered on its own). Index tables
(outline, lips, eyes, brows) come from MediaPipe.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ..faces.landmarks import FACE_OVAL, mesh_indices
from ..faces.mp_backend import solutions

_fm = solutions.face_mesh
NOT_SKIN = mesh_indices(_fm.FACEMESH_LEFT_EYE, _fm.FACEMESH_RIGHT_EYE, _fm.FACEMESH_LEFT_EYEBROW,
                        _fm.FACEMESH_RIGHT_EYEBROW, _fm.FACEMESH_LIPS, _fm.FACEMESH_IRISES)


def adjacency(edges: frozenset) -> dict[int, list[int]]:
    """Each point of a set of MediaPipe edges and its neighbours."""
    adj: dict[int, list[int]] = {}
    for a, b in edges:
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    return adj


def edge_loops(edges: frozenset) -> list[np.ndarray]:
    """The closed paths (point indices in order) that a set of MediaPipe edges forms."""
    adj = adjacency(edges)
    seen: set[int] = set()
    loops = []
    for start in sorted(adj):
        if start in seen:
            continue
        loop, prev, cur = [start], -1, start
        seen.add(start)
        while True:
            nxt = [n for n in adj[cur] if n != prev and (n not in seen or n == start)]
            if not nxt or nxt[0] == start:
                break
            prev, cur = cur, nxt[0]
            loop.append(cur)
            seen.add(cur)
        loops.append(np.array(loop))
    return loops


def _area(points: np.ndarray) -> float:
    return float(abs(cv2.contourArea(points.astype(np.float32))))


@dataclass(frozen=True)
class UVLayout:
    """uv (478, 2) texture coordinates in [0, 1] (x, y); tris (T, 3), counter-clockwise in UV; skin (T,) bool:
    the triangle touches no eye, brow, lip or iris point; mouth (M,) the inner lip contour in order."""

    uv: np.ndarray
    tris: np.ndarray
    skin: np.ndarray
    mouth: np.ndarray


# the Delaunay triangles of the shipped mean shape's layout, saved with the package (``save_triangles``): importing
# scipy.spatial for one call took 0.2 s of every start
TRIANGLES = Path(__file__).with_name("mean_shape_triangles.npz")


def _key(points: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(points, np.float64).tobytes()).hexdigest()


def triangulate(points: np.ndarray) -> np.ndarray:
    """(T, 3) Delaunay triangles of (N, 2) points: the saved table when it was made from these very points."""
    try:
        with np.load(TRIANGLES) as saved:
            if str(saved["key"]) == _key(points):
                return saved["simplices"].astype(np.int64)
    except (OSError, KeyError, ValueError):
        pass
    from scipy.spatial import Delaunay

    return Delaunay(points).simplices


def save_triangles(points: np.ndarray) -> None:
    """Save the Delaunay triangles of (N, 2) ``points`` for ``triangulate`` (after a new shape model)."""
    from scipy.spatial import Delaunay

    np.savez_compressed(TRIANGLES, key=_key(points), simplices=Delaunay(points).simplices.astype(np.int16))


def layout_points(mean_shape: np.ndarray, margin: float = 0.02) -> np.ndarray:
    """(N, 2) texture coordinates of a frontal mean shape: scaled into [margin, 1 - margin]."""
    lo, hi = mean_shape.min(0), mean_shape.max(0)
    return margin + (1 - 2 * margin) * (mean_shape - lo) / (hi - lo).max()


def uv_layout(mean_shape: np.ndarray, margin: float = 0.02) -> UVLayout:
    """The layout of a (478, 2) frontal mean shape (any scale)."""
    uv = layout_points(mean_shape, margin)
    tris = triangulate(uv)
    lips = edge_loops(_fm.FACEMESH_LIPS)
    mouth = min(lips, key=lambda loop: _area(uv[loop]))
    centres = uv[tris].mean(1).astype(np.float32)
    oval, inner = uv[FACE_OVAL].astype(np.float32), uv[mouth].astype(np.float32)
    keep = np.array([cv2.pointPolygonTest(oval, tuple(map(float, c)), False) >= 0
                     and cv2.pointPolygonTest(inner, tuple(map(float, c)), False) < 0 for c in centres])
    tris = tris[keep]
    a, b, c = uv[tris[:, 0]], uv[tris[:, 1]], uv[tris[:, 2]]
    cw = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]) < 0
    tris[cw] = tris[cw][:, ::-1]
    skin = ~np.isin(tris, NOT_SKIN).any(1)
    return UVLayout(uv.astype(np.float32), tris.astype(np.int64), skin, mouth)


@lru_cache(maxsize=1)
def default_layout() -> UVLayout:
    """The layout of the shipped shape model's mean shape."""
    from ..faces.shape import ShapeModel
    from ..models.engine import ENGINES_DIR

    return uv_layout(ShapeModel.load(ENGINES_DIR / "shape_model.npz").mean.reshape(-1, 2))


@dataclass
class Raster:
    """Which triangle covers each pixel of an (H, W) region and where inside it: pixels (K,) flat indices,
    tri (K,) rows of the triangle table, bary (K, 3) barycentric weights."""

    shape: tuple[int, int]
    pixels: np.ndarray
    tri: np.ndarray
    bary: np.ndarray

    def mask(self, select: np.ndarray | None = None) -> np.ndarray:
        """(H, W) bool of the covered pixels (only those of triangles where ``select`` (T,) is True)."""
        m = np.zeros(self.shape[0] * self.shape[1], bool)
        m[self.pixels if select is None else self.pixels[select[self.tri]]] = True
        return m.reshape(self.shape)

    def interpolate(self, values: np.ndarray, tris: np.ndarray) -> np.ndarray:
        """(K, D) per-pixel barycentric mix of per-vertex ``values`` (N, D)."""
        values = np.asarray(values, np.result_type(values, np.float32))  # in-place products need a float type
        corners = tris[self.tri]
        out = np.take(values, corners[:, 0], axis=0)  # three gathers and in-place products: a third of an einsum
        out *= self.bary[:, :1]
        for j in (1, 2):
            part = np.take(values, corners[:, j], axis=0)
            part *= self.bary[:, j:j + 1]
            out += part
        return out


def rasterise(points: np.ndarray, tris: np.ndarray, shape: tuple[int, int], depth: np.ndarray | None = None,
              cull: np.ndarray | None = None) -> Raster:
    """Rasterise triangles over (N, 2) pixel positions into an (H, W) region. ``depth`` (N,): nearer (smaller)
    triangles are drawn last and win; ``cull`` (T,) bool: triangles left out (e.g. facing away)."""
    pts = points[:, :2].astype(np.float64)
    corners = pts[tris]  # (T, 3, 2)
    e1, e2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    den = e1[:, 0] * e2[:, 1] - e2[:, 0] * e1[:, 1]
    ok = np.abs(den) > 1e-6
    if cull is not None:
        ok &= ~cull
    order = np.flatnonzero(ok)
    if depth is not None:
        order = order[np.argsort(-depth[tris[order]].mean(1), kind="stable")]
    index = np.zeros(shape, np.int32)
    fixed = np.round(corners * 16).astype(np.int32)
    fill = cv2.fillConvexPoly
    for poly, value in zip(list(fixed[order]), (order + 1).tolist()):  # plain ints and views: a hot loop
        fill(index, poly, value, cv2.LINE_8, 4)
    flat = np.flatnonzero(index)
    tri = index.ravel()[flat] - 1
    ys, xs = np.divmod(flat, shape[1])
    # per triangle, the corner a and the barycentric weights of b and c per unit of (x, y) from a: one gather
    inv = np.where(ok, 1.0 / np.where(ok, den, 1.0), 0.0)
    coef = np.stack([corners[:, 0, 0], corners[:, 0, 1], e2[:, 1] * inv, -e2[:, 0] * inv, -e1[:, 1] * inv,
                     e1[:, 0] * inv], 1)[tri]
    dx, dy = xs - coef[:, 0], ys - coef[:, 1]
    bary = np.empty((len(flat), 3))
    bary[:, 1] = coef[:, 2] * dx + coef[:, 3] * dy
    bary[:, 2] = coef[:, 4] * dx + coef[:, 5] * dy
    bary[:, 0] = 1.0 - bary[:, 1] - bary[:, 2]
    np.clip(bary, 0.0, 1.0, out=bary)
    bary /= np.maximum(bary.sum(1, keepdims=True), 1e-9)
    return Raster(shape, flat, tri, bary.astype(np.float32))


def weak_perspective(points: np.ndarray, model: np.ndarray) -> tuple[np.ndarray, float]:
    """(rotation (3, 3), scale) of the affine camera that best maps the (N, 3) model onto (N, 2) points."""
    a = np.concatenate([model - model.mean(0), np.ones((len(model), 1))], 1)
    p, *_ = np.linalg.lstsq(a, points[:, :2] - points[:, :2].mean(0), rcond=None)
    r = p[:3].T  # (2, 3)
    s = float(np.linalg.norm(r, axis=1).mean())
    r1 = r[0] / np.linalg.norm(r[0])
    r2 = r[1] - (r[1] @ r1) * r1
    r2 /= np.linalg.norm(r2)
    return np.stack([r1, r2, np.cross(r1, r2)]), s


def lift(points: np.ndarray, model: np.ndarray) -> np.ndarray:
    """(N, 3): the (N, 2) points with the depth of the (N, 3) model face turned and scaled to fit them
    (z in pixels, larger = farther)."""
    rot, s = weak_perspective(points, model)
    z = s * (model - model.mean(0)) @ rot[2]
    return np.concatenate([points[:, :2], z[:, None]], 1)


def vertex_normals(verts: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """(N, 3) unit normals, area-weighted over counter-clockwise (in UV) triangles: they face the camera
    (z < 0) where the surface does."""
    a, b, c = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    n = np.cross(c - a, b - a)
    out = np.zeros((len(verts), 3))
    for k in range(3):
        np.add.at(out, tris[:, k], n)
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, norm, out=np.zeros_like(out), where=norm > 0)


def face_normals(verts: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """(T,) z of each triangle's unit normal (< 0: facing the camera)."""
    a, b, c = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    n = np.cross(c - a, b - a)
    return n[:, 2] / np.maximum(np.linalg.norm(n, axis=1), 1e-12)


@lru_cache(maxsize=4)
def texel_raster(res: int) -> Raster:
    """The default layout rasterised into a ``res`` x ``res`` texture (which triangle covers each texel)."""
    layout = default_layout()
    return rasterise(layout.uv * res - 0.5, layout.tris, (res, res))


def unwrap(image: np.ndarray, points: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray]:
    """Texture (res, res, C) of an image whose face has the (478, 2) pixel ``points``, and the (res, res)
    bool mask of texels the layout covers."""
    r = texel_raster(res)
    pos = r.interpolate(points[:, :2].astype(np.float32), default_layout().tris).astype(np.float32)
    mx = np.full(res * res, -1, np.float32)
    my = mx.copy()
    mx[r.pixels], my[r.pixels] = pos[:, 0], pos[:, 1]
    tex = cv2.remap(image, mx.reshape(res, res), my.reshape(res, res), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return tex, r.mask()


def sample(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """(K, C) bilinear samples of an (R, R[, C]) texture at (K, 2) texture coordinates in [0, 1]."""
    res = texture.shape[0]
    k = len(uv)
    width = 1024
    rows = -(-k // width)
    maps = np.zeros((rows * width, 2), np.float32)
    maps[:k] = uv * res - 0.5
    maps = maps.reshape(rows, width, 2)
    out = cv2.remap(texture, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(rows * width, -1)[:k]
