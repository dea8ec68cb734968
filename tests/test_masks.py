"""Masks and pixel methods: the face region is fully covered, nothing outside the region changes."""

import numpy as np
import pytest

from streamanon.anonymize import CoverSettings, cover_faces
from streamanon.masks import ellipse_mask, hull_mask, region_of
from streamanon.methods import blur, pixelate, solid
from streamanon.types import Faces


def _ring(cx, cy, r, n=478):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1).astype(np.float32)


def test_hull_mask_is_one_inside_and_soft_outside():
    pts = _ring(100, 100, 40)
    roi = (0, 0, 200, 200)
    m = hull_mask(pts, roi, scale=1.0, feather=0.1)
    assert m.shape == (200, 200)
    assert m[100, 100] == 1.0 and m[100, 135] == pytest.approx(1.0, abs=0.02)
    assert 0.0 < m[100, 143] < 1.0  # feathered edge just outside the hull
    assert m[0, 0] == 0.0


def test_ellipse_mask_covers_the_box():
    box = np.array([50, 60, 150, 180], np.float32)
    m = ellipse_mask(box, (0, 0, 200, 240), scale=1.0, feather=0.08)
    assert m[120, 100] == 1.0
    assert m[5, 5] == 0.0


@pytest.mark.parametrize("box,shape,expected", [
    ([10, 10, 20, 20], (100, 100), (10, 10, 20, 20)),
    ([-10, -10, 20, 20], (100, 100), (0, 0, 20, 20)),
    ([200, 200, 220, 220], (100, 100), None),
])
def test_region_of_clips(box, shape, expected):
    assert region_of(np.array(box, np.float32), 1.0, shape) == expected


@pytest.mark.parametrize("method", [blur, pixelate, solid])
def test_methods_destroy_detail(method):
    rng = np.random.default_rng(0)
    roi = rng.integers(0, 256, (120, 100, 3), dtype=np.uint8)
    out = method(roi, 100.0)
    assert out.shape == roi.shape and out.dtype == np.uint8
    # high-frequency detail is gone: neighbouring pixels are nearly equal
    assert np.abs(np.diff(out.astype(int), axis=1)).mean() < 0.25 * np.abs(np.diff(roi.astype(int), axis=1)).mean()


@pytest.mark.parametrize("method", ["blur", "pixelate", "mask"])
def test_cover_faces_changes_the_face_and_only_near_it(method):
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    before = frame.copy()
    lms = _ring(100, 120, 30)[None]
    faces = Faces(boxes=np.array([[70, 90, 130, 150]], np.float32), landmarks=lms,
                  track_ids=np.array([0]), coasting=np.array([False]), scores=np.array([0.9], np.float32))
    assert cover_faces(frame, faces, CoverSettings(method=method)) == 0
    changed = np.any(frame != before, axis=2)
    assert changed[120, 100] and changed[120, 125]
    assert not changed[:, 200:].any()  # far from the face: untouched


def test_cover_faces_falls_back_to_solid_on_error(monkeypatch):
    import streamanon.anonymize as an

    def broken(roi, size):
        raise RuntimeError("boom")

    monkeypatch.setitem(an.PIXEL_METHODS, "blur", broken)
    frame = np.full((100, 100, 3), 200, np.uint8)
    faces = Faces(boxes=np.array([[30, 30, 60, 60]], np.float32),
                  landmarks=np.full((1, 478, 2), np.nan, np.float32), track_ids=np.array([3]),
                  coasting=np.array([False]), scores=np.array([0.9], np.float32))
    assert cover_faces(frame, faces, CoverSettings(method="blur")) == 1
    assert (frame[45, 45] == 0).all()


def test_settings_reject_bad_values():
    with pytest.raises(ValueError, match="unknown method"):
        CoverSettings(method="smudge")
    with pytest.raises(ValueError, match="--mask-scale"):
        CoverSettings(mask_scale=0.1)


def test_many_box_faces_are_covered_together_inside_each_box():
    """A crowd of box faces (MANY_BOXES or more, of several sizes, one given with its corners swapped, as a
    path extrapolated back in time could) goes through cover_boxes: every face's inner box changes."""
    from streamanon.anonymize import MANY_BOXES

    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (360, 640, 3), dtype=np.uint8)
    before = frame.copy()
    sizes = [16, 20, 30, 45, 70, 100, 18, 24, 60, 36]
    boxes = np.array([[20 + 60 * i, 40 + 25 * (i % 3), 20 + 60 * i + s, 40 + 25 * (i % 3) + s]
                      for i, s in enumerate(sizes)], np.float32)
    boxes[3] = boxes[3][[2, 3, 0, 1]]  # corners swapped
    n = len(boxes)
    assert n >= MANY_BOXES
    faces = Faces(boxes=boxes, landmarks=np.full((n, 478, 2), np.nan, np.float32), track_ids=np.arange(n),
                  coasting=np.zeros(n, bool), scores=np.full(n, 0.9, np.float32))
    assert cover_faces(frame, faces, CoverSettings(method="blur")) == 0
    changed = np.any(frame != before, axis=2)
    for b in boxes:
        x0, x1 = sorted((b[0], b[2]))
        y0, y1 = sorted((b[1], b[3]))
        w, h = x1 - x0, y1 - y0
        inner = changed[int(y0 + 0.2 * h):int(y1 - 0.2 * h), int(x0 + 0.2 * w):int(x1 - 0.2 * w)]
        assert inner.mean() > 0.95
    assert not changed[300:].any()  # far below every face: untouched

