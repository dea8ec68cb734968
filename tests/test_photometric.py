"""The photometric stages of the generated face: UV layout, lighting, colour, grain, temporal, switches,
fail-closed."""

import cv2
import numpy as np
import pytest

from streamanon.faces.shape import ShapeModel
from streamanon.generate import FaceGenerator, GenerateSettings
from streamanon.models.engine import ENGINES_DIR
from streamanon.photometric import stages as S
from streamanon.photometric import uv as U
from streamanon.photometric.colour import MAX_SPREAD_RATIO, LabStats, lab_stats, transfer, typical
from streamanon.photometric.grain import (
    grain_amount,
    grey_laplacian_variance,
    grey_texture_variance,
    noise_texture,
    robust_variance,
)
from streamanon.photometric.relight import FLAT, fit_lighting, plausible_light, shading, soft_floor
from streamanon.photometric.sh import light_direction, linear_to_srgb, sh_basis, srgb_to_linear
from streamanon.photometric.temporal import TemporalStore, ema, steady_points
from streamanon.types import Faces

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def model3d() -> np.ndarray:
    sm = ShapeModel.load(ENGINES_DIR / "shape_model.npz")
    return np.c_[sm.mean.reshape(-1, 2), sm.depth]


def face_points(model3d: np.ndarray, size: float = 300.0, offset: float = 60.0) -> np.ndarray:
    """(478, 2) frame landmarks of the model face, ``size`` px per crop side."""
    return model3d[:, :2] * size + offset


def test_uv_layout_covers_eyes_and_leaves_the_mouth_opening():
    layout = U.default_layout()
    assert ((layout.uv >= 0) & (layout.uv <= 1)).all()
    used = set(np.unique(layout.tris))
    assert {468, 473}.issubset(used)  # iris centres: the gaze is part of the texture
    assert len(layout.mouth) == 20  # the inner lip contour, read from MediaPipe's lips
    a, b, c = (layout.uv[layout.tris[:, k]] for k in range(3))
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    assert (cross > 0).all()  # one winding
    inside_mouth = np.isin(layout.tris, layout.mouth).all(1)
    assert not inside_mouth.any()
    assert 0.4 < layout.skin.mean() < 0.8


def test_the_saved_triangles_are_the_delaunay_triangles_of_the_shipped_mean_shape():
    from scipy.spatial import Delaunay

    pts = U.layout_points(ShapeModel.load(ENGINES_DIR / "shape_model.npz").mean.reshape(-1, 2))
    with np.load(U.TRIANGLES) as saved:
        assert str(saved["key"]) == U._key(pts), "stale table: run uv.save_triangles on the new mean shape"
    assert np.array_equal(U.triangulate(pts), Delaunay(pts).simplices)
    other = pts[:60] * 1.5  # any other points: triangulated afresh
    assert np.array_equal(U.triangulate(other), Delaunay(other).simplices)


def test_lift_gives_normals_facing_the_camera_and_turning_with_the_head(model3d):
    pts = face_points(model3d)
    verts = U.lift(pts, model3d)
    n = U.vertex_normals(verts, U.default_layout().tris)
    assert np.mean(n[:, 2] < 0) > 0.95
    # a yawed head: the nose tip's normal turns sideways
    yaw = np.radians(30)
    rot = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    turned = (model3d - model3d.mean(0)) @ rot.T
    nt = U.vertex_normals(U.lift(turned[:, :2] * 300 + 200, model3d), U.default_layout().tris)
    assert abs(nt[1, 0] - n[1, 0]) > 0.2


def test_colour_transfer_moves_mean_and_spread_to_the_target():
    rng = np.random.default_rng(0)
    pale = np.clip(rng.normal([0.8, 0.7, 0.65], 0.03, (2000, 3)), 0, 1)
    dark = np.clip(rng.normal([0.35, 0.22, 0.15], 0.04, (2000, 3)), 0, 1)
    target = lab_stats(dark)
    moved = lab_stats(transfer(pale, lab_stats(pale), target))
    assert np.allclose(moved.mean, target.mean, atol=1.0)
    assert np.allclose(moved.std, target.std, rtol=0.15, atol=0.3)
    # a much wider spread (hair, beard) is followed only up to MAX_SPREAD_RATIO
    wide = LabStats(target.mean, lab_stats(pale).std * 5)
    capped = lab_stats(transfer(pale, lab_stats(pale), wide))
    assert (capped.std <= lab_stats(pale).std * MAX_SPREAD_RATIO * 1.1).all()
    # pixels far from the median colour (hair over the skin) are not typical
    mixed = np.concatenate([dark, np.full((300, 3), 0.03)])
    assert typical(mixed)[:2000].mean() > 0.95 and not typical(mixed)[2000:].any()


def test_the_skin_colour_leaves_out_a_fringe_and_keeps_the_shaded_side_of_the_face():
    rng = np.random.default_rng(3)
    n = 6000
    uv = np.c_[rng.uniform(0.02, 0.85, n), rng.uniform(0.02, 0.98, n)]
    turn = (uv[:, 0] - 0.44) * 2.4  # the face's sides turn away, up to about 60 deg
    normals = np.c_[np.sin(turn), np.zeros(n), -np.cos(turn)]
    light = np.r_[1 / 0.282095, 0.0, -0.4, 1.6, np.zeros(5)]  # from one side
    albedo = np.array([0.62, 0.40, 0.30])
    skin = linear_to_srgb(albedo * shading(normals, light)[:, None]).round().astype(np.uint8)
    fringe = (uv[:, 1] < 0.3) & (rng.random(n) < 0.8)  # hair over most of the forehead
    colours = skin.copy()
    colours[fringe] = rng.normal([95, 58, 36], 6, (fringe.sum(), 3)).clip(0, 255).astype(np.uint8)
    kept = S.skin_colours(colours, uv, normals, light)
    assert kept[fringe].mean() < 0.05
    shaded = ~fringe & (shading(normals, light) < 0.7)
    assert shaded.sum() > 500 and kept[shaded].mean() > 0.9  # the dark side is skin too
    assert kept[~fringe].mean() > 0.9
    assert typical(colours)[fringe].mean() > 0.2  # (all pixels' own median and spread took some fringe as skin)


def test_a_render_of_a_known_albedo_under_known_light_fits_back_to_that_light(model3d):
    pts = face_points(model3d)
    light = np.r_[1 / 0.282095, 0.35, -0.5, 0.9, np.zeros(5)]  # from the side (+x), a little from above
    albedo = np.full((64, 64, 3), 1.0, np.float32)
    rgb = np.full((500, 500, 3), 90, np.uint8)
    p = S.make_patch(rgb, pts, pts, model3d, 1, albedo, noise_texture(np.random.default_rng(0), 64))
    p.sh = light
    S.render(p, np.array([0.5, 0.35, 0.3], np.float32))
    x0, y0, x1, y1 = p.roi
    rgb[y0:y1, x0:x1][p.covered] = (p.render[p.covered] * 255).round().astype(np.uint8)
    q = S.make_patch(rgb, pts, pts, model3d, 1, albedo, p.noise)
    S.measure(q, S.PhotometricSettings(light_side=400))
    u, v = light_direction(light), light_direction(q.sh)
    angle = np.degrees(np.arccos(u @ v / np.linalg.norm(u) / np.linalg.norm(v)))
    assert angle < 5.0
    flat = S.PhotometricSettings(relight=False)
    S.measure(q, flat)
    assert np.array_equal(q.sh, FLAT)  # --no-relight: uniform light


def test_fit_lighting_is_normalised_and_shading_is_clipped():
    rng = np.random.default_rng(1)
    n = rng.normal(size=(3000, 3))
    n[:, 2] = -np.abs(n[:, 2])
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    true = np.r_[0.8, 0.1, -0.3, 0.2, np.zeros(5)]
    rgb = np.repeat((sh_basis(n) @ true)[:, None], 3, 1) * 0.4
    coeffs = fit_lighting(rgb, n)
    assert sh_basis(n).mean(0) @ coeffs == pytest.approx(1.0, abs=0.03)  # mean over the inliers is 1
    assert shading(n, coeffs * 100).max() <= 2.5
    with pytest.raises(ValueError):
        fit_lighting(rgb[:5], n[:5])


def test_grain_reaches_the_target_detail_level():
    rng = np.random.default_rng(2)
    noise = noise_texture(rng, 256)
    mask = np.ones((256, 256), bool)
    base = np.full((256, 256), 120.0, np.float32)
    target = 50.0
    a = grain_amount(target, grey_laplacian_variance(base, mask), grey_laplacian_variance(noise, mask))
    assert grey_laplacian_variance(base + a * noise, mask) == pytest.approx(target, rel=0.05)
    assert grain_amount(1.0, 5.0, 1.0) == 0.0  # already above: nothing added


def test_skin_texture_level_leaves_edges_out():
    """The grain is matched to the skin's texture, not to its edges: a smooth face with a sharp fold has a large
    plain Laplacian variance but a texture level near 0 (noise matched to the plain variance was several times
    the skin's own texture: sandpaper); for Gaussian noise both agree."""
    rng = np.random.default_rng(4)
    mask = np.ones((128, 128), bool)
    smooth = np.tile(np.linspace(90, 150, 128, dtype=np.float32), (128, 1))
    folded = smooth.copy()
    folded[60:63] -= 60.0  # a fold: a dark line across the skin
    assert grey_laplacian_variance(folded, mask) > 20 * max(grey_texture_variance(folded, mask), 1.0)
    noise = smooth + 4.0 * rng.standard_normal((128, 128)).astype(np.float32)
    assert grey_texture_variance(noise, mask) == pytest.approx(grey_laplacian_variance(noise, mask), rel=0.15)


def test_shading_slivers_are_removed_and_its_form_kept():
    """Edge-on triangles under the nose gave a thin dark sliver in the shading; the median takes it out and
    keeps a broad gradient."""
    h, w = 40, 40
    shade = np.tile(np.linspace(0.5, 1.0, w, dtype=np.float32), (h, 1))
    spiky = shade.copy()
    spiky[20, 5:35] = 0.05  # one row: a sliver
    pixels = np.arange(h * w)
    out = S.despeckle(spiky.ravel(), pixels, (h, w)).reshape(h, w)
    assert out[20, 10:30].min() > 0.45
    assert np.abs(out - shade)[5:35, 5:35].max() < 0.03


def test_eyes_follow_the_new_iris_landmarks_and_an_open_mouth_shows_teeth(model3d):
    from streamanon.photometric.features import draw_eyes, draw_mouth, eye_indices

    pts = face_points(model3d, size=600)
    image = np.full((600, 600, 3), 0.5, np.float32)
    draw_eyes(image, pts, np.array([0.3, 0.2, 0.1], np.float32), 1.0)
    for eye in eye_indices():
        cx, cy = np.round(pts[eye.centre]).astype(int)
        assert image[cy, cx].max() < 0.1  # the pupil sits at the iris landmark
    opened = pts.copy()
    lower = np.array([14, 87, 178, 88, 95, 317, 402, 318, 324, 17, 84, 181, 91, 146, 314, 405, 321, 375])
    opened[lower, 1] += 40  # jaw down: the mouth opens
    mouth = np.full((600, 600, 3), 0.5, np.float32)
    draw_mouth(mouth, opened, 300.0, 1.0)
    x, y = np.round(opened[13] + (0, 5)).astype(int)
    assert mouth[y, x].mean() > 0.4  # upper teeth under the upper lip
    x, y = np.round(opened[13] + (0, 18)).astype(int)
    assert mouth[y, x].max() < 0.3  # dark further in (between the teeth and the tongue)
    x, y = np.round(opened[14] - (0, 3)).astype(int)
    assert mouth[y, x].mean() > 0.4  # wide open: lower teeth above the lower lip
    closed = np.full((600, 600, 3), 0.5, np.float32)
    draw_mouth(closed, pts, 300.0, 1.0)
    assert np.abs(closed - 0.5).max() < 0.5


def test_the_originals_mouth_moved_into_a_wider_opening_has_dark_corners_not_pale_wedges(model3d):
    from streamanon.photometric.features import draw_mouth, mouth_arcs

    pts = face_points(model3d, size=600)
    lower = np.array([14, 87, 178, 88, 95, 317, 402, 318, 324, 17, 84, 181, 91, 146, 314, 405, 321, 375])
    opened = pts.copy()
    opened[lower, 1] += 40
    wider = opened.copy()
    mid = opened[[61, 291], 0].mean()
    wider[:, 0] = mid + 1.3 * (opened[:, 0] - mid)  # the new mouth is wider than the original's
    original = np.full((600, 600, 3), 0.9, np.float32)  # pale inside (teeth, lip corners)
    mouth = np.full((600, 600, 3), 0.5, np.float32)
    draw_mouth(mouth, wider, 300.0, 1.0, source=(original, opened))
    upper, low = mouth_arcs()
    left, right = wider[upper[0], :2], wider[upper[-1], :2]
    middle = wider[[13, 14], :2].mean(0)
    for corner in (left, right):
        x, y = np.round(corner + 0.1 * (middle - corner)).astype(int)
        assert mouth[y, x].max() < 0.35  # in the corner's shadow
    x, y = np.round(middle).astype(int)
    assert mouth[y, x].mean() > 0.8  # the middle shows the original's opening


def test_a_grin_no_wider_than_the_originals_shows_its_teeth_towards_the_corners(model3d):
    """The corner shadow hides the original's lip corners that a wider new opening brings in; at full reach on a
    grin as wide as the original's, the corners were black wedges where its teeth showed (stargan_031796)."""
    from streamanon.photometric.features import draw_mouth, mouth_arcs

    pts = face_points(model3d, size=600)
    lower = np.array([14, 87, 178, 88, 95, 317, 402, 318, 324, 17, 84, 181, 91, 146, 314, 405, 321, 375])
    opened = pts.copy()
    opened[lower, 1] += 40
    original = np.full((600, 600, 3), 0.9, np.float32)  # teeth across the opening
    upper, _ = mouth_arcs()
    for scale, bright in ((1.0, True), (1.3, False)):
        new = opened.copy()
        mid = opened[[61, 291], 0].mean()
        new[:, 0] = mid + scale * (opened[:, 0] - mid)
        mouth = np.full((600, 600, 3), 0.5, np.float32)
        draw_mouth(mouth, new, 300.0, 1.0, source=(original, opened))
        left, middle = new[upper[0], :2], new[[13, 14], :2].mean(0)
        x, y = np.round(left + 0.2 * (middle - left)).astype(int)  # a fifth of the way in from the corner
        assert (mouth[y, x].mean() > 0.6) == bright, (scale, mouth[y, x])


def test_barely_parted_lips_have_no_dark_dots_at_the_mouths_corners(model3d):
    """Between barely parted lips the moved opening is a sliver; its shaded corners were two dark dots at the
    mouth's ends (retalk_1). The shadow deepens with the gap: a wide open mouth still has dark corners."""
    from streamanon.photometric.features import draw_mouth, mouth_arcs

    pts = face_points(model3d, size=600)
    lower = np.array([14, 87, 178, 88, 95, 317, 402, 318, 324, 17, 84, 181, 91, 146, 314, 405, 321, 375])
    original = np.full((600, 600, 3), 0.6, np.float32)  # the original's lips between its corners
    upper, _ = mouth_arcs()
    darkest = {}
    rest = float(np.linalg.norm(pts[13] - pts[14]))  # the model's lips are a little apart
    for gap in (4, 40):
        opened = pts.copy()
        opened[lower, 1] += gap - rest
        new = opened.copy()
        mid = opened[[61, 291], 0].mean()
        new[:, 0] = mid + 1.3 * (opened[:, 0] - mid)  # the new opening is wider: the full corner shadow
        mouth = np.full((600, 600, 3), 0.6, np.float32)
        draw_mouth(mouth, new, float(np.ptp(pts[:, 1])), 1.0, source=(original, opened))
        left, right, middle = new[upper[0], :2], new[upper[-1], :2], new[[13, 14], :2].mean(0)
        near = [np.round(c + f * (middle - c)).astype(int) for c in (left, right) for f in (0.05, 0.1, 0.15)]
        darkest[gap] = min(float(mouth[y - 2:y + 3, x - 2:x + 3].mean(2).min()) for x, y in near)
    assert darkest[40] < 0.35  # a wide open mouth's corners are in shadow
    assert darkest[4] > 0.45, darkest  # barely parted: no dark dots


def test_srgb_round_trip():
    x = np.arange(256, dtype=np.uint8)
    assert np.abs(linear_to_srgb(srgb_to_linear(x)) - x).max() < 0.01


def test_temporal_smoothing_and_reset_on_scene_cuts():
    assert ema(None, 3.0, 0.3) == 3.0
    assert ema(1.0, 2.0, 0.5) == 1.5
    store = TemporalStore(alpha=0.5)
    frame = np.full((72, 128, 3), 100, np.uint8)
    assert store.new_frame(frame)  # the first frame starts a scene
    s = store.smooth(1, np.ones(9), np.zeros(3), np.ones(3), 10.0)
    s = store.smooth(1, 3 * np.ones(9), np.zeros(3), np.ones(3), 30.0)
    assert np.allclose(s.sh, 2.0) and s.grain == pytest.approx(20.0)
    assert not store.new_frame(frame + 3)  # the same scene: state kept
    assert 1 in store.states
    assert store.new_frame(255 - frame)  # a cut: every track starts again
    assert not store.states
    store.smooth(2, np.ones(9), np.zeros(3), np.ones(3), 1.0)
    store.forget({3})
    assert not store.states


def test_steady_points_hold_back_jitter_and_pass_real_motion():
    """The drawn eyes, brows and lips follow the new geometry's points: a sub-pixel shake is held back (flicker
    on lp_d18 1.09 -> 0.86), a turn or an opening mouth passes at once."""
    rng = np.random.default_rng(0)
    still = rng.uniform(0, 200, (478, 2)).astype(np.float32)
    out, moved = still, 0.0
    for _ in range(20):  # jitter of 0.5 px on a 200 px face, jitter threshold 3 px
        new = steady_points(out, still + rng.normal(0, 0.5, still.shape).astype(np.float32), 3.0)
        moved += float(np.abs(new - out).mean())
        out = new
    assert moved / 20 < 0.2  # the raw points move ~0.56 px a frame
    assert np.abs(out - still).max() < 1.5
    jump = still + np.float32([8.0, 0.0])  # a real move of 8 px: taken whole
    assert np.allclose(steady_points(still, jump, 3.0), jump)
    assert steady_points(None, jump, 3.0) is jump


def test_the_renderer_refuses_refine_without_its_engine(model3d):
    with pytest.raises(ValueError, match="refine"):
        S.FaceRenderer(S.PhotometricSettings(refine=True), model3d, np.ones(3))


def test_the_refinement_crop_holds_the_face_and_its_correction_lands_inside_the_cover_only():
    from streamanon.photometric.refine import SIZE, add_correction, refine_input

    model = ShapeModel.load(ENGINES_DIR / "shape_model.npz")
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (300, 400, 3), np.uint8)
    pts = model.mean.reshape(-1, 2) * 150 + (120, 60)  # a 150 px face
    cover = np.zeros(image.shape[:2], bool)
    cv2.fillPoly(cover.view(np.uint8), [np.round(pts[S.FACE_OVAL]).astype(np.int32)], 1)
    x, m = refine_input(image, cover, pts)
    assert x.shape == (4, SIZE, SIZE) and x.dtype == np.float32
    inside = x[3] > 0.5
    assert 0.3 < inside.mean() < 0.75  # the whole face, with a rim of context
    assert not inside[0].any() and not inside[-1].any() and not inside[:, 0].any() and not inside[:, -1].any()
    assert np.abs(add_correction(image, np.zeros((3, SIZE, SIZE), np.float32), m, cover.astype(np.float32))
                  .astype(int) - image).max() == 0
    lifted = add_correction(np.full_like(image, 100), np.full((3, SIZE, SIZE), 0.2, np.float32), m,
                            cover.astype(np.float32))
    assert np.all(lifted[cover] >= 124) and np.all(lifted[~cover] == 100)


def test_the_refinement_weight_fades_in_from_the_cover_edge():
    cover = np.zeros((400, 400), bool)
    cv2.circle(cover.view(np.uint8), (200, 200), 150, 1, -1)
    w = S.inward_feather(cover, 15)
    assert w[~cover].max() == 0 and w[200, 200] > 0.99
    assert w[200, 51] < 0.1 and 0.2 < w[200, 66] < 0.9 and w[200, 95] > 0.95  # a ramp, no step at the edge


def test_the_refinement_correction_is_smoothed_per_track_and_reset_on_new_tracks():
    store = TemporalStore(alpha=0.3)
    a = store.smooth_correction(1, np.ones((3, 4, 4), np.float32))
    b = store.smooth_correction(1, np.zeros((3, 4, 4), np.float32))
    assert np.allclose(a, 1) and np.allclose(b, 0.7)
    assert np.allclose(store.smooth_correction(2, np.zeros((3, 4, 4), np.float32)), 0)


needs_texture = pytest.mark.skipif(not (ENGINES_DIR / "texture_model.npz").exists(),
                                   reason="no texture model in engines/")


@needs_texture
def test_the_mesh_face_replaces_the_face_and_switches_turn_stages_off(frame_and_faces):
    rgb, faces = frame_and_faces
    gen = FaceGenerator(GenerateSettings(hair=True))
    out = rgb.copy()
    assert gen.apply(out, faces) == 0
    box = faces.boxes[0].astype(int)
    cy, cx = (box[1] + box[3]) // 2, (box[0] + box[2]) // 2
    assert np.abs(out[cy - 20:cy + 20, cx - 20:cx + 20].astype(int) - rgb[cy - 20:cy + 20, cx - 20:cx + 20]).mean() > 3
    ms = gen.stage_ms()
    assert all(ms[k] > 0 for k in S.STAGES if k != "reuse")  # one frame: nothing to reuse
    off = FaceGenerator(GenerateSettings(colour=False, grain=False, refine=False))
    unrefined = rgb.copy()
    off.apply(unrefined, faces)
    assert off.stage_ms()["colour"] == 0 and off.stage_ms()["grain"] == 0 and off.stage_ms()["refine"] == 0
    assert off.renderer.refiner is None
    flat = FaceGenerator(GenerateSettings(relight=False))
    assert flat.renderer.settings.relight is False
    again = rgb.copy()
    FaceGenerator(GenerateSettings(hair=True)).apply(again, faces)
    assert np.array_equal(again, out)  # same seed and track: the same face of nobody
    flat_hollows = rgb.copy()
    FaceGenerator(GenerateSettings(hair=True, relief=False)).apply(flat_hollows, faces)
    assert not np.array_equal(flat_hollows, out)  # --no-relief: the hollows not shaded


@needs_texture
@pytest.mark.parametrize("stage", ["measure", "render", "colour", "relief", "upscale", "features", "grain", "compose",
                                   "refine", "hair"])
def test_a_failing_stage_blurs_the_face_and_counts_a_fallback(frame_and_faces, monkeypatch, stage):
    rgb, faces = frame_and_faces

    def broken(*args):
        raise RuntimeError(f"{stage} broke")

    monkeypatch.setattr(S, stage, broken)
    gen = FaceGenerator(GenerateSettings(hair=stage == "hair"))
    out = rgb.copy()
    assert gen.apply(out, faces) == 1
    box = faces.boxes[0].astype(int)
    inner = (slice(box[1] + 5, box[3] - 5), slice(box[0] + 5, box[2] - 5))
    # covered: the blur removed the face's detail
    assert grey_laplacian_variance(out[inner].mean(-1), np.ones(out[inner].shape[:2], bool)) < \
        0.2 * grey_laplacian_variance(rgb[inner].mean(-1), np.ones(rgb[inner].shape[:2], bool))


@needs_texture
def test_box_faces_are_blurred_not_rendered(frame_and_faces):
    rgb, faces = frame_and_faces
    nomesh = Faces(faces.boxes, np.full_like(faces.landmarks, np.nan), faces.track_ids, faces.coasting, faces.scores)
    gen = FaceGenerator(GenerateSettings())
    out = rgb.copy()
    gen.apply(out, nomesh)
    assert gen.renderer.faces == 0
    assert not np.array_equal(out, rgb)
    # the user's --mask-scale reaches them too (it was left at its default with generate)
    wide = rgb.copy()
    FaceGenerator(GenerateSettings(), mask_scale=2.0).apply(wide, nomesh)
    assert np.any(wide != rgb, axis=2).sum() > 1.5 * np.any(out != rgb, axis=2).sum()


def test_lab_stats_needs_pixels():
    with pytest.raises(ValueError):
        lab_stats(np.zeros((3, 3)))
    s = LabStats(np.zeros(3), np.ones(3))
    assert s.mean.shape == (3,)


def test_cli_flags_reach_the_settings():
    from streamanon.cli import _options, build_parser

    args = build_parser().parse_args(["in.mp4", "out.mp4", "--no-relight", "--no-colour", "--no-temporal",
                                      "--no-grain", "--no-refine", "--no-relief"])
    g = _options(args).generate
    assert (g.relight, g.colour, g.temporal, g.grain, g.refine) == (False, False, False, False, False)
    assert not g.relief and not g.photometric().relief  # on by default, off on request
    assert g.hair is False and g.photometric().hair is False  # opt-in
    assert _options(build_parser().parse_args(["in.mp4", "out.mp4", "--keep-hair"])).generate.photometric().hair
    assert not g.photometric().drawn_mouth  # the original's teeth, moved
    assert _options(build_parser().parse_args(["in.mp4", "out.mp4", "--drawn-mouth"])).generate.photometric() \
        .drawn_mouth
    g = _options(build_parser().parse_args(["in.mp4", "out.mp4"])).generate
    assert (g.variant, g.relight, g.colour, g.temporal, g.grain, g.relief) == ("mesh", True, True, True, True, True)
    assert g.photometric().render_every == S.PhotometricSettings().render_every > 1
    assert _options(build_parser().parse_args(["in.mp4", "out.mp4", "--render-every", "1"])).generate.photometric() \
        .render_every == 1


def test_push_pull_fills_holes_and_the_edge_offset_meets_the_frame_around_the_cover():
    from streamanon.photometric.blend import boundary_offset, push_pull

    weight = np.zeros((100, 100), np.float32)
    weight[:, :10] = 1
    values = np.zeros((100, 100, 3), np.float32)
    values[:, :10] = 0.8
    assert np.allclose(push_pull(values, weight), 0.8, atol=1e-4)  # a constant extends as a constant
    inside = np.zeros((100, 100), bool)
    inside[20:80, 20:80] = True
    fg, bg = np.full((100, 100, 3), 0.5, np.float32), np.full((100, 100, 3), 0.7, np.float32)
    off = boundary_offset(fg, bg, inside, 3, 5.0)
    assert off[19, 50] == pytest.approx(0.2, abs=0.02)  # just outside the edge: fg + offset = bg
    assert (off[20, 50] > 0.15).all()
    assert abs(off[50, 50]).max() < 0.01  # deep inside: the render as it is
    assert abs(off[0, 0]).max() == 0  # nothing far outside
    core = np.zeros_like(inside)
    core[40:60, 40:60] = True
    kept = boundary_offset(fg, bg, inside, 3, 5.0, core=core)
    assert kept[30, 50] == pytest.approx(0.2, abs=0.02)  # between the edge and the core: not faded
    hair = np.zeros_like(inside)  # nothing outside is skin: no offset at all
    assert not boundary_offset(fg, bg, inside, 3, 5.0, trust=hair).any()


def test_brows_lips_and_teeth_are_drawn_on_the_new_geometry_and_stay_the_same_per_track(model3d):
    from streamanon.photometric import features as F

    pts = face_points(model3d, size=600)
    look = F.random_look(np.random.default_rng(5))
    image = np.full((600, 600, 3), 0.7, np.float32)
    F.draw_brows(image, pts, look.brows, np.array([0.2, 0.15, 0.1], np.float32))
    for upper, lower in F.brow_indices():
        assert len(upper) == 5 and len(lower) == 5
        centre = np.round(pts[np.r_[upper[2], lower[2]]].mean(0)).astype(int)
        assert image[centre[1] - 2:centre[1] + 3, centre[0] - 2:centre[0] + 3].mean() < 0.6  # brow body darker
    assert np.abs(image[:100] - 0.7).max() == 0  # nothing above the brows' box
    again = np.full((600, 600, 3), 0.7, np.float32)
    F.draw_brows(again, pts, F.random_look(np.random.default_rng(5)).brows, np.array([0.2, 0.15, 0.1], np.float32))
    assert np.array_equal(image, again)  # the same track: the same hairs
    lips = np.full((600, 600, 3), 0.7, np.float32)
    F.draw_lips(lips, pts, look.lips, 600.0)
    upper, lower = F.lip_polygons()
    x, y = np.round(pts[lower].mean(0)).astype(int)
    assert lips[y, x, 0] > lips[y, x, 1] + 0.05  # redder than the skin
    edge = np.round(pts[lower][np.argmax(pts[lower, 1])]).astype(int)  # the lower lip's lowest point
    assert lips[edge[1] - 3, edge[0]].mean() < lips[y - 2:y + 3, x].mean(0).mean() - 0.02  # rounded: darker at its edge
    assert lips[edge[1] + 6, edge[0]].mean() < 0.69  # its shadow on the chin
    assert lips[edge[1] + 60, edge[0]].mean() == pytest.approx(0.7)
    opened = pts.copy()
    jaw = np.array([14, 87, 178, 88, 95, 317, 402, 318, 324, 17, 84, 181, 91, 146, 314, 405, 321, 375])
    opened[jaw, 1] += 80
    mouth = np.full((600, 600, 3), 0.5, np.float32)
    F.draw_mouth(mouth, opened, 600.0, 1.0)
    x, y = np.round(opened[13] + (0, 5)).astype(int)
    assert mouth[y, x - 8:x + 9].mean() > 0.6  # bright upper teeth (the central incisors and the gap between)


def test_brows_are_single_hairs_with_skin_between_them_not_a_painted_bar(model3d):
    from streamanon.photometric import features as F

    pts = face_points(model3d, size=1000)
    image = np.full((1120, 1120, 3), 0.7, np.float32)
    F.draw_brows(image, pts, F.random_look(np.random.default_rng(5)).brows, np.array([0.2, 0.15, 0.1], np.float32))
    region = np.zeros(image.shape[:2], np.uint8)
    for upper, lower in F.brow_indices():
        cv2.fillPoly(region, [np.round(pts[np.r_[upper, lower[::-1]], :2]).astype(np.int32)], 1)
    dark = 1.0 - image.mean(2) / 0.7
    inside = region.astype(bool)
    assert 0.3 < dark[inside].mean() < 0.5  # as dark as brows are
    fine = (dark - cv2.GaussianBlur(dark, (0, 0), 1.5))[inside]
    assert fine.std() > 0.09  # hairs a pixel or two wide; the solid bar drawn before: 0.073
    assert np.percentile(dark[inside], 20) < 0.07  # skin shows between the hairs (before: 0.096)


def test_brows_are_drawn_as_faint_as_the_originals_and_never_darker(model3d):
    from streamanon.photometric import features as F

    pts = face_points(model3d, size=600)
    look = F.random_look(np.random.default_rng(5))
    colour = np.array([0.2, 0.15, 0.1], np.float32)
    region = np.zeros((600, 600), np.uint8)
    for upper, lower in F.brow_indices():
        cv2.fillPoly(region, [np.round(pts[np.r_[upper, lower[::-1]], :2]).astype(np.int32)], 1)
    region = region.astype(bool)

    def darkness(target):
        image = np.full((600, 600, 3), 0.7, np.float32)
        F.draw_brows(image, pts, look.brows, colour, darkness=target)
        return 1.0 - float(image[region].mean()) / 0.7

    full = darkness(None)
    assert full > 0.25
    assert darkness(0.9) == pytest.approx(full)  # a darker original: the brows as drawn, not darker
    assert darkness(F.FAINT_BROWS[1]) == pytest.approx(full)  # brows of common darkness: as drawn
    faint = darkness(0.12)  # a child's faint brows
    assert faint < 0.6 * full and faint >= F.BROW_MIN * full * 0.9
    assert darkness(0.0) == pytest.approx(F.BROW_MIN * full, rel=0.25)  # at least BROW_MIN of its own darkness
    # the reading: 1 - the brow region's mean grey over the skin's
    photo = np.full((600, 600, 3), 200, np.uint8)
    photo[region] = 100
    assert F.brow_darkness(photo, pts, 200.0) == pytest.approx(0.5, abs=0.02)
    assert F.brow_darkness(np.full((600, 600, 3), 200, np.uint8), pts, 200.0) == pytest.approx(0.0, abs=0.01)
    assert F.brow_darkness(photo, pts * 0.01, 200.0) is None  # too small to read


def test_a_redheads_brows_are_drawn_red_brown_at_the_palettes_grey(model3d):
    """The brows' hue is read from the original's brow hairs (one colour): a redhead's came out olive-grey from
    the palette."""
    from streamanon.photometric import features as F

    pts = face_points(model3d, size=600)
    region = np.zeros((600, 600), np.uint8)
    for upper, lower in F.brow_indices():
        cv2.fillPoly(region, [np.round(pts[np.r_[upper, lower[::-1]], :2]).astype(np.int32)], 1)
    photo = np.full((600, 600, 3), (225, 190, 170), np.uint8)
    photo[region.astype(bool)] = (150, 80, 50)  # red-brown hairs
    hue = F.brow_hue(photo, pts)
    assert hue[0] > 1.2 and hue[2] < 0.8  # red over grey, little blue
    assert F.brow_hue(photo, pts * 0.01) is None  # too small to read
    look = F.random_look(np.random.default_rng(3))
    darkest = np.array([0.3, 0.25, 0.2], np.float32)
    plain = F.brow_colour(look, 70.0, 1.0, darkest)
    red = F.brow_colour(look, 70.0, 1.0, darkest, hue)
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    assert float(red @ luma) == pytest.approx(float(plain @ luma), rel=0.02)  # the palette's grey
    assert red[0] / red[2] == pytest.approx(hue[0] / hue[2], rel=0.01)  # the original's hue


def test_calm_albedo_removes_blurred_features_and_keeps_the_broad_tone():
    from streamanon.photometric.texture import calm_albedo

    res = 160
    yy, xx = np.mgrid[0:res, 0:res].astype(np.float32)
    ramp = 0.8 + 0.4 * xx / res  # a broad change of tone across the face
    blob = 1.0 - 0.4 * np.exp(-((xx - 50) ** 2 + (yy - 80) ** 2) / (2 * 6.0 ** 2))  # a blurred eye of a training face
    tex = np.repeat((ramp * blob)[..., None], 3, -1)
    calm = calm_albedo(tex, brow_top=0.1)
    kept = calm_albedo(tex, brow_top=0.1, band_keep=1.0)
    depth = lambda t: 1.0 - t[80, 50].mean() / t[80, 30:70:39].mean(-1).mean()  # noqa: E731
    assert depth(calm) < 0.7 * depth(kept)
    assert depth(calm_albedo(tex, brow_top=0.1, band_keep=0.0)) < 0.4 * depth(kept)
    assert calm[80, 120].mean() / calm[80, 20].mean() == pytest.approx(ramp[80, 120] / ramp[80, 20], rel=0.05)


def test_a_tilak_of_the_training_faces_leaves_no_mark_between_the_new_brows():
    from streamanon.photometric.features import glabella_zone
    from streamanon.photometric.texture import calm_albedo
    from streamanon.photometric.uv import default_layout

    res = 160
    zone = glabella_zone(res)
    u, v = default_layout().uv[168]  # the nose's bridge
    col, row = int(u * res), int(v * res)
    assert zone[row - 20, col] == pytest.approx(1.0) and zone[row + 15, col] == 0.0  # down to the bridge
    assert zone[row - 20, col + 25] == 0.0  # not over the brows
    tex = np.ones((res, res, 3), np.float32)
    tex[: row - 3, col - 3:col + 4] = (1.4, 1.3, 1.2)  # a pale stripe up the forehead from the bridge
    calm = calm_albedo(tex, brow_top=0.2, zone=zone)
    before = calm_albedo(tex, brow_top=0.2)
    stripe = lambda t: t[row - 12, col].mean() / t[row - 12, col + 20].mean() - 1.0  # noqa: E731
    assert stripe(before) > 0.15  # it showed
    assert abs(stripe(calm)) < 0.03
    assert np.allclose(calm[row + 20:], before[row + 20:], atol=0.01)  # the rest of the face as it was


def test_calm_albedo_tones_down_stains_and_forehead_bands():
    from streamanon.photometric.texture import calm_albedo

    rng = np.random.default_rng(3)
    tex = np.ones((96, 96, 3), np.float32)
    tex[5:12] *= 0.7  # a band across the top of the forehead
    tex[50:56, 20:26] *= np.array([1.3, 1.0, 0.6], np.float32)  # a small yellow stain
    tex *= 1 + 0.02 * rng.standard_normal((96, 96, 1)).astype(np.float32)
    calm = calm_albedo(tex, brow_top=0.35)
    assert np.ptp(calm[2:20, 48].mean(-1)) < 0.5 * np.ptp(tex[2:20, 48].mean(-1))
    chroma = lambda t: np.ptp(t[..., 0] / t[..., 2])  # noqa: E731
    assert chroma(calm[45:60, 15:30]) < 0.5 * chroma(tex[45:60, 15:30])
    assert np.allclose(calm[80:, 80:], tex[80:, 80:], atol=0.05)  # plain skin below the brows: as it was


def test_the_skin_detail_texture_is_seeded_zero_mean_and_has_more_than_pixel_grain():
    a, b = noise_texture(np.random.default_rng(4), 256), noise_texture(np.random.default_rng(4), 256)
    assert np.array_equal(a, b)
    assert abs(float(a.mean())) < 1e-3 and float(a.std()) == pytest.approx(1.0, abs=1e-3)
    coarse = cv2.GaussianBlur(a, (0, 0), 3.0)
    assert coarse.std() > 0.15  # mottling and orange peel, not only white noise


def test_a_fitted_light_stronger_than_a_real_scene_gives_is_tamed_keeping_its_direction_and_front_shading():
    front = np.array([[0.0, 0.0, -1.0]])
    rim = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, -1.0, 0.0]])
    fitted = np.r_[-0.613, -0.3, -3.249, -0.267, np.zeros(5)]  # a fit seen on a face: negative constant
    tamed = plausible_light(fitted, contrast=1.0)
    direction = lambda c: c[[3, 1, 2]] / np.linalg.norm(c[[3, 1, 2]])  # noqa: E731
    assert np.allclose(direction(tamed), direction(fitted))
    assert shading(front, tamed)[0] == pytest.approx(shading(front, fitted)[0], rel=1e-6)
    assert 0.282095 * tamed[0] == pytest.approx(np.linalg.norm(0.488603 * tamed[[3, 1, 2]]))
    assert shading(rim, tamed).min() > 0.3 * shading(front, tamed)[0]  # the outline no longer goes dark
    assert shading(rim, fitted).min() == 0.05  # (it did: clipped at the floor)
    gentle = np.r_[3.0, 0.2, -0.5, 0.3, np.zeros(5)]
    assert np.array_equal(plausible_light(gentle, contrast=1.0), gentle)  # a plausible light is kept
    assert np.array_equal(plausible_light(np.r_[-1.0, 0, 3.0, 0, np.zeros(5)]), FLAT)  # dark in front: flat


def test_the_soft_floor_lifts_only_the_darkest_shading():
    s = np.array([0.0, 0.1, 0.35, 1.0, 2.0], np.float32)
    out = soft_floor(s, 0.35)
    assert out.dtype == s.dtype and np.isclose(out[0], 0.35)
    assert (np.diff(out) > 0).all() and (out >= s).all()  # smooth, monotone, never darker
    assert np.allclose(out[3:], s[3:], rtol=0.06)  # a lit face is left as it is


@needs_texture
def test_a_track_is_measured_every_k_frames_and_again_after_a_scene_cut(frame_and_faces, monkeypatch):
    rgb, faces = frame_and_faces
    calls = []
    real = S.measure

    def counting(p, settings):
        calls.append(p.track_id)
        real(p, settings)

    monkeypatch.setattr(S, "measure", counting)
    gen = FaceGenerator(GenerateSettings())
    k = gen.renderer.settings.measure_every
    assert k > 1
    for _ in range(k + 1):
        gen.apply(rgb.copy(), faces)
    assert len(calls) == 2  # frames 1 and k + 1
    gen.apply(255 - rgb, faces)  # a scene cut: measured at once
    assert len(calls) == 3


@needs_texture
def test_teeth_are_read_on_every_frame_and_the_rest_moves_on_smoothly_between_measurements(frame_and_faces,
                                                                                            monkeypatch):
    """Drawn teeth come and go with each syllable: read once in six frames, a laugh's teeth were drawn as a dark
    hole. The slow measurements (light, colour) approach their last reading by one step a frame, with no jump on
    the frames they are read."""
    rgb, faces = frame_and_faces
    readings = iter([1.0] + [0.0] * 20)
    monkeypatch.setattr(S, "teeth_reading", lambda *a: (next(readings), None))
    gen = FaceGenerator(GenerateSettings(drawn_mouth=True, render_every=1))  # every frame rendered
    track = int(faces.track_ids[0])
    seen = []
    for _ in range(3):
        gen.apply(rgb.copy(), faces)
        seen.append(gen.renderer.store.states[track].teeth)
    assert seen[0] == 1.0 and 0.0 < seen[2] < seen[1] < 1.0  # frames 2 and 3 are not measured, still read

    store = TemporalStore(alpha=0.5)
    store.smooth(1, np.ones(9), np.zeros(3), np.ones(3), 10.0)
    s = store.smooth(1, 3 * np.ones(9), np.zeros(3), np.ones(3), 10.0)
    assert np.allclose(s.sh, 2.0)
    assert np.allclose(store.advance(1).sh, 2.5) and np.allclose(store.advance(1).sh, 2.75)


def test_the_lip_colour_is_read_as_a_factor_on_the_skin(model3d):
    from streamanon.photometric.features import lip_polygons

    pts = face_points(model3d)
    image = np.full((420, 420, 3), (200, 150, 130), np.uint8)
    upper, lower = lip_polygons()
    for idx in (upper, lower):
        cv2.fillPoly(image, [np.round(pts[idx]).astype(np.int32)], (190, 60, 70))  # red lipstick
    skin = np.full((500, 3), (200, 150, 130), np.uint8)
    tint = S.lip_colour(image, pts, skin)
    assert np.allclose(tint, np.clip(np.array([190, 60, 70]) / np.array([200, 150, 130]), *S.LIP_RANGE), atol=0.02)
    assert S.lip_colour(image, face_points(model3d, size=8.0, offset=2.0), skin) is None  # too small to read


def test_the_new_lips_take_the_originals_lip_colour_not_twice_the_albedos_darkness(model3d):
    from streamanon.photometric.features import draw_lips, lip_polygons

    pts = face_points(model3d)
    render = np.full((420, 420, 3), 0.6, np.float32)
    upper, lower = lip_polygons()
    lips = np.zeros(render.shape[:2], np.uint8)
    for idx in (upper, lower):
        cv2.fillPoly(lips, [np.round(pts[idx]).astype(np.int32)], 1)
    render[lips.astype(bool)] *= 0.7  # the albedo's own lips: darker than its skin
    p = S.make_patch(np.zeros((420, 420, 3), np.uint8), pts, pts, model3d, 1, np.ones((8, 8, 3), np.float32),
                     np.zeros((8, 8), np.float32), margin=0.0)
    x0, y0, x1, y1 = p.roi
    p.render, p.skin, p.target = render[y0:y1, x0:x1].copy(), ~lips.astype(bool)[y0:y1, x0:x1], pts - (x0, y0)
    p.lips = np.full(3, 0.8, np.float32)  # the original's lips: 0.8 of its skin
    tint = S.lips_tint(p, p.render[p.skin].mean(0))
    assert np.allclose(tint, 0.8 / 0.7, atol=0.03)
    for factor, expected in ((tint, 0.8), (p.lips, 0.8 * 0.7)):  # the fix, and the original's factor as it was
        out = p.render.copy()
        draw_lips(out, p.target, factor, 300.0)
        got = S.lip_colour(out * 255.0, p.target, out[p.skin] * 255.0)
        assert np.allclose(got, expected, rtol=0.08)


def test_nostrils_are_dark_below_the_nose_tip_and_hide_behind_it_when_the_head_turns(model3d):
    from streamanon.photometric.features import NOSE_TIP, NOSTRILS, draw_nose

    pts = face_points(model3d, size=600)
    image = np.full((800, 800, 3), 0.6, np.float32)
    draw_nose(image, pts, 600.0)
    centres = [pts[list(idx)].mean(0) for idx, *_ in NOSTRILS]
    for c in centres:
        x, y = np.round(c).astype(int)
        assert image[y - 3:y + 4, x - 3:x + 4].mean() < 0.35  # a hole, on each side
    assert centres[0][0] < pts[NOSE_TIP, 0] < centres[1][0]
    assert np.abs(image[:, :, 0][np.round(pts[10, 1]).astype(int)] - 0.6).max() < 1e-6  # the forehead untouched
    turned = pts.copy()
    turned[NOSE_TIP, 0] += 0.35 * np.ptp(pts[[234, 454], 0])  # the nose points to the image's right
    image = np.full((800, 800, 3), 0.6, np.float32)
    draw_nose(image, turned, 600.0)
    near, far = (image[np.round(c[1]).astype(int), np.round(c[0]).astype(int)].mean() for c in centres)
    assert far > near + 0.15  # the nostril on the side it turns to fades


def test_the_beard_area_is_measured_as_darkness_with_hair_texture_and_drawn_to_that_darkness():
    from streamanon.photometric import beard as B

    rng = np.random.default_rng(3)
    g = np.linspace(0.0, 1.0, 200, dtype=np.float32)
    uv = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    zone, cheeks = B.beard_zone(uv) > 0.7, B.cheek_zone(uv)
    assert zone.any() and cheeks.any() and not (zone & cheeks).any()
    k = B._landmarks()
    assert B.beard_zone(np.array([k["centre"], k["sub"] - 0.05])) == 0  # the nose is no beard
    assert B.beard_zone(np.array([k["centre"], 0.97])) == 1  # the chin is
    clean = np.full(len(uv), 0.5)
    assert B.beard_darkness(clean, uv) == 0.0
    bearded = np.where(zone, 0.25, 0.5)
    assert 0.3 < B.beard_darkness(bearded, uv) <= B.MAX_BEARD  # half as bright: 0.5 less what shaven shows
    # the gate: a darker lower face counts only with hair's texture in it
    shape = (200, 200)
    zmask, cmask = B.zone_masks(uv, np.arange(len(uv)), shape)
    smooth = np.full(shape, 120.0, np.float32) + rng.normal(0, 2, shape).astype(np.float32)
    hairy = smooth + zmask * rng.normal(0, 12, shape).astype(np.float32)
    assert B.texture_gate(smooth, zmask, cmask) == 0.0
    assert B.texture_gate(hairy, zmask, cmask) == 1.0
    # drawn: the area comes out about that much darker, the cheeks and the kept lips untouched
    image = np.full((200, 200, 3), 0.6, np.float32)
    grid = uv.reshape(200, 200, 2).astype(np.float32)
    keep = np.zeros((200, 200), np.float32)
    keep[190:, :] = 1.0
    hairs = B.stubble(rng.standard_normal((512, 512)).astype(np.float32))
    assert 0.2 < (hairs > 0).mean() < 0.45  # dense short hairs, not sparse dots

    def along(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    assert along(hairs[1:], hairs[:-1]) > along(hairs[:, 1:], hairs[:, :-1]) + 0.1  # down the face, not across
    B.draw_beard(image, grid, hairs, 0.3, keep)
    inside = zmask.astype(bool) & (keep == 0)
    assert abs(1 - image[inside].mean() / 0.6 - 0.3) < 0.05
    assert np.allclose(image[cmask.astype(bool)], 0.6) and np.allclose(image[190:], 0.6)
    assert image[inside, 0].std() > 0.02  # hairs, not a flat shadow


def test_a_beard_is_drawn_densest_on_the_upper_lip_and_chin_in_the_colour_of_its_hairs():
    from streamanon.photometric import beard as B

    k = B._landmarks()
    lip = np.array([k["centre"], (k["sub"] + k["lip"]) / 2])
    chin = np.array([k["centre"], 0.95])
    cheek = np.array([k["centre"] + 0.9 * k["face"], 0.8])
    assert B.beard_density(lip) == B.beard_density(chin) == 1.0
    assert B.beard_density(cheek) == B.CHEEK_DENSITY
    g = np.linspace(0.0, 1.0, 200, dtype=np.float32)
    uv = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    zone = B.beard_zone(uv) > 0.7
    rng = np.random.default_rng(1)
    skin = np.array([200.0, 160.0, 140.0])
    for hair in (np.array([40.0, 30.0, 25.0]), np.array([150.0, 115.0, 70.0])):  # black, blond
        colours = np.tile(skin, (len(uv), 1))
        hairy = zone & (rng.random(len(uv)) < 0.4)
        colours[hairy] = hair
        read = B.hair_colour(colours, uv)
        assert np.allclose(read, np.clip(hair / skin, *B.HAIR_RANGE), atol=0.03)
    assert B.hair_colour(np.tile(skin, (len(uv), 1)), uv[:, ::-1] * 0.0 - 1.0) is None  # no face
    # drawn in that colour: a blond beard darkens the skin less per hair and keeps its hue
    grid = uv.reshape(200, 200, 2).astype(np.float32)
    hairs = B.stubble(rng.standard_normal((512, 512)).astype(np.float32))
    out = {}
    for name, colour in (("black", np.array([0.2, 0.19, 0.18])), ("blond", np.array([0.75, 0.72, 0.5]))):
        image = np.full((200, 200, 3), 0.6, np.float32)
        B.draw_beard(image, grid, hairs, 0.2, np.zeros((200, 200), np.float32), colour)
        out[name] = image[zone.reshape(200, 200)]
    assert out["blond"][:, 2].mean() < out["blond"][:, 0].mean() - 0.02  # yellow hairs
    assert abs(out["black"][:, 2].mean() - out["black"][:, 0].mean()) < 0.01
    dense, sparse = (B.beard_density(grid) == 1.0) & zone.reshape(200, 200), B.beard_density(grid) < 0.5
    sparse &= zone.reshape(200, 200)
    image = np.full((200, 200, 3), 0.6, np.float32)
    B.draw_beard(image, grid, hairs, 0.2, np.zeros((200, 200), np.float32))
    assert image[dense].mean() < image[sparse].mean() - 0.03  # the moustache and chin darker than the cheeks
    # a weak reading (stubble, or a woman's hair by her jaw that the gate let through) is an even shadow, a clear
    # beard distinct hairs
    contrast = []
    for darkness in (0.12, 0.3):
        image = np.full((200, 200, 3), 0.6, np.float32)
        B.draw_beard(image, grid, hairs, darkness, np.zeros((200, 200), np.float32))
        drop = 0.6 - image[B.beard_zone(grid, B.DRAW_TOP) > 0.7, 0]
        contrast.append(drop.std() / drop.mean())
    assert contrast[0] < 0.4 < contrast[1]
    # a render whose lower face is already as dark as the original's beard area (its own shadow): a full beard's
    # hairs are drawn all the same and the area lifted back to that darkness; a weak reading draws nothing
    shadowed = np.where(zone.reshape(200, 200, 1), 0.42, 0.6).astype(np.float32) * np.ones(3, np.float32)
    cheeks = B.cheek_zone(grid)
    inside = B.beard_zone(grid, B.DRAW_TOP) > 0.7
    for darkness, drawn in ((0.3, True), (0.08, False)):
        image = shadowed.copy()
        B.draw_beard(image, grid, hairs, darkness, np.zeros((200, 200), np.float32))
        assert (image[inside, 0].std() > 0.03) == drawn
        if drawn:
            assert 1 - image[inside].mean() / image[cheeks].mean() == pytest.approx(darkness, abs=0.04)
        else:
            assert np.array_equal(image, shadowed)


def test_face_specks_are_removed_and_the_edge_is_not_darkened():
    h, w = 30, 30
    face = np.zeros((h, w, 3), np.float32)
    face[5:25, 5:25] = (0.8, 0.5, 0.4)
    face[15, 15] = (0.1, 0.1, 0.1)  # one pixel from another part of the texture
    inside = (face.sum(-1) > 0).astype(np.uint8)
    inside[15, 15] = 1
    out = S.median_inside(face, inside, 3)
    assert np.allclose(out[5:25, 5:25], (0.8, 0.5, 0.4), atol=1e-6)  # the speck gone, the corners kept


def test_a_bearded_face_takes_its_skin_colour_outside_the_beard():
    from streamanon.photometric.beard import beard_zone
    from streamanon.photometric.colour import lab_stats

    g = np.linspace(0.0, 1.0, 120, dtype=np.float32)
    uv = np.stack(np.meshgrid(g, g), -1)
    beard = beard_zone(uv) > 0.0
    render = np.full((120, 120, 3), (0.7, 0.55, 0.45), np.float32)
    render[beard] = (0.2, 0.15, 0.12)
    results = []
    for darkness in (0.0, 0.3):
        p = S.FacePatch(1, (0, 0, 120, 120), np.zeros((120, 120, 3), np.uint8), np.zeros((478, 3)),
                        np.zeros((478, 3)), np.ones((4, 4, 3), np.float32), np.zeros((4, 4), np.float32), 120.0)
        p.render, p.uv, p.beard = render.copy(), uv, darkness
        p.skin = p.covered = np.ones((120, 120), bool)
        p.lab = lab_stats(render[~beard])  # the original's skin, read outside its beard
        S.colour(p)
        results.append(p.render[~beard].mean(0))
    assert np.abs(results[1] - render[~beard].mean(0)).max() < 0.015  # already the right skin: unchanged
    assert np.abs(results[0] - render[~beard].mean(0)).max() > 0.05  # the beard counted as skin: moved


def _hair_scene(model3d, hair_rgb, skin_rgb=(205, 160, 135)):
    """A skin-coloured face on a grey ground, a fringe of ``hair_rgb`` from the top of the frame down over the
    forehead, a dark mole on a cheek and dark brows below a bare band of forehead."""
    from streamanon.faces.landmarks import FACE_OVAL

    pts = face_points(model3d, size=300, offset=60)
    img = np.full((420, 420, 3), 128, np.uint8)
    cv2.fillPoly(img, [np.round(pts[FACE_OVAL]).astype(np.int32)], skin_rgb)
    top = pts[FACE_OVAL, 1].min()
    brow = pts[[70, 63, 105, 66, 107, 336, 296, 334, 293, 300], 1].min()
    fringe_end = int(top + 0.45 * (brow - top))
    img[:fringe_end, 120:300] = hair_rgb
    for i in (70, 300):
        cv2.circle(img, tuple(np.round(pts[i]).astype(int)), 6, (60, 40, 30), -1)  # brows
    mole = np.round((pts[234] + pts[1]) / 2).astype(int)  # between the cheek's edge and the nose tip
    cv2.circle(img, tuple(mole), 5, (50, 35, 30), -1)
    stats = lab_stats(np.array(skin_rgb, np.float32)[None].repeat(50, 0) / 255.0 +
                      np.random.default_rng(0).normal(0, 0.02, (50, 3)).astype(np.float32))
    return img, pts, stats, fringe_end, brow, mole


@pytest.mark.parametrize("hair_rgb", [(55, 40, 30), (200, 120, 70)])  # dark, and red (close to the skin's hue)
def test_a_fringe_stays_in_front_of_the_new_face_but_brows_and_moles_do_not(model3d, hair_rgb):
    from streamanon.photometric.hair import hair_mask, keep_hair

    img, pts, stats, fringe_end, brow, mole = _hair_scene(model3d, hair_rgb)
    alpha = hair_mask(img, pts, stats, 300.0)
    top = int(pts[10, 1])
    assert alpha[top + 3:fringe_end - 3, 180:240].mean() > 0.9  # the fringe inside the face outline
    assert alpha[fringe_end + 4:int(brow) - 2, 180:240].max() < 0.1  # bare forehead below it
    assert alpha[mole[1] - 3:mole[1] + 4, mole[0] - 3:mole[0] + 4].max() < 0.1  # an island inside the face
    for i in (70, 300):
        x, y = np.round(pts[i]).astype(int)
        assert alpha[y, x] < 0.1
    eye = np.round(pts[159]).astype(int)
    assert alpha[eye[1] - 5:eye[1] + 5, eye[0] - 5:eye[0] + 5].max() == 0
    out = keep_hair(np.zeros_like(img), img, alpha)
    assert np.abs(out[top + 5, 210].astype(int) - img[top + 5, 210]).max() <= 2


def test_a_bald_head_keeps_no_forehead(model3d):
    from streamanon.photometric.hair import hair_mask

    skin = (205, 160, 135)
    img, pts, stats, fringe_end, _, _ = _hair_scene(model3d, (204, 161, 133), skin)  # the scalp: skin again
    img[:int(pts[10, 1]), 100:320] = skin
    alpha = hair_mask(img, pts, stats, 300.0)
    top, brow = int(pts[10, 1]), int(pts[[70, 300], 1].min())
    assert alpha[top - 20:brow - 8, 160:260].max() < 0.1  # scalp and forehead are skin


def test_single_lashes_grow_above_the_upper_lid_of_wide_eyes_only(model3d):
    from streamanon.photometric.features import LASH_MIN_WIDTH, draw_eyes, eye_indices, lash_strokes

    lashes = lash_strokes(np.random.default_rng(3))
    assert np.array_equal(lashes, lash_strokes(np.random.default_rng(3)))  # a track keeps its lashes
    iris = np.array([0.3, 0.2, 0.1], np.float32)

    def darkening(size: float) -> tuple[float, float]:
        pts = face_points(model3d, size=size, offset=size * 0.2)
        shape = (int(size * 1.4), int(size * 1.4), 3)
        plain, lashed = np.full(shape, 0.6, np.float32), np.full(shape, 0.6, np.float32)
        draw_eyes(plain, pts, iris, 1.0)
        draw_eyes(lashed, pts, iris, 1.0, lashes)
        eye = eye_indices()[0]
        c = pts[eye.contour]
        top, height, width = c[:, 1].min(), np.ptp(c[:, 1]), np.ptp(c[:, 0])
        band = (slice(int(top - 0.45 * height), int(top - 0.15 * height)),
                slice(int(c[:, 0].min() - 0.1 * width), int(c[:, 0].max() + 0.1 * width)))
        return float((plain[band] - lashed[band]).mean()), width

    gain, width = darkening(900.0)
    assert width >= LASH_MIN_WIDTH and gain > 0.003  # hairs above the lash line
    gain, width = darkening(120.0)
    assert width < LASH_MIN_WIDTH and gain == 0.0  # a small eye gets the line only


def test_the_lash_line_lies_on_the_lid_above_the_opening_not_over_the_eye(model3d):
    from streamanon.photometric.features import draw_eyes, eye_indices, lid_margin

    line = np.stack([np.linspace(0, 20, 11), np.zeros(11)], 1)
    moved = lid_margin(line, np.array([0.0, -1.0]), 3.0)
    assert np.allclose(moved[[0, -1]], line[[0, -1]], atol=1e-6) and np.isclose(moved[5, 1], -3.0)  # corners stay
    pts = face_points(model3d, size=600.0, offset=120.0)
    image = np.full((840, 840, 3), 0.6, np.float32)
    draw_eyes(image, pts, np.array([0.3, 0.2, 0.1], np.float32), 1.0)
    for eye in eye_indices():
        c = pts[eye.contour, :2]
        inside = np.zeros(image.shape[:2], np.uint8)
        cv2.fillPoly(inside, [np.round(c).astype(np.int32)], 1)
        inside = cv2.erode(inside, np.ones((3, 3), np.uint8)).astype(bool)
        ring = np.hypot(*(np.mgrid[0:840, 0:840][::-1] - pts[eye.centre, :2, None, None]))
        radius = float(np.linalg.norm(pts[eye.ring, :2] - pts[eye.centre, :2], axis=1).mean())
        white = inside & (ring > 1.1 * radius)  # the opening beside the iris: sclera, not the lash line
        assert (image[white].mean(-1) < 0.2).mean() < 0.05


def test_beyond_the_face_the_cover_shows_hair_as_hair_and_skin_as_the_render():
    """The band between the new face and the cover's edge: where the frame is hair, its strands stay visible
    (softened a little, not a 96 px smear); where it is skin, the render's colours continue."""
    h = w = 400
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(yy - 200, xx - 200)
    skin_rgb = np.array([205, 160, 135], np.uint8)
    original = np.empty((h, w, 3), np.uint8)
    original[:] = skin_rgb
    hair = (xx < 200) & (r > 120)  # dark strands on the left, outside a face of radius 120
    stripes = np.where((xx // 6) % 2 == 0, 30, 70).astype(np.uint8)
    original[hair] = np.stack([stripes, stripes * 0.8, stripes * 0.6], -1)[hair].astype(np.uint8)
    p = S.FacePatch(0, (0, 0, w, h), original, np.zeros((478, 3)), np.zeros((478, 3)), np.zeros((8, 8, 3)),
                    np.zeros((8, 8), np.float32), 300.0)
    p.lab = lab_stats(original[100:300, 150:250].reshape(-1, 3).astype(np.float32) / 255.0)
    p.covered = r < 100
    p.render = np.where(p.covered[..., None], 0.6, 0.0).astype(np.float32) * np.ones(3, np.float32)
    base, _ = S._edge_fill(p, r < 150)
    band_hair = hair & (r > 125) & (r < 145) & (np.abs(yy - 200) < 40)

    def strands(grey: np.ndarray) -> float:  # the stripes' amplitude in the band
        return float(np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 6))[band_hair].mean())

    assert strands(base.mean(-1)) > 0.5 * strands(original.mean(-1).astype(np.float32) / 255.0)
    band_skin = (xx > 200) & (r > 110) & (r < 140) & (np.abs(yy - 200) < 40)
    assert np.abs(base[band_skin] - 0.6).max() < 0.15  # the render's colours continue over the skin


def test_a_noisy_photo_gets_fine_grain_not_a_coarse_skin_texture(model3d, monkeypatch):
    """A noisy or sharp photo's pixel-level detail level is reached with the fine grain; the skin texture (orange
    peel, mottling: coarser than a pixel on a large face) stays under MAX_TEXTURE, or it shows as sand."""
    pts = face_points(model3d, size=700, offset=100)
    rgb = np.full((900, 900, 3), 150, np.uint8)
    albedo = np.full((64, 64, 3), 1.0, np.float32)

    def grained() -> tuple[float, float]:
        p = S.make_patch(rgb, pts, pts, model3d, 1, albedo, noise_texture(np.random.default_rng(0)))
        S.render(p, np.array([0.6, 0.45, 0.4], np.float32))
        S.upscale(p)
        p.detail = 600.0
        S.grain(p)
        grey = cv2.cvtColor(p.render, cv2.COLOR_RGB2GRAY) * 255.0
        inner = cv2.erode(p.skin.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
        coarse = (cv2.GaussianBlur(grey, (0, 0), 3) - cv2.GaussianBlur(grey, (0, 0), 6))[inner]
        return float(np.sqrt(robust_variance(coarse))), grey_texture_variance(grey, p.skin)

    coarse, fine = grained()
    monkeypatch.setattr(S, "MAX_TEXTURE", S.MAX_GRAIN)
    coarse_uncapped, fine_uncapped = grained()
    assert fine == pytest.approx(600.0, rel=0.1) and fine_uncapped == pytest.approx(600.0, rel=0.1)
    assert coarse < 0.85 * coarse_uncapped


def test_skin_marks_bring_the_heavy_tail_of_the_skin_detail_up_to_a_capped_target_on_the_skin_only(model3d):
    """Real skin's Laplacian is heavy-tailed (pores, freckles, creases): its plain variance is several times
    its robust one. The grain matches the robust level, the track's marks then the plain one, at most MAX_TAIL
    times the robust level (the rest is hair or a beard over the skin), and never on the lips or lids."""
    from streamanon.photometric.grain import marks_texture, texture_levels

    pts = face_points(model3d, size=700, offset=100)
    rgb = np.full((900, 900, 3), 150, np.uint8)
    albedo = np.full((64, 64, 3), 1.0, np.float32)

    def grained(marks: np.ndarray | None, tail: float) -> S.FacePatch:
        p = S.make_patch(rgb, pts, pts, model3d, 1, albedo, noise_texture(np.random.default_rng(0)), marks=marks)
        S.render(p, np.array([0.6, 0.45, 0.4], np.float32))
        S.upscale(p)
        p.detail, p.tail = 35.0, tail
        S.grain(p)
        return p

    marks = marks_texture(np.random.default_rng(1))
    assert np.array_equal(marks, marks_texture(np.random.default_rng(1))) and marks.max() <= 0.0
    plain = grained(None, 0.0)
    for tail, want in ((140.0, S.MAX_TAIL * 35.0), (70.0, 70.0)):
        p = grained(marks, tail)
        grey = cv2.cvtColor(p.render, cv2.COLOR_RGB2GRAY) * 255.0
        robust, variance = texture_levels(grey, p.skin)
        assert variance == pytest.approx(want, rel=0.15)
        assert robust < 1.5 * texture_levels(cv2.cvtColor(plain.render, cv2.COLOR_RGB2GRAY) * 255.0, p.skin)[0]
        away = cv2.erode((p.covered & ~p.skin & p.cover).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        change = np.abs(p.render - plain.render).max(2)  # off the skin only the grain's amount differs a little
        assert away.sum() > 500 and np.percentile(change[p.skin], 99.5) > 4 * np.percentile(change[away], 99.5)
    _, before = texture_levels(cv2.cvtColor(plain.render, cv2.COLOR_RGB2GRAY) * 255.0, plain.skin)
    assert before < 0.8 * 70.0  # without marks the tail is missing


def test_on_dark_skin_the_iris_turns_brown_whole_never_a_blend_and_light_skin_keeps_the_tracks_own():
    from streamanon.photometric.features import DARK_SKIN, IRIS_PALETTE, iris_for_skin, random_look

    looks = [random_look(np.random.default_rng(k)) for k in range(200)]
    blue = IRIS_PALETTE[5]
    for look in looks:
        assert np.array_equal(iris_for_skin(look, DARK_SKIN[1] + 5), look.iris)  # light skin: its own
        dark = iris_for_skin(look, DARK_SKIN[0] - 5)
        assert dark[0] > dark[2] and not np.allclose(dark / dark.sum(), blue / blue.sum(), atol=0.05)  # brown
        middle = iris_for_skin(look, (DARK_SKIN[0] + DARK_SKIN[1]) / 2)
        assert np.array_equal(middle, look.iris) or np.allclose(middle / middle.sum(), dark / dark.sum())
    swapped = np.mean([not np.array_equal(iris_for_skin(k, (DARK_SKIN[0] + DARK_SKIN[1]) / 2), k.iris) for k in looks])
    assert 0.3 < swapped < 0.7  # about half the tracks on skin half way between


def test_an_enlarged_render_is_crisped_and_one_rendered_at_its_own_size_is_left_as_it_is(model3d):
    albedo = (0.6 + 0.3 * np.random.default_rng(3).random((64, 64, 3))).astype(np.float32)

    def crisped(size: float) -> tuple[float, float, float]:
        pts = face_points(model3d, size=size, offset=size * 0.2)
        rgb = np.full((int(size * 1.4), int(size * 1.4), 3), 120, np.uint8)
        p = S.make_patch(rgb, pts, pts, model3d, 1, albedo, noise_texture(np.random.default_rng(0), 64))
        S.render(p, np.array([0.6, 0.45, 0.4], np.float32), S.PhotometricSettings().render_side)
        S.upscale(p)
        before = p.render.copy()
        S.crisp(p)
        band = lambda img: float(np.abs(img - cv2.GaussianBlur(img, (0, 0), 0.006 * size + 1)).mean())  # noqa: E731
        return p.upscaled, band(before), band(p.render)

    up, before, after = crisped(120.0)
    assert up == 1.0 and after == before  # rendered at its own size: nothing to restore
    up, before, after = crisped(800.0)
    assert up > 2.5 and after > 1.05 * before  # enlarged about 3 times: its middle frequencies lifted


def test_a_tracks_iris_fibres_stay_the_same_from_frame_to_frame_and_differ_between_tracks(model3d):
    from streamanon.photometric.features import draw_eyes

    pts = face_points(model3d, size=600)
    iris = np.array([0.3, 0.4, 0.55], np.float32)

    def eyes(pattern: int) -> np.ndarray:
        image = np.full((800, 800, 3), 0.6, np.float32)
        draw_eyes(image, pts, iris, 1.0, None, pattern)
        return image

    assert np.array_equal(eyes(11), eyes(11))
    assert not np.array_equal(eyes(11), eyes(12))


def test_teeth_are_drawn_only_as_much_as_the_originals_opening_shows_them(model3d):
    from streamanon.photometric.features import draw_mouth

    pts = face_points(model3d, size=600)
    opened = pts.copy()
    jaw = np.array([14, 87, 178, 88, 95, 317, 402, 318, 324, 17, 84, 181, 91, 146, 314, 405, 321, 375])
    opened[jaw, 1] += 60
    loop = np.round(S.mouth_loop(opened)).astype(np.int32)
    skin = np.full((500, 3), (200, 150, 130), np.uint8)
    smile = np.full((700, 700, 3), (200, 150, 130), np.uint8)
    cv2.fillPoly(smile, [loop], (235, 232, 225))  # white teeth fill the opening
    yawn = np.full((700, 700, 3), (200, 150, 130), np.uint8)
    cv2.fillPoly(yawn, [loop], (90, 30, 35))  # a dark, red "o"
    skin = skin.mean(0)
    assert S.teeth_shown(smile, opened, skin) == 1.0
    assert S.teeth_shown(yawn, opened, skin) == 0.0
    assert S.teeth_shown(smile, face_points(model3d, size=40.0), skin) is None  # too small to read
    x, y = np.round(opened[13] + (0, 5)).astype(int)
    shown, hidden = (np.full((700, 700, 3), 0.5, np.float32) for _ in range(2))
    draw_mouth(shown, opened, 600.0, 1.0, teeth=1.0)
    draw_mouth(hidden, opened, 600.0, 1.0, teeth=0.0)
    assert shown[y, x - 8:x + 9].mean() > 0.6 > 0.3 > hidden[y, x - 8:x + 9].mean()  # no teeth in an "o"


def test_a_wide_open_mouth_shows_a_tongue_below_its_dark_interior(model3d):
    """A yawn or an "o" is no flat dark hole: the lower part of the opening holds a pink tongue, the upper part
    stays dark; a mouth barely open shows none."""
    from streamanon.photometric.features import draw_mouth

    pts = face_points(model3d, size=600)
    jaw = np.array([14, 87, 178, 88, 95, 317, 402, 318, 324, 17, 84, 181, 91, 146, 314, 405, 321, 375])
    opened, ajar = pts.copy(), pts.copy()
    opened[jaw, 1] += 60
    ajar[jaw, 1] += 12
    wide, narrow = (np.full((700, 700, 3), 0.5, np.float32) for _ in range(2))
    draw_mouth(wide, opened, 600.0, 1.0, teeth=0.0)
    draw_mouth(narrow, ajar, 600.0, 1.0, teeth=0.0)
    x = int(round(opened[13, 0]))
    top, bottom = opened[13, 1], opened[14, 1]
    upper = wide[int(top + 0.15 * (bottom - top)), x - 5:x + 6].mean(0)
    lower = wide[int(top + 0.85 * (bottom - top)), x - 5:x + 6].mean(0)
    assert upper.max() < 0.25  # dark under the upper lip
    assert lower[0] > upper[0] + 0.3 and lower[0] > lower[1] + 0.15  # a pink tongue below
    y = int(round((ajar[13, 1] + ajar[14, 1]) / 2))
    assert narrow[y, x - 5:x + 6, 0].mean() < 0.3  # ajar: only the dark gap


def test_shadows_on_skin_turn_warmer_not_grey():
    """Light scattered under the skin comes out redder: where the shading darkens the albedo, red falls least
    and blue most; full light leaves the albedo as it is."""
    f = S.warm_shading(np.array([0.4, 1.0], np.float32))
    assert np.allclose(f[1], 1.0)
    assert f[0, 0] > f[0, 1] > f[0, 2]
    assert f[0, 1] == pytest.approx(0.4, abs=1e-5)  # green (most of the luminance) as shaded


def test_brows_take_a_hair_colour_never_lighter_than_the_darkened_skin():
    """Brows drawn as a darker skin tone were grey bars: they now take a hair colour of the track's (a
    population prior), near black or dark brown on dark skin, and never lighter than the darkened skin."""
    from dataclasses import replace

    from streamanon.photometric.features import BROW_FLOOR, BROW_PALETTE, brow_colour, random_look

    look = random_look(np.random.default_rng(5))
    darkest = np.array([0.45, 0.36, 0.31], np.float32)
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    colours = [brow_colour(replace(look, hair=h), 75.0, 1.0, darkest) for h in np.linspace(0.0, 0.999, 40)]
    assert all(float(c @ luma) <= float(darkest @ luma) + 1e-5 for c in colours)
    assert all(c[0] > c[2] * 1.2 for c in colours)  # a warm hair colour, not a grey of the skin
    assert len({tuple(np.round(c, 4)) for c in colours}) >= 3  # tracks differ
    dark = [brow_colour(replace(look, hair=h), 30.0, 0.5, darkest) for h in np.linspace(0.0, 0.999, 40)]
    assert max(float(c @ luma) for c in dark) <= max(float(BROW_PALETTE[1] @ luma) * 0.5,
                                                     BROW_FLOOR * float(darkest @ luma)) + 1e-5
    assert min(float(c @ luma) for c in colours + dark) >= BROW_FLOOR * float(darkest @ luma) - 1e-5
    assert np.array_equal(brow_colour(look, 75.0, 1.0, darkest), brow_colour(look, 75.0, 1.0, darkest))


def test_teeth_take_the_grey_of_the_originals_teeth_over_its_skin(model3d):
    """Teeth in soft light or on a small, compressed face are far less bright than drawn white teeth (they
    flashed as the mouth opened): their grey over the skin's is read with how much they show, kept per track,
    and the drawn teeth take it."""
    from streamanon.photometric.features import draw_mouth
    from streamanon.photometric.temporal import TemporalStore

    pts = face_points(model3d, size=600)
    opened = pts.copy()
    jaw = np.array([14, 87, 178, 88, 95, 317, 402, 318, 324, 17, 84, 181, 91, 146, 314, 405, 321, 375])
    opened[jaw, 1] += 60
    loop = np.round(S.mouth_loop(opened)).astype(np.int32)
    skin = np.array([200, 150, 130], np.float32)
    dim = np.full((700, 700, 3), (200, 150, 130), np.uint8)
    cv2.fillPoly(dim, [loop], (190, 180, 170))  # greyish teeth, hardly lighter than the skin
    shown, light = S.teeth_reading(dim, opened, skin)
    grey = lambda c: float(np.asarray(c, np.float32) @ S.LUMA.astype(np.float32))  # noqa: E731
    assert shown == 1.0 and light == pytest.approx(grey((190, 180, 170)) / grey(skin), rel=0.02)
    store = TemporalStore()
    store.teeth(3, shown, light)
    store.teeth(3, None, None)  # a closed mouth tells nothing
    assert store.states[3].teeth_light == pytest.approx(light)
    x, y = np.round(opened[13] + (0, 5)).astype(int)
    white, read = (np.full((700, 700, 3), 0.5, np.float32) for _ in range(2))
    draw_mouth(white, opened, 600.0, 1.0, teeth=1.0)
    draw_mouth(read, opened, 600.0, 1.0, teeth=1.0, teeth_grey=0.55)
    lum = lambda img: float(img[y, x - 3:x + 4].mean(0) @ np.array([0.299, 0.587, 0.114]))  # noqa: E731
    assert 0.4 < lum(read) < 0.6 < 0.75 < lum(white)


def test_read_teeth_take_a_little_of_the_hue_round_the_mouth():
    """A dim neutral grey beside pink lips read as green: read teeth take a little of the lips' and skin's hue,
    at the same luminance; round a grey mouth they stay neutral."""
    from streamanon.photometric.features import mouth_tint

    luma = np.array([0.299, 0.587, 0.114], np.float32)
    pink = mouth_tint(np.full((6, 9, 3), (0.8, 0.5, 0.5), np.float32))
    grey = mouth_tint(np.full((6, 9, 3), 0.4, np.float32))
    assert float(pink @ luma) == pytest.approx(1.0, abs=1e-4) and float(grey @ luma) == pytest.approx(1.0, abs=1e-4)
    assert 1.0 < pink[0] / pink[2] < 1.2  # warmer, but still a white
    assert np.allclose(grey, 1.0, atol=1e-4)


def test_thin_plate_warp_moves_the_marked_points_and_keeps_a_plain_shift_exact():
    from streamanon.photometric.warp import tps_map, warp_region

    rng = np.random.default_rng(0)
    src = rng.uniform(20, 80, (12, 2))
    mx, my = tps_map(src, src + (7.0, -3.0), (100, 100), np.zeros(2))
    gy, gx = np.mgrid[0:100, 0:100]
    assert np.abs(mx - (gx + 7)).max() < 1e-3 and np.abs(my - (gy - 3)).max() < 1e-3
    src = np.round(src)
    dst = src + rng.normal(0, 4, src.shape)
    mx, my = tps_map(src, dst, (100, 100), np.zeros(2), smooth=0.0, step=1)
    at = src.astype(int)
    assert np.abs(mx[at[:, 1], at[:, 0]] - dst[:, 0]).max() < 1e-3  # each point goes where it is sent
    assert np.abs(my[at[:, 1], at[:, 0]] - dst[:, 1]).max() < 1e-3
    t = np.linspace(0, 2 * np.pi, 21)[:-1]  # a mouth's loop and a ring round it, as draw_mouth moves them
    loop = np.c_[150 + 100 * np.cos(t), 80 + 25 * np.sin(t)]
    moved = loop + rng.normal(0, 3, loop.shape)
    src, dst = (np.r_[q, q.mean(0) + 1.6 * (q - q.mean(0))] for q in (loop, moved))
    fine = tps_map(src, dst, (160, 300), np.zeros(2), step=1)
    coarse = tps_map(src, dst, (160, 300), np.zeros(2))  # evaluated every 4 px, interpolated
    assert max(np.abs(coarse[0] - fine[0]).max(), np.abs(coarse[1] - fine[1]).max()) < 0.5
    image = np.zeros((100, 100, 3), np.float32)
    image[40:50, 60:70] = 1.0  # a white square in the source image ...
    out = warp_region(image, src, src + (10.0, 0.0), (30, 30), np.array([40.0, 35.0]))
    assert out[5:15, 10:20].min() > 0.99 and out[:, :8].max() == 0.0  # ... read 10 px to its right


def test_the_mouth_opening_shows_the_originals_interior_moved_to_the_new_lips(model3d):
    """With the original at hand, the new mouth opening holds what the original's opening holds (its teeth),
    moved from the original's inner lips to the new ones; nothing outside the new opening changes."""
    from streamanon.photometric.features import draw_mouth

    pts = face_points(model3d, size=600)
    jaw = np.array([14, 87, 178, 88, 95, 317, 402, 318, 324, 17, 84, 181, 91, 146, 314, 405, 321, 375])
    own, new = pts.copy(), pts.copy()
    own[jaw, 1] += 40
    new[jaw, 1] += 60
    new[:, 0] += 15  # the new mouth lies elsewhere and opens wider
    original = np.full((700, 700, 3), 0.5, np.float32)
    cv2.fillPoly(original, [np.round(S.mouth_loop(own)).astype(np.int32)], (0.9, 0.1, 0.1))  # red inside
    image = np.full((700, 700, 3), 0.3, np.float32)
    draw_mouth(image, new, 600.0, 1.0, source=(original, own))
    c = np.round((new[13, :2] + new[14, :2]) / 2).astype(int)
    assert np.allclose(image[c[1], c[0]], (0.9, 0.1, 0.1), atol=0.05)
    far = np.round(new[152, :2]).astype(int)  # the chin
    assert np.allclose(image[far[1], far[0]], 0.3)


def test_the_renders_darker_rim_is_taken_from_the_face_inside_before_it_is_enlarged():
    """The mesh's grazing rim shades darker than the face; enlarged, it drew a dashed dark line along the new
    face's outline. Its outer pixels now continue the face inside; the inside is unchanged, and nothing black
    seeps in beyond the edge."""
    yy, xx = np.mgrid[0:80, 0:80]
    r = np.hypot(xx - 40, yy - 40)
    covered = r < 30
    render = np.zeros((80, 80, 3), np.float32)
    render[covered] = 0.6
    render[covered & (r >= 28)] = 0.4  # the dark rim
    out = S.fill_rim(render, covered, 2)
    assert np.allclose(out[r < 27], 0.6)
    assert out[covered & (r >= 28)].min() > 0.55  # no dark rim left
    assert out[(r >= 30) & (r < 31.5)].min() > 0.55  # and no black just beyond it


def test_the_lash_line_follows_how_dark_the_originals_lid_line_is(model3d):
    """A man's lashes in a 512 px video read 0.28 and came out as black eyeliner (0.63 read on the output): the
    lash line is now drawn in proportion to the original's reading, at full strength from LID_FULL."""
    import streamanon.photometric.features as F

    pts = face_points(model3d, size=500.0, offset=50.0)
    plain = np.full((600, 600, 3), 200, np.uint8)
    assert F.lid_darkness(plain, pts) == pytest.approx(0.0, abs=0.01)
    assert F.lid_darkness(plain, pts * 0.02) is None  # eyes too small to read

    def lined(grey: int) -> np.ndarray:
        image = plain.copy()
        for eye in F.eye_indices():
            up = F._eye_arcs(pts[eye.contour])[0]
            width = float(np.ptp(pts[eye.contour][:, 0]))
            cv2.polylines(image, [np.round(up - (0, 0.03 * width)).astype(np.int32)], False, (grey,) * 3,
                          max(1, round(0.06 * width)))
        return image

    made_up, soft = F.lid_darkness(lined(30), pts), F.lid_darkness(lined(150), pts)
    assert made_up > F.LID_FULL and 0.1 < soft < 0.5
    assert F.liner_strength(None) == 1.0 and F.liner_strength(made_up) == 1.0
    assert F.liner_strength(soft) == pytest.approx(soft / F.LID_FULL)
    assert F.liner_strength(0.0) == F.LINER_MIN

    def drawn(liner: float) -> float:  # the lid line of eyes drawn on plain skin, read back
        image = np.full((600, 600, 3), 0.78, np.float32)
        F.draw_eyes(image, pts, np.array([0.3, 0.2, 0.1], np.float32), 1.0, liner=liner)
        return F.lid_darkness(np.round(image * 255).astype(np.uint8), pts)

    full, faint = drawn(1.0), drawn(F.liner_strength(soft))
    assert full > F.LID_FULL  # a made-up original's lash line, as drawn before
    # a soft original's: lighter, and nearer the original's reading (the top of the eye opening, in the band
    # too, keeps the drawn reading above about 0.5)
    assert faint < full - 0.15 and abs(faint - soft) < abs(full - soft)


def test_the_model_faces_hollows_are_its_eye_sockets_and_mouth_corners_not_its_nose_or_forehead(model3d):
    from streamanon.photometric.relight import cavity

    depth = cavity(model3d, U.vertex_normals(model3d, U.default_layout().tris))
    sockets, corners = depth[[133, 362]], depth[[61, 291]]  # inner eye corners, mouth corners
    bumps = depth[[1, 4, 10, 151]]  # nose tip, its ridge, forehead
    assert sockets.min() > 5 * bumps.max() and corners.min() > 3 * bumps.max()
    assert (depth >= 0).all()


def test_relief_shades_the_eye_sockets_and_keeps_the_skins_brightness_and_the_lights_direction(model3d):
    """Ambient occlusion on the new face: its hollows darker, its skin as bright and its light as before."""
    pts = face_points(model3d)
    light = np.r_[1 / 0.282095, 0.35, -0.5, 0.9, np.zeros(5)]
    albedo = np.full((64, 64, 3), 1.0, np.float32)
    hollows = S.occlusion(model3d)
    rgb = np.full((500, 500, 3), 90, np.uint8)
    p = S.make_patch(rgb, pts, pts, model3d, 1, albedo, noise_texture(np.random.default_rng(0), 64))
    p.sh = light
    S.render(p, np.array([0.5, 0.35, 0.3], np.float32), hollows=hollows)
    flat = p.render.copy()
    S.relief(p)
    grey = lambda img: srgb_to_linear(img * 255.0) @ np.array([0.2126, 0.7152, 0.0722])  # noqa: E731
    x0, y0 = p.roi[:2]
    socket = tuple(np.round(pts[133, ::-1] - (y0, x0)).astype(int))
    assert grey(p.render)[socket] < 0.85 * grey(flat)[socket]
    assert grey(p.render)[p.skin].mean() == pytest.approx(grey(flat)[p.skin].mean(), rel=0.01)
    rgb[y0:y0 + p.render.shape[0], x0:x0 + p.render.shape[1]][p.covered] = \
        (p.render[p.covered] * 255).round().astype(np.uint8)
    q = S.make_patch(rgb, pts, pts, model3d, 1, albedo, p.noise)
    S.measure(q, S.PhotometricSettings(light_side=400))
    u, v = light_direction(light), light_direction(q.sh)
    assert np.degrees(np.arccos(u @ v / np.linalg.norm(u) / np.linalg.norm(v))) < 5.0


def test_the_texture_fit_leaves_out_training_faces_with_glasses():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    import fit_texture_model as fit

    from streamanon.photometric.features import eye_indices

    res = 160
    rng = np.random.default_rng(0)
    plain = np.clip(1.0 + 0.01 * rng.standard_normal((res, res, 1)), 0, 2).repeat(3, -1).astype(np.float32)
    glasses = plain.copy()
    uv = U.default_layout().uv
    for eye in eye_indices():  # a dark rim round each eye, two texels wide
        contour = uv[eye.contour] * res
        centre, half = contour.mean(0), np.ptp(contour, 0) / 2
        cv2.ellipse(glasses, (int(centre[0]), int(centre[1])), (int(1.8 * half[0]), int(3.5 * half[1])), 0, 0, 360,
                    (0.4, 0.4, 0.4), 2)
    assert fit.marks_score(plain, res)[0] < fit.MARKED[0]
    assert fit.marks_score(glasses, res)[0] > fit.MARKED[0]
