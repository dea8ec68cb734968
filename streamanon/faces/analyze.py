"""Per-frame face analysis: CenterFace every k frames on the whole frame, a mesh on each face big enough for
one, tracks between detections.

Faces of at least ``mesh_min`` px get MediaPipe's 478-point mesh on their own crop every frame (tracking mode)
and speed-adaptive smoothing of the landmarks. Smaller faces are box tracks: measured on detection frames, predicted in
between (``Lookahead`` replaces the prediction by the path between two detections, and covers a new face on
the frames before its first detection). A face the detector stops finding is covered along its prediction
(coasting, at most 1.5x its size) until it leaves the frame or two detector runs in a row find nothing there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..types import Faces
from .centerface import CenterFace
from .landmarks import N_POINTS, MeshEstimator, landmark_box, roll_degrees
from .motion import CameraMotion
from .track import MAX_BOX_SPEED, AdaptivePoints, BoxPath, NoFilter, Track, containment, greedy_match, iou

log = logging.getLogger(__name__)


@dataclass
class AnalyzerSettings:
    """How faces are found and followed.

    detect_every: run the detector every k frames (and on the frame a face's mesh is lost).
    mesh_every: a steady, slowly moving face under EXPRESSIVE_MIN px gets its mesh every k frames; in between,
    its landmarks are their prediction along the smoothed velocity (1: every frame).
    mesh_min: faces shorter than this (px, detector box) are box tracks, covered from their box.
    max_missed_runs: a face the detector misses this many runs in a row ends (it is covered until then).
    threshold: detector confidence.
    detect_side: the detector sees frames shrunk to this longer side at most (default: none up to 8K; frames
    longer than centerface.TILE are run in tiles at their own resolution).
    smoothing: speed-adaptive smoothing of landmarks (off: raw measurements).
    """

    detect_every: int = 8
    mesh_every: int = 2
    mesh_min: int = 56
    max_missed_runs: int = 2
    threshold: float = 0.2
    detect_side: int = 8192
    smoothing: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.detect_every <= 60:
            raise ValueError(f"--detect-every must be in [1, 60], got {self.detect_every}")
        if self.mesh_every < 1:
            raise ValueError(f"mesh_every must be >= 1, got {self.mesh_every}")
        if self.max_missed_runs < 1:
            raise ValueError(f"max_missed_runs must be >= 1, got {self.max_missed_runs}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"--threshold must be in (0, 1), got {self.threshold}")
        if not 64 <= self.detect_side <= 8192:
            raise ValueError(f"--detect-size must be in [64, 8192], got {self.detect_side}")
        if not 0 <= self.mesh_min <= 4096:
            raise ValueError(f"--mesh-min must be in [0, 4096], got {self.mesh_min}")


def _box_center_size(box: np.ndarray) -> tuple[np.ndarray, float]:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]), float(max(box[2] - box[0],
                                                                             box[3] - box[1]))


# a face skips its mesh only while its landmarks move less than this share of its size per frame
STEADY_SPEED = 0.02
# a face this tall (px) or more is meshed on every frame, however still: its mouth and eyes must follow speech and
# blinks. Skipped on every other frame, retalk_1's predicted mouth stayed shut on the frame it opened (opening 0.013
# against 0.135) and the new mouth lagged his speech. Smaller faces keep ``mesh_every``: meshing the stadium's
# 40-60 px faces on every frame changed which tracks its crowd's detections went to, and left two faces bare
EXPRESSIVE_MIN = 100
# faces with their own tracking-mode mesh estimator; more faces at once share the static one
MAX_TRACKING_MESHES = 8
# a coasting face's box grows with the frames since it was last seen, up to this factor; it is covered
# COAST_MARGIN (anonymize.py, 1.15) wider, so its cover stays within 1.5x the cover of the face it tracked
MAX_COAST_GROWTH = 1.3
# detections down to this share of the threshold keep an existing track alive (not start one)
KEEP_RATIO = 0.3
# a detection down to this share of the threshold starts a track when the run before found one there too
CONFIRM_RATIO = 0.5
# px a frame that any face may move, however small (see _confirmed)
MIN_REACH_PX = 8.0
# a half-resolution detector run counts a miss only for regions this tall (px) or more: smaller faces are
# left to the full runs
HALF_MIN = 48


def detection_region(box: np.ndarray) -> np.ndarray:
    """Whole-face region from a CenterFace box (brows to chin): a little wider, up to the hairline."""
    return detection_regions(np.asarray(box, np.float32).reshape(1, 4))[0]


def detection_regions(boxes: np.ndarray) -> np.ndarray:
    """``detection_region`` of each of ``boxes`` (N, 4)."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    return np.stack([cx - 0.65 * w, cy - 0.7 * h, cx + 0.65 * w, cy + 0.65 * h], 1).astype(np.float32)


def association(tracks: np.ndarray, regions: np.ndarray, reach: float | np.ndarray = 2.5) -> np.ndarray:
    """(T, D) match scores in [0, 1]: the IoU, or for boxes that moved off each other (a small, fast face
    between two detector runs), closeness of the centres within ``reach`` face sizes (or (T, 1), per track),
    for faces of similar size."""
    score = iou(tracks, regions)
    if score.size == 0:
        return score
    ct, st = (tracks[:, :2] + tracks[:, 2:]) / 2, np.maximum(tracks[:, 2:] - tracks[:, :2], 1).max(1)
    cr, sr = (regions[:, :2] + regions[:, 2:]) / 2, np.maximum(regions[:, 2:] - regions[:, :2], 1).max(1)
    d = np.linalg.norm(ct[:, None] - cr[None], axis=2) / st[:, None]
    ratio = st[:, None] / sr[None]
    near = np.clip(1 - d / reach, 0, 1) * 0.8 * ((ratio > 0.6) & (ratio < 1.67))
    return np.maximum(score, near)


def coast_box(box: np.ndarray, frames_lost: int) -> np.ndarray:
    """``box`` widened with the frames since its face was last seen, at most MAX_COAST_GROWTH x."""
    x0, y0, x1, y1 = (float(v) for v in box[:4])  # plain floats: called per coasting face and frame
    g = min(1.0 + 0.05 * frames_lost, MAX_COAST_GROWTH)
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 * g, (y1 - y0) / 2 * g
    return np.array([cx - hw, cy - hh, cx + hw, cy + hh], np.float32)


class FaceAnalyzer:
    """Stateful: owns the detector, the mesh estimators and the tracks of one stream.

    ``analyze(rgb)`` returns the Faces of that frame (frames must come in order); ``measured`` then holds
    the ids of the tracks measured on it (the others are predictions), ``detected`` whether the detector
    ran on it, ``jumped`` the tracks matched on it to a detection they do not overlap, and ``priors`` the
    earlier sighting (frames ago, box) of each track started on it from two weak detections in a row (a face
    that scores just under the threshold, run after run).

    ``held``: frames the caller holds back after analysis to cover a new face back to its first frames
    (``Lookahead``, file and pipe mode). From twice the detector's interval on, the half-resolution run is made
    only for the faces that no mesh follows: a new face is covered back from the next full run.
    """

    def __init__(self, settings: AnalyzerSettings | None = None):
        self.settings = settings or AnalyzerSettings()
        s = self.settings
        self.detector = CenterFace(threshold=s.threshold, max_side=s.detect_side)
        self.mesh = MeshEstimator()
        self.camera = CameraMotion()
        self._track_mesh: dict[int, MeshEstimator] = {}
        self._spare_mesh: list[MeshEstimator] = []
        self._frame = 0
        self.tracks: list[Track] = []
        self._next_id = 0
        self._since_detect = 10**9
        self._emitted: set[int] = set()
        self.total_tracks = 0  # distinct track ids ever output
        self.mesh_errors = 0
        self.measured: set[int] = set()
        self.jumped: set[int] = set()
        self.priors: dict[int, tuple[int, np.ndarray]] = {}
        # (frame, region, camera motion until then) of weak unmatched detections
        self._candidates: list[tuple[int, np.ndarray, np.ndarray]] = []
        self._pan = np.zeros(2)  # the camera's motion since the stream began, px
        self._half_done = False  # the half-resolution run between two full runs is done
        self.held = 0
        self._prior_of: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
        self.detected = False
        self.frame_shape: tuple[int, int] = (0, 0)

    def reset(self) -> None:
        """Forget all tracks (a new scene, or the next unrelated image)."""
        self.tracks = []
        self.camera.reset()
        self._since_detect = 10**9
        self._half_done = False
        self._candidates = []
        self._release_meshes()

    def _new_filter(self, points: np.ndarray):
        if len(points) == 2:  # box corners of a face too small for the mesh
            return BoxPath(points, horizon=self.settings.detect_every)
        return AdaptivePoints(points) if self.settings.smoothing else NoFilter(points)

    def _new_track(self, points: np.ndarray, has_mesh: bool, score: float) -> Track:
        t = Track(id=self._next_id, filter=self._new_filter(points), has_mesh=has_mesh, score=score)
        t.extra["missed_runs"] = 0
        self._next_id += 1
        return t

    def _due(self) -> str | None:
        """"full" (the whole frame at up to detect_side), "half" (at half that resolution: a quarter of the
        cost, for the faces of HALF_MIN px and more, midway between two full runs when k >= 6) or None."""
        k = self.settings.detect_every
        if self._since_detect >= k:
            return "full"
        # a face whose mesh was lost (fast motion, a turn, a hand): found again on this very frame, while it is
        # still near its track (waiting even a few frames let a fast face go bare, or join a stale track)
        lost = any(t.has_mesh and t.misses > 0 and t.extra.get("missed_runs", 0) == 0 for t in self.tracks)
        if lost:
            return "full"
        if k >= 6 and not self._half_done and self._since_detect >= k // 2 and self._half_needed():
            return "half"
        return None

    def _half_needed(self) -> bool:
        """Whether the half-resolution run has faces to find or follow: always while frames are not held for
        backfill (live mode, numpy frames); else only for a box track of HALF_MIN px or more (a mesh follows the
        others on every frame, and a lost mesh calls a full run at once). On a one-face clip (lp_s18) that run
        was a fifth of the detector's cost and 7% of the CPU."""
        if self.held < 2 * self.settings.detect_every:
            return True
        return any(not t.has_mesh and float((b := t.box())[3] - b[1]) >= HALF_MIN for t in self.tracks)

    def analyze(self, rgb: np.ndarray) -> Faces:
        s = self.settings
        self.frame_shape = rgb.shape[:2]
        pan = self.camera.step(rgb)
        self._pan = self._pan + pan
        for t in self.tracks:
            t.filter.predict(damping=1.0 if t.misses == 0 else 0.5)
            if pan.any():
                t.filter.shift(pan)
            t.seen = False
            if t.misses and not t.has_mesh:  # a lost box track: frames since it was last seen
                t.misses += 1
        self._frame += 1
        self._since_detect += 1
        self.measured = set()
        self.jumped = set()
        self.priors = {}
        skip = [self._may_skip_mesh(t, pan) for t in self.tracks]
        meshed = [None if sk else self._mesh_track(rgb, t) for t, sk in zip(self.tracks, skip)]
        if pan.any() and not self._camera_agrees(pan, meshed):  # the scene moved, not the faces: undone
            for t in self.tracks:
                t.filter.shift(-pan)
            self._pan = self._pan - pan
        for t, sk, pts in zip(self.tracks, skip, meshed):
            if t.has_mesh and pts is None and not sk:
                t.misses += 1  # lost by its mesh: coasting until the detector finds it again
        run = self._due()
        self.detected = run is not None
        if run:  # weak detections only confirm tracks; new tracks need the threshold
            side = s.detect_side if run == "full" else max(64, min(s.detect_side, max(rgb.shape[:2])) // 2)
            det_boxes, det_scores = self.detector.detect(rgb, threshold=s.threshold * KEEP_RATIO, max_side=side)
            if run == "half":  # small faces are left to the full runs: at half size two neighbours can merge
                # into one box, which then moved a small face's track onto its neighbour (a crowd swap)
                big = (det_boxes[:, 3] - det_boxes[:, 1]) * 1.35 >= HALF_MIN
                det_boxes, det_scores = det_boxes[big], det_scores[big]
            self._half_done = run == "half"
            if run == "full":
                self._since_detect = 0
        else:
            det_boxes, det_scores = np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
        regions = detection_regions(det_boxes)
        track_boxes = np.array([t.box() for t in self.tracks], np.float32).reshape(-1, 4)
        matches = greedy_match(association(track_boxes, regions), min_score=0.2) if self.detected else []
        det_of = dict(matches)
        matched_det = set(det_of.values())

        ghosts: list[Track] = []
        for ti, t in enumerate(self.tracks):
            t.age += 1
            d = det_of.get(ti)
            pts = meshed[ti]
            if skip[ti]:  # steady face between two meshes: it stays at its prediction
                t.seen = True
                continue
            if t.has_mesh and pts is not None:
                self._hit(t, score=det_scores[d] if d is not None else None)
                t.filter.update(pts)
                continue
            if d is None:
                if self.detected and (run == "full" or float(t.box()[3] - t.box()[1]) >= HALF_MIN):
                    t.extra["missed_runs"] = t.extra.get("missed_runs", 0) + 1
                    t.misses += 0 if t.has_mesh else 1
                continue
            if iou(t.box()[None], regions[d][None])[0, 0] <= 0:
                ghosts.append(self._ghost(t))
                self.jumped.add(t.id)
            # found by the detector: a mesh when the face is big enough, else its box
            pts = self._mesh_new(rgb, det_boxes[d])
            if pts is not None:
                if t.has_mesh:
                    t.filter.update(pts)
                else:
                    t.filter, t.has_mesh = self._new_filter(pts), True
            else:
                corners = regions[d].reshape(2, 2)
                if t.has_mesh:
                    t.filter, t.has_mesh = self._new_filter(corners), False
                    self._release_meshes({x.id for x in self.tracks if x is not t})
                else:
                    t.filter.update(corners)
            self._hit(t, score=det_scores[d])

        self.tracks += ghosts
        starts = [d for d in range(len(det_boxes)) if d not in matched_det and det_scores[d] >= s.threshold]
        if self.detected:
            starts += self._confirmed(regions, det_scores, matched_det, run)
        for d in starts:
            pts = self._mesh_new(rgb, det_boxes[d])
            if pts is not None:
                t = self._new_track(pts, True, float(det_scores[d]))
            else:
                t = self._new_track(regions[d].reshape(2, 2), False, float(det_scores[d]))
            self.tracks.append(t)
            self.measured.add(t.id)
            if d in self._prior_of:
                gap, before, moved = self._prior_of[d]
                self.priors[t.id] = gap, before
                if isinstance(t.filter, BoxPath):  # it moves on as it came (the camera's motion left out)
                    t.filter.set_velocity((regions[d] - moved).reshape(2, 2) / max(gap, 1))

        self._dedupe()
        h, w = rgb.shape[:2]
        # a lost face ends after ``max_missed_runs`` runs without it, and not before as many detector
        # intervals (an early run, for a lost mesh, does not cut its coasting short)
        self.tracks = [t for t in self.tracks if _inside(t.box(), w, h) and (
            t.extra.get("missed_runs", 0) < s.max_missed_runs or t.misses < s.max_missed_runs * s.detect_every)]
        self._release_meshes({t.id for t in self.tracks})
        return self._faces()

    def _confirmed(self, regions: np.ndarray, scores: np.ndarray, matched: set[int], run: str) -> list[int]:
        """Weak detections (CONFIRM_RATIO x the threshold or more) near a candidate: a weak detection of the
        last detector interval. This run's other weak detections become candidates; a half-resolution run
        keeps the older candidates too (it does not see the small faces). ``_prior_of`` maps each confirmed
        detection to (frames ago, candidate region, that region moved with the camera since)."""
        s = self.settings
        weak = [d for d in range(len(regions)) if d not in matched
                and s.threshold * CONFIRM_RATIO <= scores[d] < s.threshold]
        self._prior_of: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
        recent = [(f, b, p) for f, b, p in self._candidates if self._frame - f <= s.detect_every]
        used: set[int] = set()
        if weak and recent:
            # a face moves at most MAX_BOX_SPEED x its size or MIN_REACH_PX a frame, whichever is more (a
            # small face in a pan); association matches within 0.75 x reach. Each candidate reaches by its
            # own age and size: on the street clip a reach set by the oldest candidate (6 sizes) paired two
            # weak detections 2.2 sizes and 4 frames apart, and the new track's backfill, extrapolated from
            # them, swept a cover across the frame
            # where the candidates are now if they stood still in the scene (the camera may have moved)
            boxes = np.array([b + np.tile(self._pan - p, 2) for _, b, p in recent], np.float32)
            gaps = np.array([self._frame - f for f, _, _ in recent], np.float32)
            sizes = np.maximum(boxes[:, 2:] - boxes[:, :2], 1).max(1)
            reach = np.maximum(2.5, gaps * np.maximum(MAX_BOX_SPEED, MIN_REACH_PX / sizes) / 0.75)[:, None]
            for c, w in greedy_match(association(boxes, regions[weak], reach), min_score=0.2):
                self._prior_of[weak[w]] = (self._frame - recent[c][0], recent[c][1].copy(), boxes[c].copy())
                used.add(c)
        kept = [x for c, x in enumerate(recent) if c not in used] if run == "half" else []
        self._candidates = kept + [(self._frame, regions[d].copy(), self._pan.copy()) for d in weak
                                   if d not in self._prior_of]
        return list(self._prior_of)

    def _ghost(self, t: Track) -> Track:
        """A coasting box where track ``t`` was, left behind when ``t`` is matched to a detection it does not
        overlap. Such a near-match is right for a fast small face, but in a crowd it can be a neighbour's
        detection while the face itself went unseen on this run (a half-resolution run drops small faces): on
        the classroom clip a girl's track jumped 1.8 face sizes to her neighbour and she was bare for three
        frames. The ghost is covered like any lost face, and ends like one (``max_missed_runs``)."""
        box = landmark_box(t.points) if t.has_mesh else t.box()
        g = self._new_track(np.asarray(box, np.float32).reshape(2, 2).copy(), False, t.score)
        g.filter.set_velocity(t.filter.velocity if isinstance(t.filter, BoxPath) else np.zeros(2))
        g.misses, g.seen, g.extra["missed_runs"] = max(t.misses, 1), False, 1
        return g

    def _hit(self, t: Track, score: float | None) -> None:
        t.misses, t.seen, t.extra["missed_runs"] = 0, True, 0
        t.hits += 1
        if score is not None:
            t.score = float(score)
        self.measured.add(t.id)

    def _mesh_new(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """Landmarks for a detector box of a face big enough for the mesh, or None."""
        center, size = _box_center_size(box)
        if box[3] - box[1] < self.settings.mesh_min:
            return None
        return self._estimate(self.mesh, rgb, center, 2.0 * size)

    def _may_skip_mesh(self, t: Track, pan: np.ndarray) -> bool:
        """A face under EXPRESSIVE_MIN px meshed on the last frame, moving slowly in the frame (its own motion plus
        the camera's ``pan``), on its off-frame of ``mesh_every``."""
        k = self.settings.mesh_every
        if k <= 1 or not t.has_mesh or t.misses or t.age < 3 or (self._frame + t.id) % k == 0:
            return False
        velocity = getattr(t.filter, "velocity", None)
        _, size = _box_center_size(t.box())
        if velocity is None or size >= EXPRESSIVE_MIN:
            return False
        speed = float(np.abs(velocity + pan).max())
        return speed < STEADY_SPEED * size

    def _camera_agrees(self, pan: np.ndarray, meshed: list[np.ndarray | None]) -> bool:
        """Whether the faces measured by their mesh on this frame moved with the camera's ``pan`` (2,) rather
        than stayed where they were: most of them lie nearer their last place moved by ``pan`` than unmoved
        (true when no face was measured). A background that drifts behind still faces (a passing train, a
        video wall, a gradient) reads as a pan; the faces' own meshes say otherwise."""
        votes = []
        for t, pts in zip(self.tracks, meshed):
            if pts is None or not t.has_mesh:
                continue
            last = getattr(t.filter, "z", t.points).reshape(-1, 2).mean(0)  # its last measurement, moved
            moved = pts.reshape(-1, 2).mean(0) - last
            votes.append(float(np.linalg.norm(moved + pan) - np.linalg.norm(moved)))
        return not votes or float(np.median(votes)) > 0.0

    def _mesh_track(self, rgb: np.ndarray, t: Track) -> np.ndarray | None:
        """Landmarks of a mesh track on its predicted crop, or None (lost, or a track without mesh)."""
        if not t.has_mesh:
            return None
        center, size = _box_center_size(t.box())
        return self._estimate(self._mesher(t.id), rgb, center, 1.6 * size, roll_degrees(t.points))

    def _estimate(self, mesher: MeshEstimator, *args) -> np.ndarray | None:
        """The mesh, or None when MediaPipe fails (fail closed: the face stays a box track, covered from its
        box). Counted in ``mesh_errors``, logged once."""
        try:
            return mesher.estimate(*args)
        except Exception as exc:
            if not self.mesh_errors:
                log.warning("face mesh failed (%s); faces are covered from their boxes", exc)
            self.mesh_errors += 1
            return None

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

    def _dedupe(self) -> None:
        """Two tracks on one face: keep the one seen this frame, then the older one. A coasting track also
        yields to a seen one that covers most of the smaller of the two (its grown box no longer overlaps
        the face's new track by IoU)."""
        order = sorted(self.tracks, key=lambda t: (not t.seen, t.id))
        if len(order) < 2:
            return
        boxes = np.array([t.box() for t in order], np.float32)
        same = iou(boxes, boxes) > 0.5
        same |= (containment(boxes) > 0.6) & np.array([t.misses > 0 for t in order])[None, :]
        dropped = np.zeros(len(order), bool)
        for k in range(len(order)):
            if not dropped[k]:
                later = same[k].copy()
                later[: k + 1] = False
                dropped |= later
        self.tracks = sorted((t for t, d in zip(order, dropped) if not d), key=lambda t: t.id)

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
                boxes[i] = coast_box(boxes[i], t.misses)
        return Faces(boxes=boxes, landmarks=lms,
                     track_ids=np.array([t.id for t in self.tracks], np.int64),
                     coasting=np.array([t.misses > 0 for t in self.tracks], bool),
                     scores=np.array([t.score for t in self.tracks], np.float32))

    def close(self) -> None:
        self.mesh.close()
        self._release_meshes()
        for m in self._spare_mesh:
            m.close()
        self._spare_mesh = []


def _inside(box: np.ndarray, w: int, h: int) -> bool:
    """Some of ``box`` is still in the frame."""
    x0, y0, x1, y1 = box.tolist()
    return x1 > 0 and y1 > 0 and x0 < w and y0 < h
