"""Score one (original, anonymized) image pair face by face.

The original is observed first (``observe_original``: every face HOG finds, with its mesh and descriptor);
the anonymized image is then judged at each original face's place (``score_faces``). Photometric metrics
(lighting, colour, sharpness, flicker) are measured on the same pixels of both images: the original's face
region, skin mask and normals (the anonymizer must keep the face where it was).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import cv2
import numpy as np

from ..errors import InputInvalid
from . import face as F
from . import photometry as P
from . import regions as R
from .judges import Judges

MAX_SH_PIXELS = 20000
NOSE_TIP = 1  # mesh point: the skin colour is measured above it (forehead, temples, upper cheeks)
LOWER_LIDS, EYE_CORNERS = (145, 374), (33, 263)  # mesh points: the colour's reference (photometry.skin_lab) is the
#                                                 skin between the lower lids and the nose tip, the eyes' width
THUMB = 96


@dataclass
class FaceObs:
    """What the judges see of one face: box (x0, y0, x1, y1), 128-d descriptor, (478, 3) mesh or None."""

    box: np.ndarray
    descriptor: np.ndarray | None
    mesh: np.ndarray | None
    detected: bool = True
    reference: tuple[Geometry, Photometry] | None = field(default=None, repr=False)  # original's, computed once


@dataclass
class FaceScores:
    """All metrics of one face; None where a metric could not be measured (e.g. no mesh on the output)."""

    source: str
    face: int
    frame: int | None = None
    track: int | None = None
    reid_distance: float | None = None
    reidentified: bool | None = None
    rank1: bool | None = None
    other_matches: float | None = None
    detected: bool | None = None
    leaked: bool | None = None
    mesh_found: bool | None = None
    nme: float | None = None
    nme_lips: float | None = None
    nme_eyes: float | None = None
    nme_brows: float | None = None
    mouth_open_original: float | None = None
    mouth_open_anonymized: float | None = None
    eye_open_original: float | None = None
    eye_open_anonymized: float | None = None
    yaw: float | None = None
    pitch: float | None = None
    roll: float | None = None
    yaw_error: float | None = None
    pitch_error: float | None = None
    roll_error: float | None = None
    pose_error: float | None = None
    light_angle: float | None = None
    light_rel_l2: float | None = None
    ciede2000: float | None = None
    sharpness_ratio: float | None = None
    detail_ratio: float | None = None
    texture_ratio: float | None = None
    change_original: float | None = None
    change_anonymized: float | None = None
    descriptor_original: np.ndarray | None = field(default=None, repr=False, metadata={"json": False})
    descriptor_anonymized: np.ndarray | None = field(default=None, repr=False, metadata={"json": False})
    thumbs: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, metadata={"json": False})

    def to_dict(self) -> dict:
        """JSON-ready: plain floats and bools, no arrays."""
        data = asdict(self)
        return {f.name: _plain(data[f.name]) for f in fields(self) if f.metadata.get("json", True)}


def _plain(v):
    if isinstance(v, (np.floating, float)):
        return round(float(v), 6)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def observe_original(rgb: np.ndarray, judges: Judges) -> list[FaceObs]:
    """Every face HOG finds in the original, with its descriptor and mesh (None where the mesh fails)."""
    return [FaceObs(box, judges.descriptor(rgb, box), judges.mesh(rgb, box)) for box in judges.detect(rgb)]


@dataclass
class Geometry:
    """The original face's region, shared by the photometric metrics of both images (ROI coordinates)."""

    roi: tuple[int, int, int, int]
    face: np.ndarray
    skin: np.ndarray
    pixels: np.ndarray  # flat ROI indices of skin pixels that have a normal (subsampled)
    normals: np.ndarray
    pose: F.Pose
    model: np.ndarray  # the mean 3-D face the pose was measured against
    colour_pixels: np.ndarray  # flat ROI indices of the skin above the nose tip, for the mean colour (subsampled)
    colour_core: np.ndarray  # the part of them under the eyes, that tells skin from hair (photometry.skin_lab)


def _subsample(n: int, limit: int) -> np.ndarray:
    return np.arange(n) if n <= limit else np.linspace(0, n - 1, limit).astype(int)


def face_geometry(mesh: np.ndarray, shape: tuple[int, int], model: np.ndarray) -> Geometry:
    """Region, skin mask, pose and per-pixel normals (the model's normals turned by the pose) of a face."""
    roi = R.roi_of(mesh, shape)
    x0, y0, x1, y1 = roi
    local = mesh[:, :2] - (x0, y0)
    size = (y1 - y0, x1 - x0)
    pose = F.head_pose(mesh, model, shape)
    normals = R.vertex_normals(model, R.mesh_triangles()) @ pose.rotation.T
    skin = R.skin_mask(local, size)
    pixels, pixel_normals = R.normal_map(local, normals, R.mesh_triangles(), skin, MAX_SH_PIXELS)
    rows, cols = np.arange(size[0])[:, None], np.arange(size[1])[None, :]
    colour = np.flatnonzero(skin & (rows < local[NOSE_TIP, 1]))  # no beard reaches there
    if len(colour) < 50:
        colour = np.flatnonzero(skin)
    (left, right), top = np.sort(local[list(EYE_CORNERS), 0]), local[list(LOWER_LIDS), 1].max()
    core = np.flatnonzero(skin & (rows > top) & (rows < local[NOSE_TIP, 1]) & (cols > left) & (cols < right))
    return Geometry(roi, R.face_mask(local, size), skin, pixels, pixel_normals, pose, model,
                    colour[_subsample(len(colour), MAX_SH_PIXELS)], core[_subsample(len(core), MAX_SH_PIXELS)])


@dataclass
class Photometry:
    sh: np.ndarray | None
    lab: np.ndarray | None
    sharpness: float
    detail: float  # variance of the Laplacian of grey over the skin
    texture: float  # the same, robust (edges left out): the skin's own texture


def photometry(rgb: np.ndarray, g: Geometry) -> Photometry:
    """SH lighting, mean skin CIELAB and sharpness of ``rgb`` on the geometry's pixels."""
    x0, y0, x1, y1 = g.roi
    patch = rgb[y0:y1, x0:x1]
    flat = patch.reshape(-1, 3)
    sh = P.fit_sh(P.srgb_to_linear(flat[g.pixels]), g.normals) if len(g.pixels) >= 50 else None
    lab = P.skin_lab(flat[g.colour_pixels], flat[g.colour_core]) if len(g.colour_pixels) else None
    return Photometry(sh, lab, P.laplacian_variance(patch, g.face), P.laplacian_variance(patch, g.skin),
                      P.texture_variance(patch, g.skin))


def mesh_light_direction(rgb: np.ndarray, mesh: np.ndarray) -> np.ndarray | None:
    """(3,) direction of the light on a face: a least-squares FIRST-order SH fit of its linear luminance over
    its skin, with the normals of its own (re-detected) mesh; None when too few skin pixels have a normal."""
    roi = R.roi_of(mesh, rgb.shape)
    x0, y0, x1, y1 = roi
    local = mesh.copy()
    local[:, :2] -= (x0, y0)
    size = (y1 - y0, x1 - x0)
    tris = R.mesh_triangles()
    normals = R.vertex_normals(local, tris)
    pixels, pixel_normals = R.normal_map(local, normals, tris, R.skin_mask(local, size), MAX_SH_PIXELS)
    if len(pixels) < 50:
        return None
    luma = P.srgb_to_linear(rgb[y0:y1, x0:x1].reshape(-1, 3)[pixels]) @ P.LUMA
    return P.light_direction(P.fit_sh(luma, pixel_normals, ridge=0.0, order=1))


def thumbnail(rgb: np.ndarray, box: np.ndarray, size: int = THUMB) -> np.ndarray:
    """A square crop around the box (1.6x its side), resized to ``size``."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = 0.8 * max(box[2] - box[0], box[3] - box[1])
    m = np.array([[size / (2 * half), 0, size / 2 - size / (2 * half) * cx],
                  [0, size / (2 * half), size / 2 - size / (2 * half) * cy]])
    return cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)


def observe_anonymized(anon: np.ndarray, originals: list[FaceObs], judges: Judges
                       ) -> tuple[list[FaceObs], list[np.ndarray]]:
    """The output judged at each original face's place, plus descriptors of output faces HOG finds elsewhere.

    An output face counts as detected when a HOG box overlaps the original's (IoU >= 0.3). Its descriptor is
    taken at that box, else at the original's box: the attacker knows where the face was.
    """
    boxes = judges.detect(anon)
    used: set[int] = set()
    out = []
    for o in originals:
        overlaps = [iou(o.box, b) for b in boxes]
        best = int(np.argmax(overlaps)) if overlaps else -1
        detected = best >= 0 and overlaps[best] >= 0.3
        if detected:
            used.add(best)
        box = boxes[best] if detected else o.box
        out.append(FaceObs(box, judges.descriptor(anon, box), judges.mesh(anon, o.box), detected))
    extra = [judges.descriptor(anon, b) for i, b in enumerate(boxes) if i not in used]
    return out, extra


def score_face(original: np.ndarray, anonymized: np.ndarray, o: FaceObs, a: FaceObs, model: np.ndarray | None,
               source: str, index: int, thumbs: bool = True) -> FaceScores:
    """Every per-face metric of one face (rank-1 is a set metric: filled by the caller)."""
    s = FaceScores(source=source, face=index, detected=a.detected,
                   descriptor_original=o.descriptor, descriptor_anonymized=a.descriptor)
    if o.descriptor is not None and a.descriptor is not None:
        s.reid_distance = F.descriptor_distance(o.descriptor, a.descriptor)
        s.reidentified = s.reid_distance < F.SAME_PERSON
        s.leaked = bool(s.detected and s.reidentified)
    if thumbs:
        s.thumbs = (thumbnail(original, o.box), thumbnail(anonymized, o.box))
    if o.mesh is None:
        return s
    s.mesh_found = a.mesh is not None
    s.mouth_open_original, s.eye_open_original = F.opening_ratios(o.mesh)
    if o.reference is None:  # the original's geometry and photometry serve every method scored against it
        g = face_geometry(o.mesh, original.shape[:2], model if model is not None else F.mean_face([o.mesh]))
        o.reference = (g, photometry(original, g))
    g, po = o.reference
    s.yaw, s.pitch, s.roll = g.pose.yaw, g.pose.pitch, g.pose.roll
    if a.mesh is not None:
        e = F.expression_errors(o.mesh, a.mesh)
        s.nme, s.nme_lips, s.nme_eyes, s.nme_brows = e["all"], e["lips"], e["eyes"], e["brows"]
        s.mouth_open_anonymized, s.eye_open_anonymized = F.opening_ratios(a.mesh)
        pose = F.head_pose(a.mesh, g.model, anonymized.shape)
        s.yaw_error, s.pitch_error, s.roll_error = F.pose_errors(g.pose, pose)
        s.pose_error = (s.yaw_error + s.pitch_error + s.roll_error) / 3
    pa = photometry(anonymized, g)
    if po.sh is not None:
        s.light_rel_l2 = P.relative_l2(po.sh, pa.sh)
    if a.mesh is not None:
        lo, la = mesh_light_direction(original, o.mesh), mesh_light_direction(anonymized, a.mesh)
        if lo is not None and la is not None:
            s.light_angle = P.angle_degrees(lo, la)
    if po.lab is not None:
        s.ciede2000 = P.ciede2000(po.lab, pa.lab)
    if po.sharpness > 0:
        s.sharpness_ratio = pa.sharpness / po.sharpness
    if po.detail > 0:
        s.detail_ratio = pa.detail / po.detail
    if po.texture > 0:
        s.texture_ratio = pa.texture / po.texture
    return s


def score_faces(original: np.ndarray, anonymized: np.ndarray, originals: list[FaceObs], judges: Judges,
                model: np.ndarray | None, source: str, frame: int | None = None, thumbs: bool = True
                ) -> tuple[list[FaceScores], list[np.ndarray]]:
    """Scores of every original face, and descriptors of the output's other HOG faces (for leak checks)."""
    if original.shape != anonymized.shape:
        raise InputInvalid(f"{source}: sizes differ: original {original.shape[1]}x{original.shape[0]}, "
                         f"anonymized {anonymized.shape[1]}x{anonymized.shape[0]}")
    observed, extra = observe_anonymized(anonymized, originals, judges)
    scores = []
    for i, (o, a) in enumerate(zip(originals, observed, strict=True)):
        s = score_face(original, anonymized, o, a, model, source, i, thumbs)
        s.frame = frame
        scores.append(s)
    return scores, extra
