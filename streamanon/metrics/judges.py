"""Independent judges: dlib's HOG detector, 68-point predictor and ResNet descriptor; MediaPipe face mesh.

They are never part of the anonymizer. Models load on first use and are cached per process (``get_judges``).
"""

from __future__ import annotations

import functools
import threading
import warnings
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import StreamanonError
from ..faces.mp_backend import silenced_stderr, solutions

EMBEDDING = "dlib ResNet face descriptor (128-d, dlib_face_recognition_resnet_model_v1, num_jitters=0)"


@dataclass(frozen=True)
class JudgeSettings:
    """detect_side: images are shrunk to this longest side for HOG. mesh_margin: crop side / box side."""

    detect_side: int = 800
    upsample: int = 0
    mesh_crop: int = 256
    mesh_margin: float = 2.0


def _dlib_models():
    try:
        import dlib

        with warnings.catch_warnings():  # face_recognition_models imports the deprecated pkg_resources
            warnings.simplefilter("ignore")
            import face_recognition_models as frm
    except ImportError as exc:
        raise StreamanonError(f"the judges need dlib and its models ({exc}): pip install dlib-bin "
                              "face_recognition_models 'setuptools<81'") from exc
    return (dlib, dlib.get_frontal_face_detector(), dlib.shape_predictor(frm.pose_predictor_model_location()),
            dlib.face_recognition_model_v1(frm.face_recognition_model_location()))


def mesh_crop_matrix(box: np.ndarray, margin: float, out: int) -> np.ndarray:
    """2x3 similarity taking a square of ``margin`` x the box's longer side (box-centred) to ``out`` pixels."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    scale = out / max(margin * max(box[2] - box[0], box[3] - box[1]), 1e-3)
    return np.array([[scale, 0, out / 2 - scale * cx], [0, scale, out / 2 - scale * cy]], np.float64)


class Judges:
    """The judges behind one lock (MediaPipe graphs are not re-entrant)."""

    def __init__(self, settings: JudgeSettings | None = None):
        self.settings = settings or JudgeSettings()
        self._lock = threading.Lock()
        self._dlib = None
        self._mesh = None

    def _models(self):
        if self._dlib is None:
            self._dlib = _dlib_models()
        return self._dlib

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        """(N, 4) float x0, y0, x1, y1 boxes of the faces HOG finds, in ``rgb`` pixels."""
        _, detector, _, _ = self._models()
        h, w = rgb.shape[:2]
        f = min(1.0, self.settings.detect_side / max(h, w))
        small = rgb if f == 1.0 else cv2.resize(rgb, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
        with self._lock:
            rects = detector(np.ascontiguousarray(small), self.settings.upsample)
        boxes = np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects], np.float64).reshape(-1, 4)
        return boxes / f

    def descriptor(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
        """(128,) descriptor of the face in ``box`` (68-point shape, then the ResNet; no jitter)."""
        dlib, _, predictor, encoder = self._models()
        rect = dlib.rectangle(*(int(round(v)) for v in box))
        img = np.ascontiguousarray(rgb)
        with self._lock:
            shape = predictor(img, rect)
            return np.array(encoder.compute_face_descriptor(img, shape, 0), np.float64)

    def mesh(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """(478, 3) face mesh of the face nearest the box centre, x/y in ``rgb`` pixels, z in the same unit
        (larger = farther); None when the mesh finds no face there."""
        out = self.settings.mesh_crop
        m = mesh_crop_matrix(box, self.settings.mesh_margin, out)
        crop = cv2.warpAffine(rgb, m, (out, out), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)
        with self._lock:
            if self._mesh is None:
                with silenced_stderr():
                    self._mesh = solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=2,
                                                              refine_landmarks=True, min_detection_confidence=0.5)
                    self._mesh.process(np.zeros((out, out, 3), np.uint8))  # native start-up logs go here
            result = self._mesh.process(crop)
        if not result.multi_face_landmarks:
            return None
        meshes = [np.array([(p.x, p.y, p.z) for p in f.landmark], np.float64) * out
                  for f in result.multi_face_landmarks]
        best = min(meshes, key=lambda p: np.linalg.norm(p[:, :2].mean(0) - out / 2))
        if np.linalg.norm(best[:, :2].mean(0) - out / 2) > 0.25 * out:
            return None
        scale = m[0, 0]
        pts = best.copy()
        pts[:, 0] = (best[:, 0] - m[0, 2]) / scale
        pts[:, 1] = (best[:, 1] - m[1, 2]) / scale
        pts[:, 2] = best[:, 2] / scale
        return pts

    def close(self) -> None:
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None


@functools.lru_cache(maxsize=1)
def get_judges() -> Judges:
    """The process-wide judges (models load lazily, on first use)."""
    return Judges()
