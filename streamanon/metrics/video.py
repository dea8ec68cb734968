"""Video metrics: temporal flicker, identity stability along a track, leaked frames; and the video pass.

Frames are paired by index. Per-face metrics run on every ``stride``-th frame; flicker compares that frame
with the one before it (so it needs no extra judging).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputInvalid
from ..media.source import VideoSource
from ..types import Frame
from . import face as F
from . import regions as R
from .evaluate import FaceObs, FaceScores, iou, observe_original, score_faces
from .judges import Judges

Progress = Callable[[], None]


def frame_change(previous: np.ndarray, current: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute change (0-255) of the pixels in ``mask`` between two frames."""
    if not mask.any():
        return 0.0
    return float(np.abs(current[mask].astype(np.int16) - previous[mask].astype(np.int16)).mean())


def flicker_ratio(change_anonymized: np.ndarray, change_original: np.ndarray) -> float | None:
    """Total frame-to-frame change of the output face over the same on the input (1 = as steady as the input)."""
    total = float(np.sum(change_original))
    return float(np.sum(change_anonymized)) / total if total > 0 else None


def descriptor_spread(descriptors: np.ndarray) -> float | None:
    """Mean distance of a track's descriptors (T, D) to their mean: 0 = one stable identity."""
    if len(descriptors) < 2:
        return None
    return float(np.linalg.norm(descriptors - descriptors.mean(0), axis=1).mean())


def leaks(output: list[np.ndarray], originals: list[np.ndarray], threshold: float = F.SAME_PERSON) -> bool:
    """Whether any descriptor of a face found in the output is within ``threshold`` of an original face's."""
    return any(F.descriptor_distance(a, b) < threshold for a in output for b in originals)


def assign_tracks(previous: list[np.ndarray], previous_ids: list[int], boxes: list[np.ndarray], next_id: int,
                  min_iou: float = 0.2) -> tuple[list[int], int]:
    """Greedy IoU association of this frame's boxes with the last evaluated frame's; new ids for the rest."""
    ids = [-1] * len(boxes)
    pairs = sorted(((iou(p, b), i, j) for i, p in enumerate(previous) for j, b in enumerate(boxes)), reverse=True)
    taken: set[int] = set()
    for score, i, j in pairs:
        if score < min_iou:
            break
        if ids[j] < 0 and i not in taken:
            ids[j] = previous_ids[i]
            taken.add(i)
    for j in range(len(ids)):
        if ids[j] < 0:
            ids[j], next_id = next_id, next_id + 1
    return ids, next_id


@dataclass
class VideoOriginals:
    """The first pass over the original video: faces and track ids per evaluated frame, mean 3-D face."""

    faces: dict[int, list[FaceObs]]
    tracks: dict[int, list[int]]
    model: np.ndarray | None
    frames: int


@dataclass
class VideoStats:
    frames_compared: int = 0
    frames_evaluated: int = 0
    leaked_frames: int = 0
    notes: list[str] = field(default_factory=list)


def _frames(path: Path) -> Iterator[Frame]:
    with VideoSource(path, audio=False) as source:
        for item in source:
            if isinstance(item, Frame):
                yield item


def observe_video(path: Path, judges: Judges, stride: int, progress: Progress | None = None) -> VideoOriginals:
    """Faces of every ``stride``-th original frame, tracked by box overlap."""
    faces: dict[int, list[FaceObs]] = {}
    tracks: dict[int, list[int]] = {}
    last_boxes: list[np.ndarray] = []
    last_ids: list[int] = []
    next_id, n = 0, 0
    for frame in _frames(path):
        n += 1
        if frame.index % stride == 0:
            obs = observe_original(frame.rgb, judges)
            ids, next_id = assign_tracks(last_boxes, last_ids, [o.box for o in obs], next_id)
            faces[frame.index], tracks[frame.index] = obs, ids
            last_boxes, last_ids = [o.box for o in obs], ids
        if progress:
            progress()
    meshes = [o.mesh for obs in faces.values() for o in obs if o.mesh is not None]
    return VideoOriginals(faces, tracks, F.mean_face(meshes) if meshes else None, n)


def score_video(original: Path, anonymized: Path, originals: VideoOriginals, judges: Judges, stride: int,
                progress: Progress | None = None, thumbs: bool = True) -> tuple[list[FaceScores], VideoStats]:
    """Per-face scores at every ``stride``-th frame (with the frame-to-frame change of each face region), and
    the leaked-frame count."""
    stats = VideoStats()
    scores: list[FaceScores] = []
    prev: tuple[np.ndarray, np.ndarray] | None = None
    source = original.name
    anon_frames = _frames(anonymized)
    for fo in _frames(original):
        fa = next(anon_frames, None)
        if fa is None:
            stats.notes.append(f"{anonymized.name} has fewer frames than {original.name} ({stats.frames_compared})")
            break
        if fa.rgb.shape != fo.rgb.shape:
            raise InputInvalid(f"{anonymized.name}: frame size {fa.rgb.shape[1]}x{fa.rgb.shape[0]} differs from the "
                             f"original's {fo.rgb.shape[1]}x{fo.rgb.shape[0]}")
        stats.frames_compared += 1
        obs = originals.faces.get(fo.index)
        if obs is not None:
            stats.frames_evaluated += 1
            faces, extra = score_faces(fo.rgb, fa.rgb, obs, judges, originals.model, source, fo.index, thumbs)
            for s, o, track in zip(faces, obs, originals.tracks[fo.index], strict=True):
                s.track = track
                if prev is not None:
                    mask = _region(o, fo.rgb.shape[:2])
                    s.change_original = frame_change(prev[0], fo.rgb, mask)
                    s.change_anonymized = frame_change(prev[1], fa.rgb, mask)
            found = [s.descriptor_anonymized for s in faces if s.detected and s.descriptor_anonymized is not None]
            if leaks(found + extra, [o.descriptor for o in obs if o.descriptor is not None]):
                stats.leaked_frames += 1
            scores.extend(faces)
        prev = (fo.rgb, fa.rgb)
        if progress:
            progress()
    return scores, stats


def _region(o: FaceObs, shape: tuple[int, int]) -> np.ndarray:
    """The face's mesh outline, or its box where the mesh failed."""
    if o.mesh is not None:
        return R.face_mask(o.mesh, shape)
    mask = np.zeros(shape, bool)
    x0, y0, x1, y1 = np.round(o.box).astype(int)
    mask[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = True
    return mask
