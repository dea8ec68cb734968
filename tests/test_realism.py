"""The real/fake two-sample tests that `streamanon eval` reports (streamanon.metrics.realism)."""

import cv2
import numpy as np
import pytest

from streamanon.metrics.realism import MIN_PAIRS, c2st_accuracy, realism_c2st, texture_features


def _faces(rng: np.random.Generator, n: int, smooth: bool) -> list[np.ndarray]:
    out = []
    for _ in range(n):
        img = np.full((96, 96, 3), rng.integers(90, 200, 3), np.uint8)
        cv2.ellipse(img, (48, 48), (30, 38), 0, 0, 360, [int(v) for v in rng.integers(120, 220, 3)], -1)
        noise = rng.normal(0, 1.0 if smooth else 9.0, img.shape)
        out.append(np.clip(img + noise, 0, 255).astype(np.uint8))
    return out


def test_c2st_is_at_chance_for_one_population_and_near_one_for_two():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((60, 16))
    assert c2st_accuracy(a, a) == 0.5  # the same faces: it cannot tell
    same = c2st_accuracy(a, rng.standard_normal((60, 16)))
    assert 0.3 < same < 0.7
    assert c2st_accuracy(a, rng.standard_normal((60, 16)) + 1.5) > 0.9


def test_texture_c2st_tells_airbrushed_crops_from_grainy_ones():
    rng = np.random.default_rng(1)
    real, smooth = _faces(rng, 30, False), _faces(rng, 30, True)
    assert texture_features(real[0]).shape == texture_features(smooth[0]).shape
    r = realism_c2st([], list(zip(real, smooth)))
    assert r["c2st_identity"] is None and r["c2st_texture"] > 0.9
    assert realism_c2st([], list(zip(real, _faces(rng, 30, False))))["c2st_texture"] < 0.75


def test_c2st_needs_enough_paired_faces():
    rng = np.random.default_rng(2)
    few = [(rng.standard_normal(128), rng.standard_normal(128)) for _ in range(MIN_PAIRS - 1)]
    assert realism_c2st(few, [])["c2st_identity"] is None
    with pytest.raises(ValueError):
        c2st_accuracy(np.zeros((10, 3)), np.zeros((9, 3)))
