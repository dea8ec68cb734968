"""Anonymizer on numpy frames: finds the face, covers it, coasts through misses, fails closed."""

import numpy as np
import pytest

from streamanon import Anonymizer
from streamanon.errors import InputInvalid
from streamanon.faces.analyze import AnalyzerSettings, FaceAnalyzer

skimage_data = pytest.importorskip("skimage.data")

FACE = (slice(40, 170), slice(160, 260))  # the astronaut's face in skimage's 512x512 image


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(skimage_data.astronaut())


@pytest.fixture(scope="module")
def anonymizer():
    a = Anonymizer(method="blur")
    yield a
    a.close()


def test_face_is_found_and_covered(anonymizer, astronaut):
    anonymizer.reset()
    before = astronaut.copy()
    out = anonymizer(astronaut)
    np.testing.assert_array_equal(astronaut, before)  # the caller's frame is not modified
    faces = anonymizer.last_faces
    assert len(faces) == 1 and faces.has_mesh[0]
    diff = np.abs(out.astype(int) - astronaut.astype(int)).sum(2)
    assert (diff[FACE] > 0).mean() > 0.8
    assert (diff[400:, :100] == 0).all()  # far from the face


def test_landmarks_lie_on_the_face(anonymizer, astronaut):
    anonymizer.reset()
    anonymizer(astronaut)
    lm = anonymizer.last_faces.landmarks[0]
    cx, cy = lm.mean(0)
    assert 160 < cx < 260 and 40 < cy < 170


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32), "frame"])
def test_rejects_what_is_not_an_rgb_frame(anonymizer, bad):
    with pytest.raises(InputInvalid):
        anonymizer(bad)


def test_lost_face_coasts_until_two_detector_runs_miss_it(astronaut):
    analyzer = FaceAnalyzer(AnalyzerSettings(detect_every=3))
    try:
        for _ in range(3):
            assert len(analyzer.analyze(astronaut)) == 1
        hidden = astronaut.copy()
        hidden[:260, 120:330] = 128  # the head vanishes (occlusion, detector miss)
        seen = [analyzer.analyze(hidden) for _ in range(8)]
        # two detector runs miss it (frames 1 and 4), and it coasts two detector intervals (6 frames) at least
        assert [len(f) for f in seen] == [1, 1, 1, 1, 1, 0, 0, 0]
        assert all(f.coasting.all() for f in seen[:5])
        # the coasting region still covers where the face was, and never grows past 1.5x the face
        x0, y0, x1, y1 = seen[0].boxes[0]
        assert x0 < 180 and x1 > 240 and y0 < 80 and y1 > 150
        for f in seen[:3]:
            assert np.all(f.boxes[0, 2:] - f.boxes[0, :2] <= 1.5 * (seen[0].boxes[0, 2:] - seen[0].boxes[0, :2]))
    finally:
        analyzer.close()


def test_tracks_keep_their_id(astronaut):
    analyzer = FaceAnalyzer(AnalyzerSettings(detect_every=2))
    try:
        ids = []
        for dx in range(0, 40, 4):
            frame = np.roll(astronaut, dx, axis=1)
            ids.append(int(analyzer.analyze(frame).track_ids[0]))
        assert len(set(ids)) == 1
    finally:
        analyzer.close()


def _mesh_calls(analyzer: FaceAnalyzer, frames: list[np.ndarray]) -> tuple[int, list]:
    from streamanon.faces.landmarks import MeshEstimator

    calls = 0
    original = MeshEstimator.estimate

    def counting(self, *a, **k):
        nonlocal calls
        calls += 1
        return original(self, *a, **k)

    MeshEstimator.estimate = counting
    try:
        faces = [analyzer.analyze(f) for f in frames]
    finally:
        MeshEstimator.estimate = original
    return calls, faces


def test_a_steady_small_face_is_meshed_every_other_frame_a_large_or_moving_one_every_frame(astronaut):
    """A face of EXPRESSIVE_MIN px or more is meshed on every frame: its mouth opens on the frame the person's
    does (skipped, retalk_1's stayed shut for a frame)."""
    import cv2

    from streamanon.faces.analyze import EXPRESSIVE_MIN

    analyzer = FaceAnalyzer(AnalyzerSettings(mesh_every=2))
    try:
        small = np.zeros_like(astronaut)
        small[128:384, 128:384] = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
        steady, faces = _mesh_calls(analyzer, [small] * 12)
        assert all(len(f) == 1 and not f.coasting.any() for f in faces)
        assert float(np.ptp(faces[0].landmarks[0][:, 1])) < EXPRESSIVE_MIN
        assert steady <= 8  # 12 frames, about half of them meshed
        analyzer.reset()
        large, faces = _mesh_calls(analyzer, [astronaut] * 12)
        assert float(np.ptp(faces[0].landmarks[0][:, 1])) >= EXPRESSIVE_MIN and large >= 12
        analyzer.reset()
        # 6 px per frame, about 5% of the face: always measured, never left to the prediction
        moving, faces = _mesh_calls(analyzer, [np.roll(astronaut, 6 * i, axis=1) for i in range(12)])
        assert all(len(f) == 1 for f in faces) and moving >= 12
    finally:
        analyzer.close()


def test_failed_analysis_covers_the_whole_frame(astronaut):
    from streamanon.anonymize import CoverSettings, make_cover
    from streamanon.pipeline import Pipeline
    from streamanon.stats import Stats
    from streamanon.types import Frame

    class Broken:
        total_tracks = 0

        def analyze(self, rgb):
            raise RuntimeError("detector crashed")

    stats = Stats()
    written = []
    frames = [Frame(i, astronaut.copy(), pts=i) for i in range(3)]
    Pipeline(Broken(), make_cover(CoverSettings()), stats).run(frames, written.append, lambda _: None)
    assert [f.index for f in written] == [0, 1, 2]
    assert stats.failed_frames == 3
    for f in written:  # nothing of the original detail survives anywhere
        assert np.abs(np.diff(f.rgb[FACE].astype(int), axis=1)).mean() < 2


class _FixedAnalyzer:
    """The astronaut's faces on every frame (no detector in the way)."""

    total_tracks = 1

    def __init__(self, faces):
        self.faces = faces

    def analyze(self, rgb):
        return self.faces


def test_the_generated_face_runs_in_two_threads_with_the_same_output_as_in_one(astronaut):
    """The pipeline runs the generator's prepare and finish halves in two threads; the frames come out in
    order and as ``apply`` makes them one by one."""
    from streamanon.anonymize import CoverSettings, make_cover
    from streamanon.generate import GenerateSettings
    from streamanon.pipeline import Pipeline
    from streamanon.stats import Stats
    from streamanon.types import Frame

    analyzer = FaceAnalyzer()
    faces = analyzer.analyze(astronaut)
    analyzer.close()
    frames = [np.roll(astronaut, 3 * i, axis=1) for i in range(5)]
    one = make_cover(CoverSettings(method="generate"), GenerateSettings())
    expected = []
    for rgb in frames:
        out = rgb.copy()
        one(out, faces)
        expected.append(out)
    cover = make_cover(CoverSettings(method="generate"), GenerateSettings())
    pipeline = Pipeline(_FixedAnalyzer(faces), cover, Stats())
    assert pipeline.halves is cover.__self__
    written = []
    pipeline.run([Frame(i, f.copy(), pts=i) for i, f in enumerate(frames)], written.append, lambda _: None)
    assert [f.index for f in written] == list(range(5))
    for f, want in zip(written, expected):
        np.testing.assert_array_equal(f.rgb, want)


def test_a_frame_whose_second_half_fails_is_covered_whole(astronaut, monkeypatch):
    from streamanon.anonymize import CoverSettings, make_cover
    from streamanon.generate import FaceGenerator, GenerateSettings
    from streamanon.pipeline import Pipeline
    from streamanon.stats import Stats
    from streamanon.types import Frame

    analyzer = FaceAnalyzer()
    faces = analyzer.analyze(astronaut)
    analyzer.close()

    def broken(self, rgb, plan):
        raise RuntimeError("finish crashed")

    monkeypatch.setattr(FaceGenerator, "finish", broken)
    stats, written = Stats(), []
    cover = make_cover(CoverSettings(method="generate"), GenerateSettings())
    Pipeline(_FixedAnalyzer(faces), cover, stats).run([Frame(i, astronaut.copy(), pts=i) for i in range(3)],
                                                     written.append, lambda _: None)
    assert [f.index for f in written] == [0, 1, 2] and stats.failed_frames == 3
    for f in written:
        assert np.abs(np.diff(f.rgb[FACE].astype(int), axis=1)).mean() < 2


@pytest.mark.parametrize("env, expected", [({}, 1), ({"OPENBLAS_NUM_THREADS": "2"}, 2)])
def test_numpy_imported_first_still_gets_one_blas_thread_unless_the_caller_chose(env, expected):
    import os
    import subprocess
    import sys

    code = ("import numpy, streamanon\n"
            "from threadpoolctl import threadpool_info\n"
            "print(max(i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'))")
    clean = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                         check=True)
    assert int(out.stdout.strip()) == min(expected, os.cpu_count() or 1)
