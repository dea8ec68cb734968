"""Stage 6, the refinement generator: a small U-Net (engines/refiner.onnx, trained by tools/train_refiner.py)
that looks at the composed face and its context in an aligned low-resolution crop and returns a correction
(seams, eyes, mouth, skin shading), which is warped back, upsampled and added to the full-resolution face
inside its feathered cover.

``refine_input`` builds the network's input; training, export and run time all call it.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..faces.align import align_matrix, warp_crop

SIZE = 96  # side of the aligned crop the correction is computed on
ZOOM = 4 / 3  # the crop is the generator's canonical crop zoomed about its centre: the cover and a rim of context
IN_CHANNELS = 4  # composed RGB in [-1, 1], cover in [0, 1]
MAX_CORRECTION = 0.5  # the network's output (tanh) times this, in units of [-1, 1] RGB


def refine_input(image: np.ndarray, cover: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(IN_CHANNELS, SIZE, SIZE) float32 input for the face with (478, 2|3) ``landmarks`` in ``image`` (uint8
    RGB) whose replaced region is ``cover`` (H, W, bool or float), and the 2x3 affine image -> crop."""
    m = align_matrix(landmarks, SIZE)
    m = np.vstack([m * ZOOM, [0, 0, 1]])[:2]
    m[:, 2] -= (ZOOM - 1) * SIZE / 2
    crop = warp_crop(image, m, SIZE).astype(np.float32) / 127.5 - 1.0
    mask = cv2.warpAffine(cover.astype(np.float32), m, (SIZE, SIZE), flags=cv2.INTER_LINEAR)
    return np.concatenate([crop.transpose(2, 0, 1), mask[None]], 0).astype(np.float32), m


def add_correction(image: np.ndarray, correction: np.ndarray, m: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``image`` (H, W, 3) uint8 plus the (3, SIZE, SIZE) correction (units of [-1, 1] RGB) warped back by
    the inverse of ``m`` (bilinear: upsampled to the face's own size) and weighted by ``weight`` (H, W)."""
    h, w = image.shape[:2]
    delta = cv2.warpAffine(np.ascontiguousarray(correction.transpose(1, 2, 0)) * 127.5,
                           cv2.invertAffineTransform(m), (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    cv2.multiply(delta, cv2.merge([weight.astype(np.float32, copy=False)] * 3), dst=delta)
    return cv2.add(image, delta, dtype=cv2.CV_8U)  # rounded and saturated
