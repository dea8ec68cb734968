"""streamanon.metrics on synthetic cases whose answer is known. The only face is skimage's public-domain
astronaut; nothing here needs ../shared."""

from __future__ import annotations

import json
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from skimage import color, data

from streamanon.metrics import face as F
from streamanon.metrics import photometry as P
from streamanon.metrics import video as V
from streamanon.metrics.evaluate import FaceScores, observe_original, score_faces
from streamanon.metrics.judges import get_judges
from streamanon.metrics.summary import identify, radar, summarize


@pytest.fixture(scope="module")
def judges():
    return get_judges()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut())


@pytest.fixture(scope="module")
def original(astronaut, judges):
    """(faces HOG finds with mesh and descriptor, mean 3-D face) of the astronaut."""
    obs = observe_original(astronaut, judges)
    assert len(obs) == 1 and obs[0].mesh is not None and obs[0].descriptor is not None
    return obs, F.mean_face([obs[0].mesh])


def score(astronaut, output, original, judges):
    obs, model = original
    scores, _ = score_faces(astronaut, output, obs, judges, model, "astronaut.png")
    return scores[0]


def lab_shift(rgb: np.ndarray, dl: float) -> np.ndarray:
    lab = color.rgb2lab(rgb)
    lab[..., 0] += dl
    return np.round(np.clip(color.lab2rgb(lab), 0, 1) * 255).astype(np.uint8)


def rotate(rgb: np.ndarray, degrees: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    return cv2.warpAffine(rgb, cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0), (w, h),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


# --- the judges on known cases ------------------------------------------------------------------------------

def test_identical_images_give_zero_errors_and_full_reidentification(astronaut, original, judges):
    s = score(astronaut, astronaut.copy(), original, judges)
    assert s.reid_distance == pytest.approx(0.0, abs=1e-9) and s.reidentified and s.detected and s.mesh_found
    for key in ("nme", "nme_lips", "nme_eyes", "nme_brows", "pose_error", "light_angle", "light_rel_l2",
                "ciede2000"):
        assert getattr(s, key) == pytest.approx(0.0, abs=1e-6), key
    assert s.sharpness_ratio == pytest.approx(1.0)
    assert s.mouth_open_anonymized == pytest.approx(s.mouth_open_original)
    summary = summarize([s])
    assert summary["reid_rate"] == 1.0 and summary["detectability"] == 1.0 and summary["mesh_redetected"] == 1.0
    assert radar(summary)["colour"] == 1.0 and radar(summary)["privacy"] == 0.0


def test_identical_images_are_rank1_in_a_gallery(astronaut, judges):
    flipped = np.ascontiguousarray(astronaut[:, ::-1])  # a second gallery entry (the same person, mirrored)
    scores = []
    for name, img in (("a", astronaut), ("b", flipped)):
        obs = observe_original(img, judges)
        scores += score_faces(img, img.copy(), obs, judges, None, name, thumbs=False)[0]
    identify(scores)
    assert [s.rank1 for s in scores] == [True, True]
    assert summarize(scores)["rank1_rate"] == 1.0
    assert summarize(scores)["reid_chance"] == 1.0  # the "other" entry is the same person: a match


def test_heavy_blur_lowers_detectability(astronaut, original, judges):
    sharp = score(astronaut, astronaut.copy(), original, judges)
    blurred = score(astronaut, cv2.GaussianBlur(astronaut, (0, 0), 8), original, judges)
    assert sharp.detected and not blurred.detected
    assert summarize([blurred])["detectability"] < summarize([sharp])["detectability"]
    assert blurred.sharpness_ratio < 0.05


def test_lightness_shift_gives_the_expected_ciede2000(astronaut, original, judges):
    obs, _ = original
    s = score(astronaut, lab_shift(astronaut, 10.0), original, judges)
    g, ref = obs[0].reference  # the original's mean skin colour
    mean_l = ref.lab[0] + 5.0  # CIEDE2000 for a pure lightness change: dL / S_L at the mean lightness
    s_l = 1 + 0.015 * (mean_l - 50) ** 2 / np.sqrt(20 + (mean_l - 50) ** 2)
    assert s.ciede2000 == pytest.approx(10.0 / s_l, abs=0.5)
    assert s.light_angle < 10  # brighter, but lit from the same side


def test_skin_colour_is_measured_above_the_nose_tip_where_no_beard_grows(astronaut, original, judges):
    obs, _ = original
    mesh = obs[0].mesh
    bearded = astronaut.copy()  # a dark lower face (a beard) changes the skin colour not at all
    bearded[int(mesh[1, 1]) + 1:] //= 3
    assert score(astronaut, bearded, original, judges).ciede2000 == pytest.approx(0.0, abs=1e-6)
    g, _ = obs[0].reference
    x0, y0, x1, y1 = g.roi
    rows = g.colour_pixels // (x1 - x0)
    assert len(rows) > 50 and rows.max() < mesh[1, 1] - y0


def test_in_plane_rotation_changes_roll_by_the_angle(astronaut, original, judges):
    obs, model = original
    turned = judges.mesh(rotate(astronaut, 12.0), obs[0].box)
    assert turned is not None
    before = F.head_pose(obs[0].mesh, model, astronaut.shape)
    after = F.head_pose(turned, model, astronaut.shape)
    # cv2 turns the picture counter-clockwise on screen: with y down that is a roll of -12 degrees
    assert after.roll - before.roll == pytest.approx(-12.0, abs=1.5)
    assert F.angle_difference(after.yaw, before.yaw) < 2 and F.angle_difference(after.pitch, before.pitch) < 2
    s = score(astronaut, rotate(astronaut, 12.0), original, judges)
    assert s.roll_error == pytest.approx(12.0, abs=1.5)


# --- pure functions ---------------------------------------------------------------------------------------------

def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    y, p, r = np.radians([yaw, pitch, roll])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    return rz @ ry @ rx


@pytest.mark.parametrize("angles", [(0, 0, 0), (20, 0, 0), (0, -15, 0), (0, 0, 30), (-25, 10, -8)])
def test_head_pose_recovers_a_projected_pose(original, angles):
    _, model = original
    k = F.camera_matrix(480, 640)
    cam = model @ rotation(*angles).T + (0.1, -0.05, 8.0)  # model units: one inter-ocular distance
    pts = cam @ k.T
    pose = F.head_pose(pts[:, :2] / pts[:, 2:], model, (480, 640))
    assert (pose.yaw, pose.pitch, pose.roll) == pytest.approx(angles, abs=0.1)


def test_mean_face_ignores_pose_and_scale(original):
    obs, model = original
    moved = 2.5 * obs[0].mesh @ rotation(15, -10, 20).T + (40, -7, 3)
    assert F.mean_face([moved]) == pytest.approx(model, abs=1e-6)


def test_umeyama_recovers_a_similarity():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(40, 2))
    a = np.radians(33)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    s, r, t = F.umeyama(src, 1.7 * src @ rot.T + (3, -2))
    assert s == pytest.approx(1.7) and r == pytest.approx(rot) and t == pytest.approx([3, -2])


def test_expression_error_ignores_a_similarity_but_not_an_open_mouth(original):
    mesh = original[0][0].mesh
    assert F.expression_errors(mesh, 0.5 * mesh + 9)["all"] == pytest.approx(0.0, abs=1e-9)
    opened = mesh.copy()
    opened[F.EXPRESSION_GROUPS["lips"], 1] += np.where(mesh[F.EXPRESSION_GROUPS["lips"], 1]
                                                       > mesh[F.LIP_LOWER_INNER, 1] - 1, 8.0, 0.0)
    e = F.expression_errors(mesh, opened)
    assert e["lips"] > 0.02 and e["lips"] > 3 * e["brows"]
    assert F.opening_ratios(opened)[0] > F.opening_ratios(mesh)[0]


def test_rank1_hits():
    gallery = np.eye(3)
    probes = np.array([[0.9, 0.1, 0], [0, 0, 1.0]])
    assert F.rank1_hits(probes, gallery, np.array([0, 1])).tolist() == [True, False]


def test_sh_fit_recovers_known_lighting():
    rng = np.random.default_rng(1)
    n = rng.normal(size=(5000, 3))
    n[:, 2] = -np.abs(n[:, 2])  # the visible hemisphere
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    coeffs = rng.normal(size=(9, 3)) * 0.1
    fitted = P.fit_sh(P.sh_basis(n) @ coeffs, n, ridge=0.0)
    assert fitted == pytest.approx(coeffs, abs=1e-6)
    lit = np.zeros((9, 3))
    lit[3] = 1.0  # light from +x
    lit2 = np.zeros((9, 3))
    lit2[1] = 1.0  # light from +y
    assert P.angle_degrees(P.light_direction(lit), P.light_direction(lit2)) == pytest.approx(90.0)
    assert P.angle_degrees(P.light_direction(lit), P.light_direction(np.zeros((9, 3)))) is None


def test_frechet_distance_of_a_shifted_gaussian():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(4000, 4))
    assert P.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert P.frechet_distance(a, a + (1, 0, 2, 0)) == pytest.approx(5.0, rel=1e-6)


def test_video_metric_functions():
    assert V.flicker_ratio(np.array([1.0, 1.0]), np.array([2.0, 2.0])) == 0.5
    assert V.flicker_ratio(np.array([1.0]), np.array([0.0])) is None
    assert V.descriptor_spread(np.ones((5, 128))) == pytest.approx(0.0)
    assert V.descriptor_spread(np.array([[0.0, 0], [2, 0]])) == pytest.approx(1.0)
    assert V.leaks([np.zeros(128)], [np.full(128, 0.01)]) and not V.leaks([np.zeros(128)], [np.ones(128)])
    ids, nxt = V.assign_tracks([np.array([0, 0, 10, 10.0])], [7], [np.array([20, 20, 30, 30.0]),
                                                                     np.array([1, 1, 11, 11.0])], 8)
    assert ids == [8, 7] and nxt == 9
    frame = np.zeros((4, 4, 3), np.uint8)
    mask = np.zeros((4, 4), bool)
    mask[:2] = True
    assert V.frame_change(frame, frame + 10, mask) == 10.0


# --- the command line -------------------------------------------------------------------------------------------

def write_images(folder, images: dict[str, np.ndarray]):
    folder.mkdir(parents=True, exist_ok=True)
    for name, rgb in images.items():
        cv2.imwrite(str(folder / name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return folder


def write_clip(path, frames: list[np.ndarray], fps: int = 10):
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=Fraction(fps), options={"crf": "12"})
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for rgb in frames:
            out.mux(s.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(s.encode())
    return path


def test_cli_scores_two_folders(tmp_path, astronaut, cli):
    a = write_images(tmp_path / "a", {"x.png": astronaut, "y.png": astronaut[:, ::-1]})
    blurred = cv2.GaussianBlur(astronaut, (0, 0), 8)
    b = write_images(tmp_path / "b", {"x.png": blurred, "y.png": np.ascontiguousarray(blurred[:, ::-1])})
    r = cli("eval", "--original", a, "--anonymized", b, "--json", tmp_path / "s.json", "--html", tmp_path / "r.html")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "s.json").read_text())
    assert report["summary"]["faces"] == 2 and report["summary"]["detectability"] == 0.0
    assert len(report["faces"]) == 2 and set(report["radar"]) == {"image quality", "privacy", "geometry",
                                                                   "lighting", "colour"}
    page = (tmp_path / "r.html").read_text()
    assert page.count("data:image/png;base64,") >= 3 and "Worst cases" in page


def test_cli_scores_two_videos(tmp_path, astronaut, cli):
    frames = [np.ascontiguousarray(np.roll(astronaut, 3 * i, axis=1)) for i in range(6)]
    a = write_clip(tmp_path / "a.mp4", frames)
    b = write_clip(tmp_path / "b.mp4", frames)  # an "anonymizer" that changes nothing leaks every frame
    r = cli("eval", "--original", a, "--anonymized", b, "--stride", "2", "--json", tmp_path / "v.json", "-q")
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "v.json").read_text())["summary"]
    assert s["frames_evaluated"] == 3 and s["leaked_frames"] == 3 and s["reid_rate"] == 1.0
    assert s["flicker"] == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("case, code, message", [
    ("missing", 3, "not found"),
    ("empty", 4, "no images"),
    ("unpaired", 4, "has the name of"),
    ("mixed", 4, "two folders of images or two videos"),
])
def test_cli_errors_are_one_line(tmp_path, astronaut, cli, case, code, message):
    a = write_images(tmp_path / "a", {"x.png": astronaut})
    b = tmp_path / "b"
    b.mkdir()
    if case == "missing":
        b = tmp_path / "nope"
    elif case == "empty":
        a = tmp_path / "empty"
        a.mkdir()
    elif case == "unpaired":
        write_images(b, {"other.png": astronaut})
    elif case == "mixed":
        b = write_clip(tmp_path / "b.mp4", [astronaut] * 2)
    r = cli("eval", "--original", a, "--anonymized", b)
    assert r.returncode == code
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_benchmark_runs_on_tiny_data(tmp_path, astronaut, cli):
    data_dir = tmp_path / "data"
    write_images(data_dir / "celebahq", {"x.png": astronaut, "y.png": np.ascontiguousarray(astronaut[::-1])})
    (data_dir / "videos").mkdir()
    write_clip(data_dir / "videos" / "c.mp4", [np.ascontiguousarray(np.roll(astronaut, 2 * i, 1)) for i in range(4)])
    out = tmp_path / "out"
    r = cli("eval", "--benchmark", "--data", data_dir, "--methods", "blur,mask", "--clips", "1", "--stride", "2",
            "--out", out, "-q", timeout=300)
    assert r.returncode == 0, r.stderr
    table = (out / "results.md").read_text()
    assert "| blur |" in table and "| mask |" in table and "## Clips" in table
    results = json.loads((out / "results.json").read_text())
    assert [m["name"] for m in results["methods"]] == ["blur", "mask"]
    assert results["methods"][0]["images"]["summary"]["faces"] >= 1
    assert (out / "report.html").stat().st_size > 1000


def test_a_gallery_of_other_people_counts_a_track_as_identified_only_when_its_own_original_is_nearest():
    rng = np.random.default_rng(0)
    person = rng.normal(0, 0.1, 128)
    frames = [FaceScores("clip", 0, frame=k, track=0, descriptor_original=person + rng.normal(0, 0.01, 128),
                         descriptor_anonymized=person + 0.5 * u) for k, u in enumerate(rng.normal(0, 0.1, (4, 128)))]
    identify(frames, key=lambda s: s.track)
    assert [s.rank1 for s in frames] == [None] * 4  # one person and no gallery: nothing to rank against
    strangers = rng.normal(0, 0.1, (50, 128))
    identify(frames, key=lambda s: s.track, extra=strangers)
    assert all(s.rank1 for s in frames) and frames[0].other_matches is None  # the outputs still look like him
    look_alike = person + rng.normal(0, 0.03, 128)  # someone else, near him
    for s in frames:
        s.descriptor_anonymized = look_alike + rng.normal(0, 0.005, 128)  # the outputs look like that one
    identify(frames, key=lambda s: s.track, extra=np.vstack([strangers, look_alike]))
    assert not any(s.rank1 for s in frames)


def test_cli_gallery_folder_errors_are_one_line(tmp_path, astronaut, cli):
    a = write_images(tmp_path / "a", {"x.png": astronaut})
    empty = tmp_path / "g"
    empty.mkdir()
    for folder, message in ((tmp_path / "nope", "gallery folder not found"), (empty, "no images in the gallery")):
        r = cli("eval", "--original", a, "--anonymized", a, "--gallery", folder)
        assert r.returncode in (3, 4) and message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_the_skin_colour_judge_reads_the_skin_under_a_fringe_not_the_fringe():
    rng = np.random.default_rng(4)
    skin = rng.normal([225, 180, 160], 5, (3000, 3)).clip(0, 255).astype(np.uint8)
    hair = rng.normal([95, 58, 36], 8, (1500, 3)).clip(0, 255).astype(np.uint8)
    pixels = np.concatenate([skin, hair])
    truth = color.rgb2lab(skin.reshape(-1, 1, 3)).reshape(-1, 3).mean(0)
    measured = P.skin_lab(pixels, skin[:500])
    assert P.ciede2000(measured, truth) < 0.5
    plain = color.rgb2lab(pixels.reshape(-1, 1, 3)).reshape(-1, 3).mean(0)
    assert P.ciede2000(plain, truth) > 5  # the plain mean read the hair as skin
    assert np.allclose(P.skin_lab(pixels, skin[:10]), plain)  # too small a reference: the plain mean
