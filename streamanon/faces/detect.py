"""Face boxes from MediaPipe's face detector, run on a downscaled frame."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from .mp_backend import silenced_stderr, solutions


def nms(boxes: np.ndarray, scores: np.ndarray, iou_max: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Keep the best-scoring box of each overlapping group."""
    from .track import iou

    order = np.argsort(-scores)
    overlap = iou(boxes[order], boxes[order]) > iou_max
    suppressed = np.zeros(len(order), bool)
    keep: list[int] = []
    for k in range(len(order)):
        if not suppressed[k]:
            keep.append(int(order[k]))
            suppressed |= overlap[k]
    return boxes[keep], scores[keep]


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

    def detect(self, rgb: np.ndarray, close_ups: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Boxes and scores; ``close_ups``: when the full-range model finds nothing, try the short-range one
        (a face filling the frame). Off for tiles and windows, which look for small faces."""
        h, w = rgb.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = rgb if scale == 1.0 else cv2.resize(
            rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        small = np.ascontiguousarray(small)
        with self._lock:
            boxes, scores = _relative_boxes(self._full.process(small), w, h)
            if len(boxes) == 0 and close_ups:
                boxes, scores = _relative_boxes(self._short.process(small), w, h)
        return boxes, scores

    def detect_tiles(self, rgb: np.ndarray, zoom: float = 2.0, overlap: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
        """Detect on overlapping tiles of about 1/``zoom`` of the frame's longer side, for faces too small for
        the full-frame pass (~30 px in 640 px). The detector sees a square, so tiles are kept near square:
        a 16:9 frame gets 2 x 1 tiles (1.8x magnified), not 2 x 2 wide ones (1.5x, twice the calls)."""
        h, w = rgb.shape[:2]
        side = max(h, w) / zoom
        cols, rows = max(1, round(w / side)), max(1, round(h / side))
        tw, th = min(w, int(w / cols * (1 + overlap))), min(h, int(h / rows * (1 + overlap)))
        boxes, scores = [], []
        for gy in range(rows):
            for gx in range(cols):
                x0 = int(np.clip(gx * w / cols - overlap / 2 * w / cols, 0, w - tw))
                y0 = int(np.clip(gy * h / rows - overlap / 2 * h / rows, 0, h - th))
                b, sc = self.detect(np.ascontiguousarray(rgb[y0:y0 + th, x0:x0 + tw]), close_ups=False)
                boxes.append(b + np.array([x0, y0, x0, y0], np.float32))
                scores.append(sc)
        return np.concatenate(boxes), np.concatenate(scores)

    def detect_around(self, rgb: np.ndarray, box: np.ndarray, scale: float = 2.5) -> tuple[np.ndarray, np.ndarray]:
        """Detect in a window ``scale`` x the box around it (following a small face between full passes)."""
        h, w = rgb.shape[:2]
        c = (box[:2] + box[2:]) / 2
        half = max(box[2] - box[0], box[3] - box[1]) * scale / 2
        x0, y0 = int(max(c[0] - half, 0)), int(max(c[1] - half, 0))
        x1, y1 = int(min(c[0] + half, w)), int(min(c[1] + half, h))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
        b, sc = self.detect(np.ascontiguousarray(rgb[y0:y1, x0:x1]), close_ups=False)
        return b + np.array([x0, y0, x0, y0], np.float32), sc

    def close(self) -> None:
        self._full.close()
        self._short.close()
