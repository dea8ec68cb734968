"""Face regions and per-pixel surface normals from a face mesh. Pure functions on a region of interest (ROI).

Points are (478, 2) mesh landmarks already shifted into the ROI's pixel coordinates. The mesh maths lives in
streamanon.photometric.mesh (the renderer measures the original face the same way) and is re-exported here.
"""

from __future__ import annotations

import numpy as np

from ..photometric.mesh import (  # noqa: F401 (re-exported)
    HOLES,
    face_mask,
    hull_mask,
    mesh_triangles,
    normal_map,
    polygon_mask,
    skin_mask,
    vertex_normals,
)


def roi_of(points: np.ndarray, shape: tuple[int, int], margin: float = 0.05) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) integer box around the points grown by ``margin`` of its size, clipped to ``shape``."""
    lo, hi = points[:, :2].min(0), points[:, :2].max(0)
    pad = margin * (hi - lo).max()
    x0, y0 = np.floor(lo - pad).astype(int)
    x1, y1 = np.ceil(hi + pad).astype(int) + 1
    h, w = shape[:2]
    return max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)


