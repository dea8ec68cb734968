"""Per-face metrics on judge outputs: re-identification, expression, head pose. Pure functions.

Points are MediaPipe face-mesh landmarks, (478, 2) or (478, 3) in image pixels (z: larger = farther).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..faces.landmarks import FACE_OVAL, mesh_indices  # noqa: F401 (re-exported)
from ..faces.mp_backend import solutions
from ..photometric.mesh import face_frame, inter_ocular  # noqa: F401 (re-exported)

SAME_PERSON = 0.6  # dlib's own threshold for its descriptor (LFW 99.38%)

RIGHT_EYE_OUTER, RIGHT_EYE_INNER, RIGHT_EYE_TOP, RIGHT_EYE_BOTTOM = 33, 133, 159, 145
LEFT_EYE_OUTER, LEFT_EYE_INNER, LEFT_EYE_TOP, LEFT_EYE_BOTTOM = 263, 362, 386, 374
MOUTH_LEFT, MOUTH_RIGHT, LIP_UPPER_INNER, LIP_LOWER_INNER = 61, 291, 13, 14
NOSE_TIP = 1
N_MESH = 468  # points without the 10 iris points of refine_landmarks


_fm = solutions.face_mesh
EXPRESSION_GROUPS: dict[str, np.ndarray] = {
    "lips": mesh_indices(_fm.FACEMESH_LIPS),
    "eyes": mesh_indices(_fm.FACEMESH_LEFT_EYE, _fm.FACEMESH_RIGHT_EYE),
    "brows": mesh_indices(_fm.FACEMESH_LEFT_EYEBROW, _fm.FACEMESH_RIGHT_EYEBROW),
}
EXPRESSION_POINTS = np.concatenate(list(EXPRESSION_GROUPS.values()))


# --- identity ---------------------------------------------------------------------------------------------

def descriptor_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two descriptors."""
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))


def rank1_hits(probes: np.ndarray, gallery: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(N,) bool: the nearest gallery row of probe i is row ``truth[i]``. probes (N, D), gallery (M, D)."""
    d = np.linalg.norm(probes[:, None, :] - gallery[None, :, :], axis=2)
    return d.argmin(1) == np.asarray(truth)


# --- expression ---------------------------------------------------------------------------------------------

def umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity (scale s, rotation R, translation t) with dst ~ s * R @ src + t. (N, d) each."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    u, sv, vt = np.linalg.svd(xd.T @ xs / len(src))
    sign = np.ones(src.shape[1])
    sign[-1] = np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0
    rot = u @ np.diag(sign) @ vt
    var = (xs ** 2).sum() / len(src)
    scale = float((sv * sign).sum() / var) if var > 0 else 1.0
    return scale, rot, mu_d - scale * rot @ mu_s


def align_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``src`` moved onto ``dst`` by the least-squares similarity."""
    s, r, t = umeyama(src, dst)
    return s * src @ r.T + t


def expression_errors(original: np.ndarray, anonymized: np.ndarray) -> dict[str, float]:
    """Normalised mean error of the expression points (lips, eyes, brows), by the original's inter-ocular
    distance, after a similarity alignment of the anonymized expression points onto the original's.

    Returns {"all", "lips", "eyes", "brows"}.
    """
    o, a = original[:, :2], anonymized[:, :2]
    aligned = align_similarity(a[EXPRESSION_POINTS], o[EXPRESSION_POINTS])
    err = np.linalg.norm(aligned - o[EXPRESSION_POINTS], axis=1) / max(inter_ocular(o), 1e-6)
    out = {"all": float(err.mean())}
    start = 0
    for name, idx in EXPRESSION_GROUPS.items():
        out[name] = float(err[start:start + len(idx)].mean())
        start += len(idx)
    return out


def opening_ratios(points: np.ndarray) -> tuple[float, float]:
    """(mouth, eyes): inner-lip gap / mouth width, and mean eyelid gap / eye width."""
    p = points[:, :2]

    def gap(a: int, b: int, c: int, d: int) -> float:
        return float(np.linalg.norm(p[a] - p[b]) / max(np.linalg.norm(p[c] - p[d]), 1e-6))

    mouth = gap(LIP_UPPER_INNER, LIP_LOWER_INNER, MOUTH_LEFT, MOUTH_RIGHT)
    eyes = (gap(RIGHT_EYE_TOP, RIGHT_EYE_BOTTOM, RIGHT_EYE_OUTER, RIGHT_EYE_INNER)
            + gap(LEFT_EYE_TOP, LEFT_EYE_BOTTOM, LEFT_EYE_OUTER, LEFT_EYE_INNER)) / 2
    return mouth, eyes


# --- head pose ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pose:
    """Head rotation in camera axes (x right, y down, z forward); angles in degrees, R = Rz(roll) Ry(yaw) Rx(pitch)."""

    yaw: float
    pitch: float
    roll: float
    rotation: np.ndarray


def mean_face(meshes: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """(478, 3) mean 3-D face from face meshes (x, y and the mesh's own z), each put in its face frame and
    scaled to unit inter-ocular distance first. This face looks straight at the camera (pose zero)."""
    canon = []
    for m in meshes:
        origin, axes, iod = face_frame(m)
        canon.append((m - origin) @ axes.T / iod)
    return np.mean(canon, axis=0)


def camera_matrix(height: int, width: int) -> np.ndarray:
    """Pinhole camera with focal length = the longer image side and the principal point at the centre."""
    f = float(max(height, width))
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]], np.float64)


def euler_degrees(rot: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) of R = Rz(roll) Ry(yaw) Rx(pitch), degrees."""
    yaw = np.arcsin(np.clip(-rot[2, 0], -1.0, 1.0))
    pitch = np.arctan2(rot[2, 1], rot[2, 2])
    roll = np.arctan2(rot[1, 0], rot[0, 0])
    return tuple(float(np.degrees(v)) for v in (yaw, pitch, roll))


def head_pose(points: np.ndarray, model: np.ndarray, image_shape: tuple[int, int]) -> Pose:
    """Head pose of 2-D landmarks against a 3-D model face (``mean_face``) by cv2.solvePnP."""
    obj = np.ascontiguousarray(model[:N_MESH], np.float64)
    img = np.ascontiguousarray(points[:N_MESH, :2], np.float64)
    k = camera_matrix(*image_shape[:2])
    ok, rvec, tvec = cv2.solvePnP(obj, img, k, None, flags=cv2.SOLVEPNP_EPNP)
    if ok:
        ok, rvec, tvec = cv2.solvePnP(obj, img, k, None, rvec, tvec, useExtrinsicGuess=True,
                                      flags=cv2.SOLVEPNP_ITERATIVE)
    rot = cv2.Rodrigues(rvec)[0]
    return Pose(*euler_degrees(rot), rotation=rot)


def angle_difference(a: float, b: float) -> float:
    """|a - b| in degrees, wrapped to [0, 180]."""
    return float(abs((a - b + 180.0) % 360.0 - 180.0))


def pose_errors(a: Pose, b: Pose) -> tuple[float, float, float]:
    """Absolute (yaw, pitch, roll) differences in degrees."""
    return (angle_difference(a.yaw, b.yaw), angle_difference(a.pitch, b.pitch),
            angle_difference(a.roll, b.roll))
