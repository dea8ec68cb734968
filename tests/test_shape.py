"""The identity swap of the landmark geometry keeps head pose and expression and changes identity."""

import numpy as np
import pytest

from streamanon.faces.shape import ShapeModel, remove_rigid
from streamanon.generate import CROP
from streamanon.metrics.face import head_pose, opening_ratios, pose_errors
from streamanon.models.engine import ENGINES_DIR

MODEL = ENGINES_DIR / "shape_model.npz"


@pytest.fixture(scope="module")
def model() -> ShapeModel:
    return ShapeModel.load(MODEL)


def face3d(model: ShapeModel, yaw: float, pitch: float) -> np.ndarray:
    """The model's mean face in crop pixels, turned by yaw and pitch (degrees) about its centre."""
    p = np.concatenate([model.mean.reshape(-1, 2), model.depth[:, None]], 1) * CROP
    c = p.mean(0)
    a, b = np.radians(yaw), np.radians(pitch)
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return (p - c) @ (ry @ rx).T + c


@pytest.mark.parametrize("yaw, pitch", [(0, 0), (20, -10), (-30, 5)])
def test_swap_then_keep_pose_and_openings_keeps_pose_and_openings_and_changes_identity(model, yaw, pitch):
    own3d = face3d(model, yaw, pitch)
    own = own3d[:, :2].astype(np.float32)
    rng = np.random.default_rng(1)
    obj = np.concatenate([model.mean.reshape(-1, 2), model.depth[:, None]], 1) * 10
    far = (CROP * 20, CROP * 20)  # a long focal length: the crop is seen (almost) orthographically
    off = far[0] / 2 - CROP / 2

    def pose(points):
        return head_pose(points + off, obj, far)

    before = pose(own)
    coords = model.sample_identity(rng, avoid=model.identity_coords((own / CROP)[None])[0])
    swapped = model.swap_identity((own / CROP)[None], coords[None])[0] * CROP
    raw_pose = max(pose_errors(before, pose(swapped)))
    kept = own + remove_rigid(swapped - own, own3d, keep_expression=True)
    rigid_only = own + remove_rigid(swapped - own, own3d)
    kept_pose = max(pose_errors(before, pose(kept)))
    assert kept_pose < 1.0 and kept_pose < raw_pose
    # mouth and eye openings move less than with the rigid part alone removed
    for a, b, c in zip(opening_ratios(own), opening_ratios(kept), opening_ratios(rigid_only)):
        assert abs(a - b) < 0.05 and abs(a - b) < abs(a - c)
    # the shape is still far from its own identity: at least half the typical distance between two people
    new = model.identity_coords((kept / CROP)[None])[0]
    old = model.identity_coords((own / CROP)[None])[0]
    assert np.linalg.norm(new - old) > 0.5 * model.typical_distance


def test_remove_rigid_is_a_projection():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(478, 3))
    d = remove_rigid(rng.normal(size=(478, 2)), pts, keep_expression=True)
    assert np.allclose(remove_rigid(d, pts, keep_expression=True), d, atol=1e-5)
    shift = np.tile([[3.0, -2.0]], (478, 1))
    assert np.abs(remove_rigid(shift, pts)).max() < 1e-5
