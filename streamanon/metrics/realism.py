"""Can a judge tell the anonymized faces from the real ones? Classifier two-sample tests (C2ST).

A linear classifier (shrinkage LDA on standardised features) is trained to separate the original faces from
the anonymized ones and scored by cross-validation, an original and its anonymized version always in the same
fold. Its held-out accuracy is the measure: 0.5 = it cannot tell them apart, 1.0 = it always can. Two feature
spaces: the dlib identity descriptor (do the new faces look like a population of real people, or all alike?)
and a texture description of the face crop (local binary patterns, gradient and colour statistics: blotches,
airbrushed skin, drawn features).
"""

from __future__ import annotations

import cv2
import numpy as np

MIN_PAIRS = 20  # fewer faces give no C2ST figure


def lbp_histogram(grey: np.ndarray) -> np.ndarray:
    """(256,) normalised histogram of 8-neighbour local binary patterns of a grey image."""
    g = grey.astype(np.int16)
    c = g[1:-1, 1:-1]
    code = np.zeros(c.shape, np.int32)
    offsets = ((0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0))
    for bit, (dy, dx) in enumerate(offsets):
        code |= (g[dy:dy + c.shape[0], dx:dx + c.shape[1]] >= c).astype(np.int32) << bit
    hist = np.bincount(code.ravel(), minlength=256).astype(np.float64)
    return hist / max(hist.sum(), 1.0)


def texture_features(thumb: np.ndarray, inner: float = 0.6) -> np.ndarray:
    """Features of a face crop (RGB uint8, face centred): over its inner ``inner`` share, LBP histograms at
    full and half size (square-rooted), a histogram of log gradient magnitudes, Laplacian energy at two
    scales and CIELAB mean and spread."""
    h, w = thumb.shape[:2]
    y0, x0 = int(h * (1 - inner) / 2), int(w * (1 - inner) / 2)
    centre = thumb[y0:h - y0, x0:w - x0]
    grey = cv2.cvtColor(centre, cv2.COLOR_RGB2GRAY)
    half = cv2.resize(grey, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    g = grey.astype(np.float32)
    mag = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    grad = np.histogram(np.log1p(mag), bins=12, range=(0, 7))[0].astype(np.float64)
    grad /= max(grad.sum(), 1.0)
    lap = [np.log1p(cv2.Laplacian(x.astype(np.float32), cv2.CV_32F).var()) for x in (grey, half)]
    lab = cv2.cvtColor(centre, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float64)
    return np.concatenate([np.sqrt(lbp_histogram(grey)), np.sqrt(lbp_histogram(half)), np.sqrt(grad), lap,
                           lab.mean(0) / 255, lab.std(0) / 255])


def c2st_accuracy(real: np.ndarray, fake: np.ndarray, folds: int = 5, shrink: float = 0.5, seed: int = 0
                  ) -> float:
    """Cross-validated accuracy of shrinkage LDA separating (N, D) ``real`` from (N, D) ``fake`` rows; row i
    of both is one pair and stays in one fold."""
    n = len(real)
    if n != len(fake) or n < folds:
        raise ValueError("c2st needs paired rows, at least one per fold")
    fold = np.random.default_rng(seed).permutation(n) % folds
    right = 0
    for k in range(folds):
        tr, te = fold != k, fold == k
        x = np.concatenate([real[tr], fake[tr]]).astype(np.float64)
        mu, sd = x.mean(0), x.std(0) + 1e-9
        a, b = (real[tr] - mu) / sd, (fake[tr] - mu) / sd
        cov = np.cov(np.concatenate([a - a.mean(0), b - b.mean(0)]).T)
        cov = (1 - shrink) * cov + shrink * np.eye(len(cov)) * np.trace(cov) / len(cov)
        w = np.linalg.solve(cov, b.mean(0) - a.mean(0))
        t = w @ (a.mean(0) + b.mean(0)) / 2
        right += int(((((real[te] - mu) / sd) @ w) < t).sum() + ((((fake[te] - mu) / sd) @ w) >= t).sum())
    return right / (2 * n)


def realism_c2st(descriptors: list[tuple[np.ndarray, np.ndarray]], thumbs: list[tuple[np.ndarray, np.ndarray]]
                 ) -> dict[str, float | None]:
    """{"c2st_identity", "c2st_texture"}: C2ST accuracies from (original, anonymized) descriptor pairs and
    thumbnail pairs; None with fewer than MIN_PAIRS pairs."""
    out: dict[str, float | None] = {"c2st_identity": None, "c2st_texture": None}
    if len(descriptors) >= MIN_PAIRS:
        out["c2st_identity"] = c2st_accuracy(np.stack([d[0] for d in descriptors]),
                                             np.stack([d[1] for d in descriptors]))
    if len(thumbs) >= MIN_PAIRS:
        feats = [(texture_features(a), texture_features(b)) for a, b in thumbs]
        out["c2st_texture"] = c2st_accuracy(np.stack([f[0] for f in feats]), np.stack([f[1] for f in feats]))
    return out
