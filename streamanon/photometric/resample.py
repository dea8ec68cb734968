"""Shrinking images quickly. Pure function."""

from __future__ import annotations

import cv2
import numpy as np


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` resized down to ``size`` (width, height) with little aliasing: halved by Gaussian pyramid
    steps while it is at least twice as large, then bilinear (OpenCV's area resize at a fractional ratio
    costs several times as much)."""
    w, h = size
    while image.shape[1] >= 2 * w and image.shape[0] >= 2 * h:
        image = cv2.pyrDown(image)
    if image.shape[1] == w and image.shape[0] == h:
        return image
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
