"""Dense landmarks (MediaPipe face mesh, 478 points) on aligned face crops, and their geometry."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from .mp_backend import silenced_stderr, solutions

N_POINTS = 478
# The face outline as a closed path (MediaPipe FACEMESH_FACE_OVAL).
FACE_OVAL = np.array([10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
                      377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67,
                      109])
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263


def mesh_indices(*edge_sets: frozenset) -> np.ndarray:
    """Sorted point indices of MediaPipe edge sets (e.g. FACEMESH_LIPS)."""
    return np.array(sorted({i for edges in edge_sets for edge in edges for i in edge}))


def crop_matrix(center: np.ndarray, size: float, angle_deg: float, out: int) -> np.ndarray:
    """2x3 affine mapping frame pixels to an ``out`` x ``out`` crop of side ``size`` rotated by ``angle_deg``."""
    scale = out / max(size, 1e-3)
    m = cv2.getRotationMatrix2D((float(center[0]), float(center[1])), angle_deg, scale)
    m[:, 2] += np.array([out / 2 - center[0], out / 2 - center[1]])
    return m


def apply_affine(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine to (..., 2) points."""
    return pts @ m[:, :2].T + m[:, 2]


def roll_degrees(landmarks: np.ndarray) -> float:
    """In-plane head rotation from the outer eye corners, degrees (0 = upright)."""
    d = landmarks[LEFT_EYE_OUTER] - landmarks[RIGHT_EYE_OUTER]
    return float(np.degrees(np.arctan2(d[1], d[0])))


def landmark_box(landmarks: np.ndarray) -> np.ndarray:
    """Tight (x0, y0, x1, y1) of the points."""
    return np.concatenate([landmarks.min(0), landmarks.max(0)]).astype(np.float32)


class MeshEstimator:
    """MediaPipe face mesh on one aligned square crop per face.

    ``estimate(rgb, center, size, angle)`` returns (478, 2) frame-pixel landmarks of the face nearest the
    crop centre, or None when no face is found there.
    ``tracking``: for one track's crops, frame after frame. MediaPipe then takes the face's region from
    the previous crop's landmarks instead of running its own detector on every crop (about 35% faster).
    The crops are all centred, scaled and rotated alike, so that region carries over between crops (even
    of another face, when an estimator is reused); when the face is not there it reports none and runs
    its detector on the next crop.
    """

    def __init__(self, crop_size: int = 256, min_confidence: float = 0.5, tracking: bool = False):
        self.crop_size = crop_size
        self._lock = threading.Lock()
        with silenced_stderr():
            self._mesh = solutions.face_mesh.FaceMesh(
                static_image_mode=not tracking, max_num_faces=1 if tracking else 2, refine_landmarks=True,
                min_detection_confidence=min_confidence, min_tracking_confidence=min_confidence)
            self._mesh.process(np.zeros((crop_size, crop_size, 3), np.uint8))

    def estimate(self, rgb: np.ndarray, center: np.ndarray, size: float,
                 angle_deg: float = 0.0) -> np.ndarray | None:
        out = self.crop_size
        m = crop_matrix(center, size, angle_deg, out)
        crop = cv2.warpAffine(rgb, m, (out, out), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        with self._lock:
            result = self._mesh.process(crop)
        if not result.multi_face_landmarks:
            return None
        best, best_d = None, np.inf
        for face in result.multi_face_landmarks:
            pts = np.array([(p.x, p.y) for p in face.landmark], np.float32) * out
            d = np.linalg.norm(pts.mean(0) - out / 2)
            if d < best_d:
                best, best_d = pts, d
        if best_d > 0.3 * out:  # the face found is not the one we asked about
            return None
        inv = cv2.invertAffineTransform(m)
        return apply_affine(inv, best).astype(np.float32)

    def close(self) -> None:
        self._mesh.close()
