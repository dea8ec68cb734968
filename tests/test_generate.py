"""The generated-face method: per-track identities, paste into the face box only, fail closed, no re-ID."""

import numpy as np
import pytest

from streamanon.generate import CROP, FaceGenerator, GenerateSettings
from streamanon.models.engine import ENGINES_DIR
from streamanon.models.layout import IN_CHANNELS

skimage_data = pytest.importorskip("skimage.data")


class GreyEngine:
    """Stands in for the generator: a flat grey face (output 0 in [-1, 1]) inside the input mask."""

    name = "grey"

    def __init__(self):
        self.calls: list[tuple[int, ...]] = []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.calls.append(x.shape)
        mask = x[:, 3:4]
        return x[:, :3] * (1 - mask)


class FailingEngine:
    name = "failing"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        raise RuntimeError("engine crashed")


def test_one_batched_call_and_the_paste_stays_in_the_face_box(frame_and_faces):
    rgb, faces = frame_and_faces
    engine = GreyEngine()
    gen = FaceGenerator(GenerateSettings(variant="dense"), engine=engine)
    out = rgb.copy()
    assert gen.apply(out, faces) == 0
    assert engine.calls == [(len(faces), IN_CHANNELS, CROP, CROP)]
    changed = np.abs(out.astype(int) - rgb).max(-1) > 2
    ys, xs = np.nonzero(changed)
    box = faces.boxes[0]
    size = max(box[2] - box[0], box[3] - box[1])
    assert xs.min() >= box[0] - 0.6 * size and xs.max() <= box[2] + 0.6 * size
    assert ys.min() >= box[1] - 0.8 * size and ys.max() <= box[3] + 0.6 * size
    # the face's centre is now the generator's (grey) output, not the original
    cy, cx = int((box[1] + box[3]) / 2), int((box[0] + box[2]) / 2)
    assert np.abs(out[cy - 5:cy + 5, cx - 5:cx + 5].astype(int) - 127).max() <= 3


def test_a_failing_engine_falls_back_to_a_solid_fill(frame_and_faces):
    rgb, faces = frame_and_faces
    gen = FaceGenerator(GenerateSettings(variant="dense"), engine=FailingEngine())
    out = rgb.copy()
    assert gen.apply(out, faces) == len(faces)
    box = faces.boxes[0].astype(int)
    face = out[box[1]:box[3], box[0]:box[2]]
    assert face.std(axis=(0, 1)).max() < 1.0  # one flat colour: nothing of the face is left


def test_each_track_keeps_one_identity_drawn_from_the_seed(frame_and_faces):
    rgb, faces = frame_and_faces
    lm = faces.landmarks[0]
    a = FaceGenerator(GenerateSettings(variant="dense", seed=1), engine=GreyEngine())
    b = FaceGenerator(GenerateSettings(variant="dense", seed=2), engine=GreyEngine())
    x1, _, _ = a.onnx_input(rgb, lm, 7)
    x2, _, _ = a.onnx_input(rgb, lm, 7)
    x3, _, _ = a.onnx_input(rgb, lm, 8)
    x4, _, _ = b.onnx_input(rgb, lm, 7)
    assert np.array_equal(x1, x2)  # same track, same synthetic person and noise
    assert not np.array_equal(x1[4:], x3[4:])  # another track: another person
    assert not np.array_equal(x1[4:], x4[4:])  # another seed: another person
    plain = FaceGenerator(GenerateSettings(variant="dense", swap=False), engine=GreyEngine()).onnx_input(rgb, lm, 7)[0]
    assert not np.array_equal(plain[4:9], x1[4:9])  # the swap changed the sketch


@pytest.mark.skipif(not (ENGINES_DIR / "generator.onnx").exists(), reason="no generator engine in engines/")
def test_generate_cli_changes_the_identity_and_keeps_a_face(cli, tmp_path):
    pytest.importorskip("dlib")
    from streamanon.media.images import read_image
    from streamanon.metrics.judges import Judges

    src = ENGINES_DIR.parent / "samples" / "astronaut.jpg"
    dst = tmp_path / "out.jpg"
    r = cli(src, dst, "--method", "generate")
    assert r.returncode == 0, r.stderr
    judges = Judges()
    original, anonymized = read_image(src), read_image(dst)
    box = judges.detect(original)[0]
    found = judges.detect(anonymized)
    assert len(found) == 1  # still a face, where the face was
    distance = np.linalg.norm(judges.descriptor(original, box) - judges.descriptor(anonymized, found[0]))
    assert distance > 0.6, f"re-identified: dlib distance {distance:.3f} < 0.6"
    assert judges.mesh(anonymized, found[0]) is not None


def test_the_new_geometry_keeps_the_mouth_as_open_as_the_original_across_identities(frame_and_faces):
    """How far the mouth is open is expression: every pair of facing inner-lip points of the new geometry is
    apart as in the original, for any sampled identity (a closed mouth's arcs no longer cross at its corners)."""
    from streamanon.faces.align import align_matrix, transform
    from streamanon.photometric.features import mouth_arcs

    rgb, faces = frame_and_faces
    gen = FaceGenerator(GenerateSettings(variant="mesh", refine=False))
    upper, lower = mouth_arcs()
    for track in range(6):
        _, target, _ = gen.new_geometry(faces.landmarks[0], track)
        own = transform(faces.landmarks[0][:, :2], align_matrix(faces.landmarks[0], CROP))
        assert np.allclose(target[lower] - target[upper], own[lower] - own[upper], atol=1e-3)
        assert not np.allclose(target, own, atol=0.5)  # the rest of the face did change


def test_the_new_eyes_look_where_the_original_looks(frame_and_faces):
    """The identity swap reshapes the lids; the irises keep their place in the eye (along it and across it, as
    shares of its width and height) for any sampled identity: a man looking into the camera had come out
    looking aside."""
    from streamanon.faces.align import align_matrix, transform
    from streamanon.photometric.features import eye_frame, eye_indices

    rgb, faces = frame_and_faces
    gen = FaceGenerator(GenerateSettings(variant="mesh", refine=False))
    own = transform(faces.landmarks[0][:, :2], align_matrix(faces.landmarks[0], CROP))

    def gaze(points, eye):
        middle, axis, normal, width, height = eye_frame(points, eye.contour)
        d = points[eye.centre] - middle
        return np.array([d @ axis / width, d @ normal / height])

    for track in range(6):
        _, target, _ = gen.new_geometry(faces.landmarks[0], track)
        for eye in eye_indices():
            assert np.allclose(gaze(target, eye), gaze(own, eye), atol=1e-3)
            # the ring moved with its centre: the iris keeps the new identity's size and shape
            ring = target[eye.ring] - target[eye.centre]
            assert np.linalg.norm(ring, axis=1).mean() > 0.5
        assert not np.allclose(target, own, atol=0.5)


def test_a_rounded_mouth_keeps_its_own_shape_where_a_closed_one_takes_the_new_identitys(frame_and_faces):
    """An "o" takes (almost) none of the identity swap's change on the lips: a new mouth shape added to it
    pulled the corners out and up, and the opening became a wide slit with notched corners. A closed mouth
    still takes it."""
    from streamanon.faces.align import align_matrix, transform
    from streamanon.generate import roundness_hold
    from streamanon.photometric.features import lip_polygons

    rgb, faces = frame_and_faces
    gen = FaceGenerator(GenerateSettings(variant="mesh", refine=False))
    closed = faces.landmarks[0].copy()
    upper, lower = lip_polygons()
    lips = np.unique(np.r_[upper, lower])
    rounded = closed.copy()
    centre = closed[lips].mean(0)
    width = float(np.ptp(closed[lips, 0]))
    rounded[lips, 0] = centre[0] + 0.6 * (closed[lips, 0] - centre[0])  # narrower
    below = np.unique(np.r_[lower, [14, 87, 178, 88, 95, 317, 402, 318, 324]])
    rounded[below, 1] += 0.5 * width  # and open
    moved = {}
    for name, shape in (("closed", closed), ("rounded", rounded)):
        own = transform(shape[:, :2], align_matrix(shape, CROP))
        _, target, _ = gen.new_geometry(shape, 0)
        moved[name] = float(np.linalg.norm(target[lips] - own[lips], axis=1).mean())
        hold = roundness_hold(own)
        assert hold == (0.0 if name == "closed" else 1.0)
    assert moved["closed"] > 1.0
    assert moved["rounded"] < 0.5 * moved["closed"]


def test_a_pursed_mouth_keeps_its_own_shape_where_the_persons_usual_one_takes_the_new_identitys(frame_and_faces):
    """A kiss or a small "o" is too little open for the rounded-mouth hold, and the new identity's wider mouth
    added to it drew a wide slit where the person pouted. On a track whose mouth is usually wider, a pursed mouth
    takes (almost) none of the swap's change on the lips; the usual mouth still takes it, and so does a mouth
    that is narrow from the track's first frame (a child's, at rest)."""
    from streamanon.faces.align import align_matrix, transform
    from streamanon.generate import mouth_width, pucker_hold
    from streamanon.photometric.features import lip_polygons

    rgb, faces = frame_and_faces
    usual = faces.landmarks[0].copy()
    upper, lower = lip_polygons()
    lips = np.unique(np.r_[upper, lower])
    pursed = usual.copy()
    centre = usual[lips].mean(0)
    pursed[lips, 0] = centre[0] + 0.45 * (usual[lips, 0] - centre[0])

    def moved(gen: FaceGenerator, shape: np.ndarray, track: int) -> float:
        own = transform(shape[:, :2], align_matrix(shape, CROP))
        _, target, _ = gen.new_geometry(shape, track)
        return float(np.linalg.norm(target[lips] - own[lips], axis=1).mean())

    gen = FaceGenerator(GenerateSettings(variant="mesh", refine=False))
    for _ in range(5):
        moved(gen, usual, 0)
    usual_move, pursed_move = moved(gen, usual, 0), moved(gen, pursed, 0)
    assert usual_move > 1.0
    assert pursed_move < 0.5 * usual_move
    fresh = moved(FaceGenerator(GenerateSettings(variant="mesh", refine=False)), pursed, 0)
    assert fresh > 2 * pursed_move  # no usual width to read it against: swapped as any mouth
    width = mouth_width(transform(pursed[:, :2], align_matrix(pursed, CROP)))
    assert pucker_hold(width, width) == 0.0 and pucker_hold(width, width / 0.6) == 1.0
