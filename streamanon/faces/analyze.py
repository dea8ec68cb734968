"""Per-frame face analysis: detect every k frames, mesh each face on its crop, track and smooth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..types import Faces
from .detect import FaceDetector, nms
from .landmarks import N_POINTS, MeshEstimator, landmark_box, roll_degrees
from .track import KalmanPoints, NoFilter, Track, greedy_match, iou


@dataclass
class AnalyzerSettings:
    """How faces are found and followed.

    detect_every: run the detector every k frames (and on any frame where a track was missed).
    mesh_every: a steady, slowly moving face gets its mesh every k frames; in between, its landmarks are
    the Kalman prediction (1: every frame).
    tile_every: also detect on near-square tiles (2 x 1 for 16:9) every k frames and when a face is lost,
    for faces too small for the full-frame pass (0: off).
    max_coast: frames a lost face stays covered from its prediction before its track ends.
    threshold: detector confidence.
    smoothing: Kalman smoothing of landmarks (off: raw measurements).
    """

    detect_every: int = 3
    mesh_every: int = 2
    tile_every: int = 8
    max_coast: int = 12
    threshold: float = 0.5
    smoothing: bool = True

    def __post_init__(self) -> None:
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {self.detect_every}")
        if self.mesh_every < 1:
            raise ValueError(f"mesh_every must be >= 1, got {self.mesh_every}")
        if self.max_coast < 0:
            raise ValueError(f"max_coast must be >= 0, got {self.max_coast}")


def _box_center_size(box: np.ndarray) -> tuple[np.ndarray, float]:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]), float(max(box[2] - box[0],
                                                                             box[3] - box[1]))


# a face skips its mesh only while its landmarks move less than this share of its size per frame
STEADY_SPEED = 0.02
# faces with their own tracking-mode mesh estimator; more faces at once share the static one
MAX_TRACKING_MESHES = 8


def detection_region(box: np.ndarray) -> np.ndarray:
    """Whole-face box from a detector box (which spans brows to mouth): wider, taller, up to the hairline."""
    c, _ = _box_center_size(box)
    w, h = box[2] - box[0], box[3] - box[1]
    return np.array([c[0] - 0.65 * w, c[1] - 0.85 * h, c[0] + 0.65 * w, c[1] + 0.7 * h], np.float32)


class FaceAnalyzer:
    """Stateful: owns the detector, the mesh estimator and the tracks of one stream.

    ``analyze(rgb)`` returns the Faces of that frame (frames must come in order).
    """

    def __init__(self, settings: AnalyzerSettings | None = None):
        self.settings = settings or AnalyzerSettings()
        self.detector = FaceDetector(threshold=self.settings.threshold)
        self.mesh = MeshEstimator()
        self._track_mesh: dict[int, MeshEstimator] = {}
        self._spare_mesh: list[MeshEstimator] = []
        self._frame = 0
        self.tracks: list[Track] = []
        self._next_id = 0
        self._since_detect = 10**9
        self._since_tiles = 10**9
        self._emitted: set[int] = set()
        self.total_tracks = 0  # distinct track ids ever output

    def reset(self) -> None:
        """Forget all tracks (a new scene, or the next unrelated image)."""
        self.tracks = []
        self._since_detect = 10**9
        self._release_meshes()

    def _new_filter(self, points: np.ndarray):
        return KalmanPoints(points) if self.settings.smoothing else NoFilter(points)

    def _new_track(self, points: np.ndarray, has_mesh: bool, score: float) -> Track:
        t = Track(id=self._next_id, filter=self._new_filter(points), has_mesh=has_mesh, score=score)
        self._next_id += 1
        return t

    def analyze(self, rgb: np.ndarray) -> Faces:
        s = self.settings
        for t in self.tracks:
            t.filter.predict(damping=1.0 if t.misses == 0 else 0.5)
            t.seen = False
        self._since_detect += 1
        must_detect = (self._since_detect >= s.detect_every or not self.tracks
                       or any(t.misses > 0 for t in self.tracks))
        self._frame += 1
        skip = [self._may_skip_mesh(t) for t in self.tracks]
        meshed = [None if sk else self._mesh_track(rgb, t) for t, sk in zip(self.tracks, skip)]
        # a track lost now (a scene cut, a fast turn): look for the face on this very frame
        lost = any(p is None and t.has_mesh and not sk for p, t, sk in zip(meshed, self.tracks, skip))
        must_detect = must_detect or lost
        det_boxes = np.zeros((0, 4), np.float32)
        det_scores = np.zeros((0,), np.float32)
        if must_detect:
            det_boxes, det_scores = self.detector.detect(rgb)
            self._since_detect = 0
        self._since_tiles += 1
        if s.tile_every and (self._since_tiles >= s.tile_every or lost) and min(rgb.shape[:2]) >= 256:
            tb, ts = self.detector.detect_tiles(rgb)
            sure = ts >= max(0.65, s.threshold)  # tiles see more background: ask for more confidence
            tb, ts = tb[sure], ts[sure]
            det_boxes, det_scores = nms(np.concatenate([det_boxes, tb]), np.concatenate([det_scores, ts]))
            self._since_tiles = 0
        for t in self.tracks:  # faces too small for the mesh: follow them with a local detection
            if not t.has_mesh and not any(iou(t.box()[None], detection_region(b)[None])[0, 0] > 0.2
                                          for b in det_boxes):
                lb, ls = self.detector.detect_around(rgb, t.box())
                if len(lb):
                    det_boxes = np.concatenate([det_boxes, lb[:1]])
                    det_scores = np.concatenate([det_scores, ls[:1]])
        regions = np.array([detection_region(b) for b in det_boxes], np.float32).reshape(-1, 4)
        track_boxes = np.array([t.box() for t in self.tracks], np.float32).reshape(-1, 4)
        matches = greedy_match(iou(track_boxes, regions), min_score=0.2)
        matched_det = {d: ti for ti, d in matches}

        for ti, t in enumerate(self.tracks):
            if skip[ti]:  # steady face between two meshes: it stays at its prediction
                t.age += 1
                t.seen = True
                continue
            det = next((d for tj, d in matches if tj == ti), None)
            pts = meshed[ti]
            if pts is None and det is not None:  # re-try from the fresh detection
                center, size = _box_center_size(det_boxes[det])
                pts = self.mesh.estimate(rgb, center, 2.2 * size)
            self._measure(t, pts, regions[det] if det is not None else None,
                          det_scores[det] if det is not None else None)

        for d in range(len(det_boxes)):
            if d in matched_det:
                continue
            center, size = _box_center_size(det_boxes[d])
            pts = self.mesh.estimate(rgb, center, 2.2 * size)
            if pts is not None:
                self.tracks.append(self._new_track(pts, True, float(det_scores[d])))
            else:
                corners = regions[d].reshape(2, 2)
                self.tracks.append(self._new_track(corners, False, float(det_scores[d])))

        self._dedupe()
        self.tracks = [t for t in self.tracks if t.misses <= s.max_coast]
        self._release_meshes({t.id for t in self.tracks})
        return self._faces()

    def _may_skip_mesh(self, t: Track) -> bool:
        """A face meshed on the last frame, moving slowly, on its off-frame of ``mesh_every``."""
        k = self.settings.mesh_every
        if k <= 1 or not t.has_mesh or t.misses or t.age < 3 or (self._frame + t.id) % k == 0:
            return False
        velocity = getattr(t.filter, "state", None)
        if velocity is None:
            return False
        _, size = _box_center_size(t.box())
        speed = float(np.abs(velocity[1]).reshape(-1, 2).max())
        return speed < STEADY_SPEED * size

    def _mesh_track(self, rgb: np.ndarray, t: Track) -> np.ndarray | None:
        """Landmarks of a mesh track on its predicted crop, or None (lost, or a track without mesh)."""
        if not t.has_mesh:
            return None
        center, size = _box_center_size(t.box())
        return self._mesher(t.id).estimate(rgb, center, 1.6 * size, roll_degrees(t.points))

    def _mesher(self, track_id: int) -> MeshEstimator:
        """The track's own tracking-mode estimator (from the spares, or new), or the shared static one."""
        if track_id not in self._track_mesh:
            if not self._spare_mesh and len(self._track_mesh) >= MAX_TRACKING_MESHES:
                return self.mesh
            self._track_mesh[track_id] = (self._spare_mesh.pop() if self._spare_mesh
                                          else MeshEstimator(tracking=True))
        return self._track_mesh[track_id]

    def _release_meshes(self, live: set[int] | None = None) -> None:
        for tid in [t for t in self._track_mesh if live is None or t not in live]:
            self._spare_mesh.append(self._track_mesh.pop(tid))

    def _measure(self, t: Track, pts: np.ndarray | None, region: np.ndarray | None,
                 score: float | None) -> None:
        t.age += 1
        if pts is not None:
            if not t.has_mesh:
                t.filter, t.has_mesh = self._new_filter(pts), True
            else:
                t.filter.update(pts)
        elif region is not None:
            corners = region.reshape(2, 2)
            if t.has_mesh:  # keep covering the face the mesh lost, from the detector's box
                t.filter, t.has_mesh = self._new_filter(corners), False
            else:
                t.filter.update(corners)
        else:
            t.misses += 1
            return
        t.misses, t.seen = 0, True
        t.hits += 1
        if score is not None:
            t.score = float(score)

    def _dedupe(self) -> None:
        """Two tracks on one face: keep the one seen this frame, then the older one."""
        order = sorted(self.tracks, key=lambda t: (not t.seen, t.id))
        kept: list[Track] = []
        for t in order:
            box = t.box()[None]
            if kept and iou(box, np.array([k.box() for k in kept])).max() > 0.5:
                continue
            kept.append(t)
        self.tracks = sorted(kept, key=lambda t: t.id)

    def _faces(self) -> Faces:
        n = len(self.tracks)
        self._emitted.update(t.id for t in self.tracks)
        self.total_tracks = len(self._emitted)
        boxes = np.zeros((n, 4), np.float32)
        lms = np.full((n, N_POINTS, 2), np.nan, np.float32)
        for i, t in enumerate(self.tracks):
            if t.has_mesh:
                lms[i] = t.points
                boxes[i] = landmark_box(t.points)
            else:
                boxes[i] = t.box()
            if t.misses:  # coasting: widen with the time since it was last seen
                c, _ = _box_center_size(boxes[i])
                half = (boxes[i, 2:] - boxes[i, :2]) / 2 * min(1.0 + 0.05 * t.misses, 1.4)
                boxes[i] = np.concatenate([c - half, c + half])
        return Faces(boxes=boxes, landmarks=lms,
                     track_ids=np.array([t.id for t in self.tracks], np.int64),
                     coasting=np.array([t.misses > 0 for t in self.tracks], bool),
                     scores=np.array([t.score for t in self.tracks], np.float32))

    def close(self) -> None:
        self.detector.close()
        self.mesh.close()
        self._release_meshes()
        for m in self._spare_mesh:
            m.close()
        self._spare_mesh = []
