"""Tracking maths: vectorised landmark smoothing, IoU, matching."""

import numpy as np
import pytest

from streamanon.faces.track import AdaptivePoints, NoFilter, greedy_match, iou


def test_smoothing_follows_constant_velocity_with_little_lag_and_predicts_along_it():
    pts = np.random.default_rng(0).uniform(100, 200, (478, 2))
    f = AdaptivePoints(pts.copy())
    for t in range(1, 40):
        f.predict()
        out = f.update(pts + [2.0 * t, -1.0 * t])
    assert np.abs(out - (pts + [78.0, -39.0])).max() < 0.6  # less than a third of a frame's move behind
    np.testing.assert_allclose(f.predict(), pts + [80.0, -40.0], atol=0.6)


def test_smoothing_removes_jitter_on_a_still_face():
    rng = np.random.default_rng(1)
    truth = rng.uniform(100, 300, (478, 2))
    f = AdaptivePoints(truth.copy())
    errs_raw, errs_f = [], []
    for _ in range(60):
        z = truth + rng.normal(0, 1.0, truth.shape)
        f.predict()
        out = f.update(z)
        errs_raw.append(np.abs(z - truth).mean())
        errs_f.append(np.abs(out - truth).mean())
    assert np.mean(errs_f[10:]) < 0.7 * np.mean(errs_raw[10:])


def test_a_head_that_speeds_up_and_slows_down_is_followed_without_stalls_or_jumps():
    pts = np.random.default_rng(4).uniform(100, 300, (478, 2))
    f = AdaptivePoints(pts.copy())
    path = 12.0 * np.sin(np.arange(120) * 2 * np.pi / 15)  # a bobbing head: 12 px up and down, every 15 frames
    steps = []
    for y in path:
        f.predict()
        steps.append(f.update(pts + [0.0, y]).copy())
    moved = np.abs(np.diff(np.array(steps)[:, 0, 1]))[30:]
    true = np.abs(np.diff(path))[30:]
    assert moved.sum() <= 1.02 * true.sum()  # no overshoot: the Kalman filter before moved 1.16x the head
    assert np.abs(np.array(steps)[30:, 0, 1] - pts[0, 1] - path[30:]).max() < 0.3 * 12.0  # close behind


def test_smoothing_snaps_on_a_jump_and_keeps_the_face_shape():
    pts = np.random.default_rng(2).uniform(100, 200, (478, 2))
    f = AdaptivePoints(pts.copy(), snap=0.04)
    f.predict()
    out = f.update(pts + 50.0)  # a cut or a very fast move: half the face size
    np.testing.assert_allclose(out, pts + 50.0, atol=1.5)  # within 3% of the jump at once


def test_nofilter_passes_through():
    pts = np.ones((5, 2))
    f = NoFilter(pts)
    f.predict()
    np.testing.assert_array_equal(f.update(pts * 3), pts * 3)


@pytest.mark.parametrize("a,b,expected", [
    ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
    ([0, 0, 10, 10], [5, 0, 15, 10], 1 / 3),
    ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),
])
def test_iou(a, b, expected):
    assert iou(np.array([a], float), np.array([b], float))[0, 0] == pytest.approx(expected)


def test_greedy_match_uses_each_once():
    scores = np.array([[0.9, 0.8], [0.85, 0.1]])
    assert greedy_match(scores, 0.2) == [(0, 0)]
    assert sorted(greedy_match(scores, 0.05)) == [(0, 0), (1, 1)]
    assert greedy_match(np.array([[0.1]]), 0.2) == []


def test_box_path_moves_its_box_without_flipping_or_shrinking():
    """A face that shrank between two detections is extrapolated as a moving box of its last size."""
    from streamanon.faces.track import BoxPath

    path = BoxPath(np.array([[100, 100], [140, 140]], np.float32), horizon=8)
    for _ in range(4):
        path.predict()
    path.update(np.array([[104, 100], [124, 120]], np.float32))  # centre +(-6, -10), size 40 -> 20
    for _ in range(11):
        p = path.predict()
        assert np.allclose(p[1] - p[0], [20, 20])  # never flips, never shrinks further
    assert p[0, 0] < 104 and p[0, 1] < 100  # it moved on the way it came


def test_half_resolution_run_leaves_small_faces_to_the_full_runs(monkeypatch):
    """Found on the street clip: at half size two neighbouring 20 px faces came out as one box, which moved one
    face's track onto its neighbour; the face was bare for some frames. Small faces (region under HALF_MIN) are
    now measured by the full runs only."""
    from streamanon.faces.analyze import HALF_MIN, AnalyzerSettings, FaceAnalyzer

    an = FaceAnalyzer(AnalyzerSettings(detect_every=8))
    faces = {"a": [560.0, 345.0, 575.0, 365.0], "b": [590.0, 352.0, 605.0, 372.0]}
    merged = [560.0, 343.0, 605.0, 375.0]  # what a half-size run sees: one box over both
    assert (merged[3] - merged[1]) * 1.35 < HALF_MIN

    def detect(rgb, threshold=None, max_side=None):
        boxes = [merged] if max_side and max_side < 1280 else list(faces.values())
        return np.array(boxes, np.float32), np.full(len(boxes), 0.6, np.float32)

    monkeypatch.setattr(an.detector, "detect", detect)
    rgb = np.zeros((720, 1280, 3), np.uint8)
    an.analyze(rgb)
    start = {t.id: t.box().copy() for t in an.tracks}
    assert len(start) == 2
    for _ in range(6):  # the half-size run comes midway
        an.analyze(rgb)
    for t in an.tracks:
        assert np.abs(t.box() - start[t.id]).max() < 2, (t.id, t.box(), start[t.id])


def test_a_small_face_whose_track_jumps_to_a_neighbour_stays_covered(monkeypatch):
    """Found on the classroom clip: the half-size run dropped a girl's 34 px face, and her track was matched by
    closeness to her bigger neighbour's detection 1.8 face sizes away; she was bare for three frames. A track
    matched to a box it does not overlap leaves a coasting cover where it was."""
    from streamanon.faces.analyze import HALF_MIN, AnalyzerSettings, FaceAnalyzer

    an = FaceAnalyzer(AnalyzerSettings(detect_every=8))
    girl = [600.0, 300.0, 622.0, 334.0]  # region about 47 px tall: left to the full runs
    neighbour = [650.0, 296.0, 680.0, 336.0]  # region about 54 px: seen by the half-size run
    assert (girl[3] - girl[1]) * 1.35 < HALF_MIN <= (neighbour[3] - neighbour[1]) * 1.35

    def detect(rgb, threshold=None, max_side=None):
        f = an._frame - 1
        # frame 0: only the girl (her neighbour enters later); afterwards the girl is not found again
        boxes = [girl] if f == 0 else [neighbour]
        return np.array(boxes, np.float32), np.full(len(boxes), 0.6, np.float32)

    monkeypatch.setattr(an.detector, "detect", detect)
    rgb = np.zeros((720, 1280, 3), np.uint8)
    centre = np.array([(girl[0] + girl[2]) / 2, (girl[1] + girl[3]) / 2])
    for f in range(12):
        faces = an.analyze(rgb)
        covered = [b for b in faces.boxes if b[0] <= centre[0] <= b[2] and b[1] <= centre[1] <= b[3]]
        assert covered, f"frame {f}: the girl is bare"
        assert all(b[2] - b[0] < 1.6 * 1.3 * (girl[2] - girl[0]) for b in covered)  # no large rectangle


def test_a_face_that_comes_into_view_next_to_a_lost_one_is_covered_before_its_detection(monkeypatch):
    """Found on the street clip: a small face came into view just after a detector run, while its neighbour
    turned away; the next run's detection of it went to the neighbour's track (closeness), so it was not a new
    track and got no backfill, and it was bare until then. A track that jumps to a detection it does not overlap
    also covers that detection on the frames since its last measurement."""
    from streamanon.faces.analyze import AnalyzerSettings, FaceAnalyzer
    from streamanon.faces.lookahead import Lookahead

    an = FaceAnalyzer(AnalyzerSettings(detect_every=8))
    old = [600.0, 300.0, 622.0, 334.0]  # found at frame 0, then turned away
    new = [645.0, 302.0, 667.0, 336.0]  # in view from frame 3, first found by the run at frame 8

    def detect(rgb, threshold=None, max_side=None):
        boxes = [old] if an._frame - 1 < 8 else [new]
        if max_side and max_side < 1280:  # the half-size run sees neither (small faces)
            boxes = []
        return np.array(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), 0.6, np.float32)

    monkeypatch.setattr(an.detector, "detect", detect)
    la = Lookahead(16)
    rgb = np.zeros((720, 1280, 3), np.uint8)
    held = []
    for f in range(20):  # detector runs at frames 0, 8 and 16
        faces = an.analyze(rgb)
        held += la.push(f, faces, an.measured, priors=an.priors, jumped=an.jumped)
    held += la.flush()
    centre = np.array([(new[0] + new[2]) / 2, (new[1] + new[3]) / 2])
    assert [h.item for h in held] == list(range(20))
    for h in held[3:]:
        covered = [b for b in h.faces.boxes if b[0] <= centre[0] <= b[2] and b[1] <= centre[1] <= b[3]]
        assert covered, f"frame {h.item}: the new face is bare"


def test_a_weak_detection_far_away_does_not_confirm_another(monkeypatch):
    """Found on the street clip: a weak detection confirmed one 2.2 face sizes away, 4 frames later, because
    the reach was set by an older candidate (8 frames back); the new track's backfill, extrapolated from that
    false pair, swept a cover across the frame. Each candidate now reaches only as far as a face moves."""
    from streamanon.faces.analyze import AnalyzerSettings, FaceAnalyzer

    an = FaceAnalyzer(AnalyzerSettings(detect_every=8))
    weak = {0: [[100.0, 100.0, 150.0, 160.0]],  # seen once, never again: an old candidate
            4: [[1000.0, 340.0, 1050.0, 400.0], [300.0, 400.0, 350.0, 460.0]],  # the half-size run
            8: [[1190.0, 400.0, 1240.0, 460.0], [310.0, 404.0, 360.0, 464.0]]}  # 2.2 sizes off; 0.2 off

    def detect(rgb, threshold=None, max_side=None):
        boxes = weak.get(an._frame - 1, [])
        return np.array(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), 0.15, np.float32)

    monkeypatch.setattr(an.detector, "detect", detect)
    rgb = np.zeros((720, 1280, 3), np.uint8)
    started = {}
    for f in range(9):
        an.analyze(rgb)
        started.update({t: (f, prior) for t, prior in an.priors.items()})
    # only the near pair starts a face, from its sighting 4 frames before
    assert len(started) == 1, started
    (f, (ago, box)), = started.values()
    assert f == 8 and ago == 4 and box[0] < 400



def test_a_face_in_mid_swing_is_never_read_as_still():
    pts = np.random.default_rng(5).uniform(100, 300, (478, 2))
    f = AdaptivePoints(pts.copy())
    for y in (0.0, 8.0, 16.0, 8.0, 0.0, -8.0):  # up, then back down through the middle at 8 px a frame
        f.predict()
        f.update(pts + [0.0, y])
    assert np.abs(f.velocity[:, 1]).min() >= 7.9  # what mesh skipping reads: the last step, not the lagging mean
    assert np.abs(f.v[:, 1]).max() < 7.9  # (the smoothed motion alone still lags behind the swing)


def test_a_box_track_moves_with_the_camera_and_keeps_its_own_velocity():
    """A still face in a pan: predicted with the camera's motion, and measured still (no velocity of its own)."""
    from streamanon.faces.track import BoxPath

    f = BoxPath(np.array([[100.0, 100.0], [120.0, 124.0]]), horizon=8)
    for _ in range(4):
        f.predict()
        f.shift(np.array([3.0, -1.0]))
    np.testing.assert_allclose(f.points, [[112, 96], [132, 120]])
    f.update(np.array([[112.0, 96.0], [132.0, 120.0]]))
    np.testing.assert_allclose(f.velocity, [0.0, 0.0], atol=1e-9)
    f.predict()
    np.testing.assert_allclose(f.points, [[112, 96], [132, 120]])


def test_camera_motion_reads_a_pan_and_nothing_on_a_still_or_cut_frame():
    import cv2

    from streamanon.faces.motion import CameraMotion

    rng = np.random.default_rng(0)
    scene = cv2.GaussianBlur(rng.integers(0, 255, (800, 1400, 3), np.uint8), (0, 0), 2.0)
    cm = CameraMotion()
    assert not cm.step(scene[:720, :1280]).any()  # the first frame: nothing to compare with
    assert not cm.step(scene[:720, :1280]).any()  # a still camera
    shift = cm.step(scene[3:723, 8:1288])  # the window moved right and down: the scene moved left and up
    np.testing.assert_allclose(shift, [-8, -3], atol=1.0)
    other = cv2.GaussianBlur(rng.integers(0, 255, (720, 1280, 3), np.uint8), (0, 0), 2.0)
    assert not cm.step(other).any()  # a cut


def test_a_mouth_that_opens_on_a_still_face_is_open_on_that_frame(monkeypatch):
    """Found on retalk_1: while the man talked, the mesh was skipped on every other frame of his still head
    (``mesh_every`` 2) and his predicted mouth stayed shut on the frame it opened (opening 0.013 against 0.135),
    then jumped; the new face's mouth lagged his speech. A face of EXPRESSIVE_MIN px or more is meshed on every
    frame."""
    from streamanon.faces import landmarks as L
    from streamanon.faces.analyze import FaceAnalyzer
    from streamanon.faces.shape import ShapeModel
    from streamanon.models.engine import ENGINES_DIR

    face = ShapeModel.load(ENGINES_DIR / "shape_model.npz").mean.reshape(-1, 2) * 300.0 + 200.0
    jaw = face[:, 1] > face[14, 1] - 1  # the lower lip, the chin and the jaw below the mouth's middle
    an = FaceAnalyzer()
    box = np.r_[face.min(0), face.max(0)].astype(np.float32)
    monkeypatch.setattr(an.detector, "detect", lambda rgb, threshold=None, max_side=None: (
        box[None].copy(), np.array([0.9], np.float32)))
    frame = {"n": 0}

    def estimate(self, rgb, center, size, angle_deg=0.0):
        pts = face.copy()
        if frame["n"] >= 6:
            pts[jaw, 1] += 20.0  # the mouth opens
        return pts.astype(np.float32)

    monkeypatch.setattr(L.MeshEstimator, "estimate", estimate)
    rgb = np.zeros((720, 1280, 3), np.uint8)
    for n in range(8):
        frame["n"] = n
        faces = an.analyze(rgb)
        lip = faces.landmarks[0][14, 1] - face[14, 1]
        assert (lip < 1.0) if n < 6 else (lip > 12.0), (n, lip)


@pytest.mark.parametrize("held, meshed, half_run", [(16, True, False), (0, True, True), (16, False, True)])
def test_frames_held_for_backfill_spare_the_half_run_when_meshes_follow_every_face(monkeypatch, held, meshed,
                                                                                   half_run):
    """File mode holds 2k frames to cover a new face back to its first frames, so the half-resolution run midway
    between two full runs is made only for a face no mesh follows (a box track of HALF_MIN px or more); live
    mode and numpy frames hold nothing and keep it."""
    from streamanon.faces import landmarks as L
    from streamanon.faces.analyze import AnalyzerSettings, FaceAnalyzer
    from streamanon.faces.shape import ShapeModel
    from streamanon.models.engine import ENGINES_DIR

    face = ShapeModel.load(ENGINES_DIR / "shape_model.npz").mean.reshape(-1, 2) * 300.0 + 200.0
    an = FaceAnalyzer(AnalyzerSettings(detect_every=8))
    an.held = held
    box = np.r_[face.min(0), face.max(0)].astype(np.float32)
    runs = []

    def detect(rgb, threshold=None, max_side=None):
        runs.append((an._frame, max_side))
        return box[None].copy(), np.array([0.9], np.float32)

    monkeypatch.setattr(an.detector, "detect", detect)
    monkeypatch.setattr(L.MeshEstimator, "estimate",
                        lambda self, rgb, center, size, angle_deg=0.0: face.astype(np.float32) if meshed else None)
    for _ in range(10):
        an.analyze(np.zeros((720, 1280, 3), np.uint8))
    assert [f for f, _ in runs] == ([1, 5, 9] if half_run else [1, 9])
    assert len(an.tracks) == 1

