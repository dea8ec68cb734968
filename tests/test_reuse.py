"""A track's full render moved onto the frames between (streamanon.photometric.reuse)."""

import cv2
import numpy as np
import pytest

from streamanon.faces.landmarks import FACE_OVAL
from streamanon.faces.shape import ShapeModel
from streamanon.generate import FaceGenerator, GenerateSettings
from streamanon.models.engine import ENGINES_DIR
from streamanon.photometric import reuse as R
from streamanon.photometric import stages as S
from streamanon.photometric.features import mouth_arcs
from streamanon.types import Faces

needs_texture = pytest.mark.skipif(not (ENGINES_DIR / "texture_model.npz").exists(), reason="no texture model")


def _shifted(rgb: np.ndarray, faces: Faces, dx: int, dy: int) -> tuple[np.ndarray, Faces]:
    """The frame and its faces moved by (dx, dy) pixels (the face walked)."""
    moved = np.roll(rgb, (dy, dx), axis=(0, 1))
    lm = faces.landmarks.copy()
    lm[..., 0] += dx
    lm[..., 1] += dy
    return moved, Faces(faces.boxes + np.array([dx, dy, dx, dy], np.float32), lm, faces.track_ids, faces.coasting,
                        faces.scores)


def _oval(shape: tuple[int, int], landmarks: np.ndarray) -> np.ndarray:
    inside = np.zeros(shape, np.uint8)
    cv2.fillPoly(inside, [np.round(landmarks[FACE_OVAL, :2]).astype(np.int32)], 1)
    return inside.astype(bool)


def test_the_warp_grid_is_exact_for_an_affine_move_and_follows_a_point_that_moves_on_its_own():
    rng = np.random.default_rng(0)
    new = rng.uniform(20, 180, (478, 2))
    a = np.array([[1.05, 0.03], [-0.02, 0.97]])
    old = new @ a.T + np.array([4.0, -3.0])
    grid = R.backward_grid(new, old, (200, 200))
    centres = R.cell_centres((200, 200), R.grid_shape((200, 200)))
    assert np.allclose(grid, centres @ a.T + np.array([4.0, -3.0]), atol=1e-3)
    # the whole-region map from the coarse grid is the same affine map at every pixel
    layer = R.KeyLayer(0, (0, 0, 200, 200), rng.integers(0, 255, (200, 200, 3), dtype=np.uint8),
                       np.ones((200, 200), np.float32))
    out, alpha = R.warp_layer(layer, R.full_map(grid, (200, 200)))
    m = np.c_[a, [4.0, -3.0]].astype(np.float32)
    ys, xs = np.mgrid[0:200, 0:200].astype(np.float32)
    want = cv2.remap(layer.output, m[0, 0] * xs + m[0, 1] * ys + m[0, 2], m[1, 0] * xs + m[1, 1] * ys + m[1, 2],
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    assert np.abs(out[20:180, 20:180].astype(int) - want[20:180, 20:180]).max() <= 1
    # one point (a lip) moving by itself: the grid moves with it there and hardly far from it
    old2 = old.copy()
    old2[13] += (0.0, 6.0)
    moved = R.backward_grid(new, old2, (200, 200)) - grid
    cell = np.round((new[13] + 0.5) / R.STEP - 0.5).astype(int)
    assert moved[cell[1], cell[0], 1] == pytest.approx(6.0, abs=0.5)
    far = np.linalg.norm(centres - new[13], axis=-1) > 60
    assert np.abs(moved[far]).max() < 1.0


def test_a_cover_that_does_not_hold_the_new_outline_is_refused():
    pts = np.array([[50, 50], [150, 50], [150, 150], [50, 150]], np.float64)
    cover = np.zeros((200, 200), bool)
    cover[40:160, 40:160] = True
    where = R.full_map(R.backward_grid(np.tile(pts, (120, 1)), np.tile(pts, (120, 1)), (200, 200)), (200, 200))
    assert R.covers(where, cover, [pts])
    assert not R.covers(where, cover, [pts + 12.0])  # the face left the cover, by a few pixels


@needs_texture
def test_frames_between_full_renders_move_the_key_frames_face_onto_the_new_pose(frame_and_faces):
    rgb, faces = frame_and_faces
    gen = FaceGenerator(GenerateSettings(render_every=2))
    first = rgb.copy()
    assert gen.apply(first, faces) == 0
    moved_rgb, moved_faces = _shifted(rgb, faces, 3, 2)
    second = moved_rgb.copy()
    assert gen.apply(second, moved_faces) == 0
    assert gen.renderer.reused == 1
    oval = _oval(rgb.shape[:2], moved_faces.landmarks[0])
    # the face is the key frame's, moved along: not the original's
    expected = np.roll(first, (2, 3), axis=(0, 1))
    assert np.abs(second[oval].astype(int) - expected[oval]).mean() < 2.0
    changed = np.abs(second.astype(int) - moved_rgb).max(-1)[oval]
    assert (changed > 2).mean() > 0.9
    # the third frame is rendered in full again
    third = moved_rgb.copy()
    gen.apply(third, moved_faces)
    assert gen.renderer.reused == 1 and gen.stage_ms()["reuse"] > 0
    # render_every=1: every frame in full
    full = FaceGenerator(GenerateSettings(render_every=1))
    full.apply(rgb.copy(), faces)
    full.apply(moved_rgb.copy(), moved_faces)
    assert full.renderer.reused == 0


@needs_texture
def test_a_large_move_a_scene_cut_or_the_kept_hair_render_in_full(frame_and_faces):
    rgb, faces = frame_and_faces
    size = float(np.ptp(faces.landmarks[0, :, :2], axis=0).max())
    gen = FaceGenerator(GenerateSettings())
    gen.apply(rgb.copy(), faces)
    gen.apply(*_shifted(rgb, faces, int(0.2 * size), 0))  # a fifth of the face in one frame
    assert gen.renderer.reused == 0
    gen.apply(255 - rgb, faces)  # a scene cut
    assert gen.renderer.reused == 0
    hair = FaceGenerator(GenerateSettings(hair=True))
    hair.apply(rgb.copy(), faces)
    hair.apply(rgb.copy(), faces)
    assert hair.renderer.reused == 0
    with pytest.raises(ValueError, match="--render-every"):
        GenerateSettings(render_every=0)


@needs_texture
def test_a_face_whose_key_frame_failed_is_covered_and_the_next_frame_is_rendered_in_full(frame_and_faces,
                                                                                       monkeypatch):
    rgb, faces = frame_and_faces
    gen = FaceGenerator(GenerateSettings())
    real, calls = S.refine, []

    def fails_once(*args):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("refine broke")
        real(*args)

    monkeypatch.setattr(S, "refine", fails_once)
    assert gen.apply(rgb.copy(), faces) == 1  # blurred, counted
    assert gen.apply(rgb.copy(), faces) == 0 and gen.renderer.reused == 0  # not a reuse of a face never drawn
    # a reuse whose key layer went missing (prepared on one thread, finished on another) is blurred
    plan = gen.prepare(rgb.copy(), faces)
    assert isinstance(plan.patches[0][1], R.Reuse)
    gen.renderer.layers.clear()
    out = rgb.copy()
    assert gen.finish(out, plan) == 1
    oval = _oval(rgb.shape[:2], faces.landmarks[0])
    assert (np.abs(out.astype(int) - rgb).max(-1)[oval] > 2).mean() > 0.8


def test_an_opening_mouth_is_rendered_in_full_not_stretched():
    mean = ShapeModel.load(ENGINES_DIR / "shape_model.npz").mean.reshape(-1, 2)
    old = (mean - mean.min(0)) / np.ptp(mean, axis=0).max() * 200.0  # a face 200 px tall
    assert R.moved_little(old + 3.0, old, 200.0, 200.0)  # the head moved: the mouth with it
    opened = old.copy()
    opened[14, 1] += 0.03 * 200  # the lower lip dropped by 3% of the face
    assert not R.moved_little(opened, old, 200.0, 200.0)
    upper, lower = mouth_arcs()
    parted = old.copy()
    parted[lower, 1] += 0.01 * 200  # the whole inner lower lip: only 2 px, but the mouth opens
    assert R.mouth_gap(parted) != R.mouth_gap(old)
    assert not R.moved_little(parted, old, 200.0, 200.0)


@needs_texture
def test_images_in_a_folder_are_each_rendered_in_full(tmp_path, frame_and_faces):
    from streamanon.api import Options, anonymize_images
    from streamanon.media.images import write_image

    rgb, _ = frame_and_faces
    (tmp_path / "in").mkdir()
    for name in ("a.png", "b.png"):  # the same photo twice: the same place, the same pose
        write_image(tmp_path / "in" / name, rgb)
    stats = anonymize_images(tmp_path / "in", tmp_path / "out", Options())
    assert stats.frames == 2 and stats.reused_faces == 0
    assert stats.face_stage_ms["render"] > 0
