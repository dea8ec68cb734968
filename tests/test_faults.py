"""Injected faults end in their documented outcome (issue 12; the full table is tools/fault_table.py)."""

from __future__ import annotations

import sys

from streamanon.faces.analyze import AnalyzerSettings, FaceAnalyzer
from streamanon.faces.landmarks import MeshEstimator
from streamanon.faces.track import iou

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "tools"))
import fault_table  # noqa: E402


def test_a_failing_face_mesh_leaves_every_face_covered_from_its_box(frame_and_faces, monkeypatch):
    rgb, found = frame_and_faces

    def broken(self, *args, **kwargs):
        raise RuntimeError("graph failed")

    monkeypatch.setattr(MeshEstimator, "estimate", broken)
    analyzer = FaceAnalyzer(AnalyzerSettings(detect_every=4))
    try:
        for _ in range(9):  # detector frames and the frames between
            faces = analyzer.analyze(rgb)
            assert len(faces) >= 1 and not faces.has_mesh.any()
            assert iou(found.boxes[:1], faces.boxes).max() > 0.2
    finally:
        analyzer.close()
    assert analyzer.mesh_errors > 0


def test_an_altered_detector_model_stops_the_run_before_any_file_exists(tmp_path):
    r = fault_table._model_case("model-altered", tmp_path, lambda b: b[:5000] + bytes([b[5000] ^ 1]) + b[5001:])
    assert r.ok, r.observed


def test_a_reader_that_closes_the_pipe_ends_the_run_with_one_line(tmp_path):
    r = fault_table._stdout_closed(tmp_path)
    assert r.ok, r.observed
