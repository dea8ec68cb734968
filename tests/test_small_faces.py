"""The small-face leak judge: MTCNN and CenterFace on the shipped sample; the untouched / partly covered rule on
synthetic pairs whose answer is known."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from streamanon.media.images import read_image
from streamanon.metrics import small_faces as S
from streamanon.metrics import untouched as U
from streamanon.metrics.leak_judge import judge_frame, judge_images

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "astronaut.jpg"
BOX = np.array([60.0, 50.0, 140.0, 150.0])  # the synthetic face: 80 x 100 px


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    """A 200 x 200 RGB scene with a face-like patch (skin ellipse, eyes, mouth, fine texture) in ``BOX``."""
    rng = np.random.default_rng(0)
    img = np.full((200, 200, 3), 90, np.uint8)
    img += rng.integers(0, 40, (200, 200, 1), dtype=np.uint8)
    cv2.ellipse(img, (100, 100), (40, 50), 0, 0, 360, (200, 160, 130), -1)
    for x in (85, 115):
        cv2.circle(img, (x, 88), 6, (40, 30, 30), -1)
    cv2.ellipse(img, (100, 125), (14, 5), 0, 0, 360, (150, 60, 60), -1)
    skin = rng.normal(0, 10, (200, 200, 1))
    return np.clip(img + skin, 0, 255).astype(np.uint8)


def blurred(img: np.ndarray, x0: int, x1: int) -> np.ndarray:
    out = img.copy()
    out[40:160, x0:x1] = cv2.GaussianBlur(img, (0, 0), 8)[40:160, x0:x1]
    return out


def filled(img: np.ndarray, x0: int, x1: int) -> np.ndarray:
    out = img.copy()
    out[40:160, x0:x1] = (128, 128, 128)
    return out


@pytest.mark.parametrize("name, make, untouched, partly", [
    ("identical", lambda f: f.copy(), True, False),
    ("codec-like noise", lambda f: np.clip(f + np.random.default_rng(1).normal(0, 2, f.shape), 0, 255)
     .astype(np.uint8), True, False),
    ("brightness +5", lambda f: np.clip(f.astype(int) + 5, 0, 255).astype(np.uint8), True, False),
    ("blurred", lambda f: blurred(f, 50, 150), False, False),
    ("solid mask", lambda f: filled(f, 50, 150), False, False),
    ("left half blurred", lambda f: blurred(f, 50, 100), False, True),
    ("left half masked", lambda f: filled(f, 50, 100), False, True),
])
def test_untouched_rule(face, name, make, untouched, partly):
    c = U.face_change(face, make(face), BOX)
    assert c.untouched is untouched, (name, c)
    assert c.partly_covered is partly, (name, c)


def test_rule_numbers(face):
    same = U.face_change(face, face, BOX)
    assert same.mean_change == 0 and same.detail_corr == pytest.approx(1) and same.changed_share == 0
    blur = U.face_change(face, blurred(face, 0, 200), BOX)
    assert blur.mean_change < 8 or blur.detail_corr < 0.8
    assert blur.changed_share >= 0.9


def test_inner_box_and_correlation():
    np.testing.assert_allclose(U.inner_box(np.array([0, 0, 100, 50])), [20, 10, 80, 40])
    a = np.arange(25.0).reshape(5, 5)
    assert U.correlation(a, 2 * a + 3) == pytest.approx(1)
    assert U.correlation(a, -a) == pytest.approx(-1)
    assert U.correlation(np.zeros(4), np.zeros(4)) == 1.0
    assert U.correlation(np.zeros(4), a[:2, :2]) == 0.0


def test_sizes_must_match(face):
    with pytest.raises(ValueError, match="sizes differ"):
        U.face_change(face, face[:100], BOX)


def test_side_by_side(face):
    tile = U.side_by_side(face, blurred(face, 0, 200), BOX, size=64)
    assert tile.shape == (64, 132, 3) and tile.dtype == np.uint8


@pytest.mark.parametrize("boxes, scores, iou_max, by_min, kept", [
    ([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], [0.9, 0.8, 0.7], 0.5, False, [0, 2]),
    ([[0, 0, 10, 10], [1, 1, 11, 11]], [0.5, 0.8], 0.5, False, [1]),
    ([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.8], 0.5, False, [0, 1]),  # IoU 1/3
    ([[0, 0, 20, 20], [2, 2, 8, 8]], [0.9, 0.8], 0.7, True, [0]),  # inside: min-overlap 1
    ([[0, 0, 20, 20], [2, 2, 8, 8]], [0.9, 0.8], 0.7, False, [0, 1]),  # IoU 0.09
])
def test_nms(boxes, scores, iou_max, by_min, kept):
    assert S.nms(np.array(boxes, float), np.array(scores), iou_max, by_min).tolist() == kept


def test_square_and_regress():
    np.testing.assert_allclose(S.square(np.array([[0.0, 0, 10, 20]])), [[-5, 0, 15, 20]])
    np.testing.assert_allclose(S.regress(np.array([[0.0, 0, 10, 20]]), np.array([[0.1, 0.1, -0.1, 0.0]])),
                               [[1, 2, 9, 20]])


def test_merge_unions_detectors():
    a = (np.array([[0, 0, 30, 30], [100, 100, 110, 110.0]]), np.array([0.99, 0.95]))  # 2nd: 10 px, dropped
    b = (np.array([[2, 1, 31, 32], [50, 50, 80, 80.0]]), np.array([0.8, 0.7]))
    m = S.merge([a, b], min_height=20)
    assert len(m) == 2
    np.testing.assert_allclose(m.boxes[0], [0, 0, 30, 30])  # the higher score's box
    assert m.found_by.tolist() == [[True, True], [False, True]]
    assert len(m[m.found_by[:, 0]]) == 1
    assert len(S.merge([(np.zeros((0, 4)), np.zeros(0))] * 2)) == 0


def test_decode_centerface():
    heat = np.zeros((8, 8), np.float32)
    heat[3, 5] = 0.9
    heat[6, 1] = 0.3  # under the threshold
    scale = np.zeros((2, 8, 8), np.float32)
    scale[:, 3, 5] = np.log([6.0, 4.0])  # height 24 px, width 16 px
    offset = np.zeros((2, 8, 8), np.float32)
    boxes, scores = S.decode_centerface(heat, scale, offset, (32, 32), S.CenterFaceSettings())
    np.testing.assert_allclose(boxes, [[14, 2, 30, 26]])
    np.testing.assert_allclose(scores, [0.9], rtol=1e-6)


def test_counts():
    counts = U.UntouchedCounts(S.DETECTORS)
    bare, covered, half = U.FaceChange(1, 0.99, 0.0), U.FaceChange(30, 0.1, 1.0), U.FaceChange(20, 0.5, 0.5)
    counts.add([bare, covered, half], np.array([[True, True], [True, False], [False, True]]))
    assert (counts.faces, counts.untouched, counts.partly_covered) == (3, 1, 1)
    assert counts.by_detector["mtcnn"] == {"faces": 2, "untouched": 1, "partly_covered": 0}
    assert counts.by_detector["centerface"] == {"faces": 2, "untouched": 1, "partly_covered": 1}
    total = U.UntouchedCounts(S.DETECTORS)
    total.merge(counts)
    total.merge(counts)
    assert (total.frames, total.faces, total.untouched) == (2, 6, 2)
    empty = U.UntouchedCounts(S.DETECTORS)  # a frame or image where no judge finds a face (a crowd's far rows)
    empty.add([], np.zeros((0, len(S.DETECTORS)), bool))
    assert (empty.frames, empty.faces, empty.untouched) == (1, 0, 0)
    assert total.to_dict()["untouched_rate"] == pytest.approx(1 / 3)


# --- the detectors on the shipped sample --------------------------------------------------------------------

@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return read_image(SAMPLE)


@pytest.mark.parametrize("detector", [S.MtcnnJudge, S.CenterFaceJudge])
def test_detector_finds_the_astronaut(astronaut, detector):
    boxes, scores = detector(threads=1).detect(astronaut)
    assert len(boxes) == 1, (boxes, scores)
    x0, y0, x1, y1 = boxes[0]
    assert 150 < y1 - y0 < 320 and 120 < x1 - x0 < 300
    assert 600 < (x0 + x1) / 2 < 780 and 250 < (y0 + y1) / 2 < 420
    assert scores[0] > 0.8


def test_judge_small_copies(astronaut):
    """Shrunk copies of the face down to ~22 px tall are each found; a frame with them bare is all untouched,
    the same frame with each face blurred has none untouched."""
    face = astronaut[200:470, 580:800]
    canvas = np.full((360, 640, 3), 60, np.uint8)
    x = 10
    for h in (22, 32, 48, 72, 110):
        w = round(h * face.shape[1] / face.shape[0])
        canvas[100:100 + h, x:x + w] = cv2.resize(face, (w, h), interpolation=cv2.INTER_AREA)
        x += w + 40
    judge = S.SmallFaceJudge(threads=1, min_height=10)
    faces = judge.find(canvas)
    assert len(faces) >= 4
    counts = U.UntouchedCounts(S.DETECTORS)
    judge_frame(judge, canvas, canvas.copy(), counts)
    assert counts.untouched == counts.faces == len(faces)
    covered = canvas.copy()
    for b in faces.boxes.astype(int):
        x0, y0, x1, y1 = b
        covered[y0:y1, x0:x1] = cv2.GaussianBlur(canvas, (0, 0), 6)[y0:y1, x0:x1]
    total, per, records = judge_images([("canvas.png", canvas, covered)], judge)
    assert total.untouched == 0 and total.partly_covered == 0 and per["canvas.png"].faces == len(faces)
    assert all(r["source"] == "canvas.png" for r in records)


def test_sha256_checked(tmp_path):
    from streamanon.models.engine import ModelError

    (tmp_path / "judges").mkdir()
    (tmp_path / "judges" / "pnet.onnx").write_bytes(b"not a model")
    (tmp_path / "manifest.json").write_text('{"judges/pnet.onnx": {"sha256": "00"}}')
    with pytest.raises(ModelError, match="sha256"):
        S.MtcnnJudge(directory=tmp_path)


@pytest.fixture(scope="module")
def dark_face(face) -> np.ndarray:
    """The face in near darkness and out of focus: grey spread about 20 levels, no fine detail of its own."""
    return (cv2.GaussianBlur(face, (0, 0), 2.0) // 6 + 8).astype(np.uint8)


@pytest.mark.parametrize("name, make, untouched, partly", [
    ("codec-like noise", lambda f: np.clip(f + np.random.default_rng(2).normal(0, 1.5, f.shape), 0, 255)
     .astype(np.uint8), True, False),
    ("blurred", lambda f: blurred(f, 50, 150), False, False),
    ("left half masked", lambda f: filled(f, 50, 100), False, True),
])
def test_untouched_rule_on_a_dark_soft_face(dark_face, name, make, untouched, partly):
    """A bare dark face is still seen bare (its fine detail is all noise: the structure term finds it), and a
    blur over all of it counts as covered although it moves its pixels by a few grey levels only."""
    c = U.face_change(dark_face, make(dark_face), BOX)
    assert c.untouched is untouched, (name, c)
    assert c.partly_covered is partly, (name, c)


def test_a_soft_face_blurred_all_over_is_covered_not_partly(face):
    """A soft face (motion blur, a low-resolution camera) has little fine detail to lose; its structure at the
    face's scale is what a blur removes, and the rule counts that."""
    soft = cv2.GaussianBlur(face, (0, 0), 3.0)
    c = U.face_change(soft, blurred(soft, 50, 150), BOX)
    assert not c.untouched and not c.partly_covered, c
    half = U.face_change(soft, filled(soft, 50, 100), BOX)
    assert half.partly_covered, half
