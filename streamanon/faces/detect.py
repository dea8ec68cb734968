"""Face boxes from MediaPipe's face detector, run on a downscaled frame."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from .mp_backend import silenced_stderr, solutions


def _relative_boxes(result, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    boxes, scores = [], []
    for det in result.detections or []:
        bb = det.location_data.relative_bounding_box
        boxes.append([bb.xmin * width, bb.ymin * height, (bb.xmin + bb.width) * width,
                      (bb.ymin + bb.height) * height])
        scores.append(det.score[0] if det.score else 0.0)
    return np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32)


class FaceDetector:
    """MediaPipe full-range detector (faces up to ~5 m), short-range as a fallback for close-ups.

    ``detect(rgb)`` returns (boxes (N, 4) x0 y0 x1 y1 in frame pixels, scores (N,)).
    """

    def __init__(self, threshold: float = 0.5, max_side: int = 640):
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        self.threshold = threshold
        self.max_side = max_side
        self._lock = threading.Lock()
        with silenced_stderr():
            self._full = solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=threshold)
            self._short = solutions.face_detection.FaceDetection(
                model_selection=0, min_detection_confidence=threshold)
            self._full.process(np.zeros((64, 64, 3), np.uint8))
            self._short.process(np.zeros((64, 64, 3), np.uint8))

    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = rgb.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = rgb if scale == 1.0 else cv2.resize(
            rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        small = np.ascontiguousarray(small)
        with self._lock:
            boxes, scores = _relative_boxes(self._full.process(small), w, h)
            if len(boxes) == 0:
                boxes, scores = _relative_boxes(self._short.process(small), w, h)
        return boxes, scores

    def close(self) -> None:
        self._full.close()
        self._short.close()
