"""Non-maximum suppression of detector boxes."""

from __future__ import annotations

import numpy as np


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
