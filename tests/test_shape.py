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
        assert abs(a - b) < 0.05 and abs(a - b) < abs(a - c) + 0.002
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


def test_new_identities_keep_the_age_group_of_the_face():
    """An adult's new face is drawn among adults, a child's among children (the training population is a third
    children: drawn from all of it, adults got a child's round face and small features)."""
    model = ShapeModel.load(MODEL)
    assert model.prior_mean is not None and len(model.prior_mean) == 2
    rng = np.random.default_rng(3)
    for group in (0, 1):
        people = model.prior_mean[group] + rng.normal(size=(40, model.k)) * model.prior_std[group]
        drawn = np.stack([model.sample_identity(rng, avoid=own) for own in people])
        to = [np.linalg.norm((drawn.mean(0) - m) / model.id_std) for m in model.prior_mean]
        assert to[group] < to[1 - group]  # the new faces lie among the face's own group
        if group == 0:  # adults: nearly all look like adults (children spread over adults' proportions too)
            assert np.mean([model.group_of(c) == 0 for c in drawn]) >= 0.8
        # and another person: farther from the face than two people of its group typically are
        assert np.median(np.linalg.norm(drawn - people, axis=1)) >= model.group_typical(group)


def test_the_new_face_keeps_its_outline_close_to_the_head():
    """The new geometry changes the inner face fully and the outline only by OUTLINE_WEIGHT of the swap's change
    (a new face wider than the head spilled over the hair and ears)."""
    from streamanon.faces.landmarks import FACE_OVAL
    from streamanon.generate import OUTLINE_WEIGHT, outline_weights

    model = ShapeModel.load(MODEL)
    w = outline_weights(model.mean.reshape(-1, 2))
    assert np.allclose(w[FACE_OVAL], OUTLINE_WEIGHT, atol=0.02)
    nose_tip, between_eyes = 1, 168
    assert w[nose_tip] == pytest.approx(1.0) and w[between_eyes] == pytest.approx(1.0)
    own = face3d(model, 0, 0)[:, :2].astype(np.float32)
    coords = model.sample_identity(np.random.default_rng(2), avoid=model.identity_coords((own / CROP)[None])[0])
    full = model.new_shape(own, coords, None, CROP)
    held = model.new_shape(own, coords, w, CROP)
    moved = lambda s, idx: np.linalg.norm(s[idx] - own[idx], axis=1).mean()  # noqa: E731
    assert moved(held, FACE_OVAL) < 0.75 * moved(full, FACE_OVAL)
    inner = np.flatnonzero(w > 0.99)
    assert moved(held, inner) > 0.5 * moved(full, inner)


def test_a_tracks_own_identity_is_its_mean_so_a_frames_expression_is_not_swapped_away(model):
    from streamanon.generate import TrackIdentity

    rng = np.random.default_rng(3)
    k = model.identity_coords(model.mean.reshape(1, -1, 2)).shape[1]
    person = model.mean.reshape(-1, 2) + (rng.normal(0, 0.3, k) @ model._from_identity).reshape(-1, 2)
    track = TrackIdentity(coords=rng.normal(0, 1, k), noise=np.zeros(1))
    for _ in range(20):
        track.own_identity(model.identity_coords(person[None])[0])
    mouth = np.zeros_like(person)
    mouth[[13, 14], 1] = (-0.02, 0.02)  # this frame opens the mouth: a share of it lies in the identity subspace
    frame = person + mouth
    own = track.own_identity(model.identity_coords(frame[None])[0])
    assert np.abs(own - model.identity_coords(person[None])[0]).max() < 0.1 * np.abs(
        model.identity_coords(frame[None])[0] - model.identity_coords(person[None])[0]).max()
    kept = model.swap_identity(frame[None], track.coords[None], own_coords=own[None])[0]
    lost = model.swap_identity(frame[None], track.coords[None])[0]
    new = model.swap_identity(person[None], track.coords[None])[0]
    gap = lambda s: s[14, 1] - s[13, 1]  # noqa: E731
    assert abs(gap(kept) - gap(new) - 0.04) < abs(gap(lost) - gap(new) - 0.04)  # the opening survives the swap
