"""Aggregate per-face scores into one set of numbers, and map them to the five 0-1 dimensions of the radar."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

from . import face as F
from .evaluate import FaceScores
from .photometry import frechet_distance
from .realism import realism_c2st
from .video import VideoStats, descriptor_spread, flicker_ratio


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    better: str  # "low" | "high" | "one" (closest to 1)
    unit: str = ""


METRICS = [
    Metric("reid_rate", "re-identified (dlib < 0.6)", "low", "%"),
    Metric("rank1_rate", "rank-1 identification", "low", "%"),
    Metric("reid_chance", "matches (< 0.6) with other people's originals", "low", "%"),
    Metric("leak_rate", "leaked (found by HOG and re-identified)", "low", "%"),
    Metric("detectability", "detectability (dlib HOG)", "high", "%"),
    Metric("mesh_redetected", "face mesh re-detected", "high", "%"),
    Metric("nme", "expression NME (lips, eyes, brows)", "low"),
    Metric("nme_lips", "NME lips", "low"),
    Metric("nme_eyes", "NME eyes", "low"),
    Metric("nme_brows", "NME brows", "low"),
    Metric("mouth_open_mae", "mouth-opening ratio, mean abs. difference", "low"),
    Metric("mouth_open_corr", "mouth-opening ratio, correlation", "high"),
    Metric("eye_open_mae", "eye-opening ratio, mean abs. difference", "low"),
    Metric("pose_error", "head pose error (mean of yaw, pitch, roll)", "low", "deg"),
    Metric("yaw_error", "yaw error", "low", "deg"),
    Metric("pitch_error", "pitch error", "low", "deg"),
    Metric("roll_error", "roll error", "low", "deg"),
    Metric("light_angle", "lighting direction angle (first-order SH, each image's own mesh)", "low", "deg"),
    Metric("light_rel_l2", "lighting relative L2 (9x3 SH)", "low"),
    Metric("ciede2000", "skin colour CIEDE2000", "low"),
    Metric("sharpness_ratio", "sharpness ratio (geometric mean)", "one"),
    Metric("detail_ratio", "skin detail ratio (Laplacian variance over skin, median)", "one"),
    Metric("texture_ratio", "skin texture ratio (robust Laplacian variance, edges left out, median)", "one"),
    Metric("frechet_distance", "Frechet distance (dlib descriptor space)", "low"),
    Metric("c2st_identity", "real/fake C2ST accuracy, dlib descriptors (0.5 = cannot tell)", "low"),
    Metric("c2st_texture", "real/fake C2ST accuracy, crop texture (0.5 = cannot tell)", "low"),
    Metric("flicker", "temporal flicker (output / input)", "one"),
    Metric("identity_spread", "identity spread along tracks (output)", "low"),
    Metric("identity_spread_original", "identity spread along tracks (input)", "low"),
    Metric("leaked_frame_rate", "leaked frames", "low", "%"),
]

FD_SCALE = 0.1  # Frechet distance at which its image-quality score is 0.5
RADAR_MAPPING = {
    "image quality": "mean of min(r, 1/r) for the sharpness ratio r and 1 / (1 + FD / 0.1)",
    "privacy": "1 - mean(re-identification rate, rank-1 rate)",
    "geometry": "mesh re-detected share x mean(1 - NME / 0.1, 1 - pose error / 10 deg), each clipped to [0, 1]",
    "lighting": "mean(1 - angle / 45 deg, 1 - relative L2), each clipped to [0, 1]",
    "colour": "1 - CIEDE2000 / 20, clipped to [0, 1]",
}


def _mean(values) -> float | None:
    v = [float(x) for x in values if x is not None]
    return float(np.mean(v)) if v else None


def identify(scores: list[FaceScores], key=lambda s: (s.source, s.face), extra: np.ndarray | None = None) -> None:
    """Set ``rank1`` and ``other_matches`` of each face against a gallery of the originals: one entry per
    ``key`` (the mean of its original descriptors; per face for images, per track for video). rank1: the
    nearest entry is the face's own; other_matches: share of the other originals within 0.6 (the chance of a
    match with a different person). ``extra`` (M, D): more people in the rank-1 gallery (metrics.gallery).
    Left None where the gallery has fewer than 2 entries."""
    keyed: dict[Hashable, list[np.ndarray]] = {}
    for s in scores:
        if s.descriptor_original is not None:
            keyed.setdefault(key(s), []).append(s.descriptor_original)
    extra = np.zeros((0, 128), np.float32) if extra is None else np.asarray(extra, np.float32)
    if not keyed or len(keyed) + len(extra) < 2:
        return
    keys = list(keyed)
    originals = np.stack([np.mean(keyed[k], axis=0) for k in keys])
    probes = [s for s in scores if s.descriptor_anonymized is not None and key(s) in keyed]
    if not probes:
        return
    own = np.array([keys.index(key(s)) for s in probes])
    descriptors = np.stack([s.descriptor_anonymized for s in probes])
    hits = F.rank1_hits(descriptors, np.concatenate([originals, extra.reshape(-1, originals.shape[1])]), own)
    close = np.linalg.norm(descriptors[:, None] - originals[None], axis=2) < F.SAME_PERSON
    close[np.arange(len(probes)), own] = False
    for s, hit, n in zip(probes, hits, close.sum(1), strict=True):
        s.rank1 = bool(hit)
        s.other_matches = float(n / (len(keys) - 1)) if len(keys) > 1 else None


def summarize(scores: list[FaceScores], video: VideoStats | None = None) -> dict[str, float | int | None]:
    """The aggregate numbers of ``METRICS`` (rates in 0-1), plus "faces" and, for video, frame counts."""
    out: dict[str, float | int | None] = {"faces": len(scores)}
    out["reid_rate"] = _mean(s.reidentified for s in scores)
    out["rank1_rate"] = _mean(s.rank1 for s in scores)
    out["reid_chance"] = _mean(s.other_matches for s in scores)
    out["leak_rate"] = _mean(s.leaked for s in scores)
    out["detectability"] = _mean(s.detected for s in scores)
    out["mesh_redetected"] = _mean(s.mesh_found for s in scores)
    for k in ("nme", "nme_lips", "nme_eyes", "nme_brows", "pose_error", "yaw_error", "pitch_error", "roll_error",
              "light_angle", "light_rel_l2", "ciede2000"):
        out[k] = _mean(getattr(s, k) for s in scores)
    both = [s for s in scores if s.mouth_open_anonymized is not None]
    out["mouth_open_mae"] = _mean(abs(s.mouth_open_anonymized - s.mouth_open_original) for s in both)
    out["eye_open_mae"] = _mean(abs(s.eye_open_anonymized - s.eye_open_original) for s in both)
    out["mouth_open_corr"] = _correlation([s.mouth_open_original for s in both],
                                          [s.mouth_open_anonymized for s in both])
    ratios = [max(s.sharpness_ratio, 1e-6) for s in scores if s.sharpness_ratio is not None]
    out["sharpness_ratio"] = float(np.exp(np.mean(np.log(ratios)))) if ratios else None
    details = [s.detail_ratio for s in scores if s.detail_ratio is not None]
    out["detail_ratio"] = float(np.median(details)) if details else None
    textures = [s.texture_ratio for s in scores if s.texture_ratio is not None]
    out["texture_ratio"] = float(np.median(textures)) if textures else None
    pairs = [s for s in scores if s.descriptor_original is not None and s.descriptor_anonymized is not None]
    out["frechet_distance"] = (frechet_distance(np.stack([s.descriptor_original for s in pairs]),
                                                np.stack([s.descriptor_anonymized for s in pairs]))
                               if len(pairs) >= 2 else None)
    out.update(realism_c2st([(s.descriptor_original, s.descriptor_anonymized) for s in pairs],
                            [s.thumbs for s in scores if s.thumbs is not None]))
    if video is not None:
        out.update(video_summary(scores, video))
    out = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in out.items()}
    return out


def video_summary(scores: list[FaceScores], video: VideoStats) -> dict[str, float | int | None]:
    moving = [s for s in scores if s.change_original is not None]
    tracks: dict[int, list[FaceScores]] = {}
    for s in scores:
        tracks.setdefault(s.track, []).append(s)

    def spread(attr: str) -> float | None:
        return _mean(descriptor_spread(np.stack(d)) for d in
                     ([getattr(s, attr) for s in t if getattr(s, attr) is not None] for t in tracks.values())
                     if len(d) >= 2)

    return {
        "flicker": flicker_ratio(np.array([s.change_anonymized for s in moving]),
                                 np.array([s.change_original for s in moving])) if moving else None,
        "identity_spread": spread("descriptor_anonymized"),
        "identity_spread_original": spread("descriptor_original"),
        "tracks": len(tracks),
        "frames_compared": video.frames_compared,
        "frames_evaluated": video.frames_evaluated,
        "leaked_frames": video.leaked_frames,
        "leaked_frame_rate": video.leaked_frames / video.frames_evaluated if video.frames_evaluated else None,
    }


def track_summaries(scores: list[FaceScores]) -> list[dict]:
    """Per video track: faces judged, re-identification, detectability, expression, flicker, identity spread."""
    tracks: dict[int, list[FaceScores]] = {}
    for s in scores:
        tracks.setdefault(s.track, []).append(s)
    out = []
    for track, t in sorted(tracks.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
        moving = [s for s in t if s.change_original is not None]
        descriptors = [s.descriptor_anonymized for s in t if s.descriptor_anonymized is not None]
        row = {"track": track, "source": t[0].source, "first_frame": t[0].frame, "faces": len(t),
               "reid_rate": _mean(s.reidentified for s in t), "detectability": _mean(s.detected for s in t),
               "mesh_redetected": _mean(s.mesh_found for s in t), "nme": _mean(s.nme for s in t),
               "flicker": flicker_ratio(np.array([s.change_anonymized for s in moving]),
                                        np.array([s.change_original for s in moving])) if moving else None,
               "identity_spread": descriptor_spread(np.stack(descriptors)) if len(descriptors) >= 2 else None}
        out.append({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()})
    return out


def _correlation(a: list[float], b: list[float]) -> float | None:
    if len(a) < 3 or np.std(a) < 1e-9 or np.std(b) < 1e-9:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def _clip(v: float) -> float:
    return float(min(max(v, 0.0), 1.0))


def radar(summary: dict) -> dict[str, float | None]:
    """The five dimensions, 0-1, higher is better (mapping in ``RADAR_MAPPING``)."""
    g = summary.get
    parts = []
    if g("sharpness_ratio"):
        r = g("sharpness_ratio")
        parts.append(min(r, 1 / r))
    if g("frechet_distance") is not None:
        parts.append(1 / (1 + g("frechet_distance") / FD_SCALE))
    quality = _mean(parts)
    privacy = None if g("reid_rate") is None else 1 - _mean([g("reid_rate"), g("rank1_rate")])
    geometry = None
    if g("mesh_redetected") is not None:
        shape = _mean([_clip(1 - g("nme") / 0.1) if g("nme") is not None else None,
                       _clip(1 - g("pose_error") / 10) if g("pose_error") is not None else None])
        geometry = g("mesh_redetected") * (shape or 0.0)
    lighting = _mean([_clip(1 - g("light_angle") / 45) if g("light_angle") is not None else None,
                      _clip(1 - g("light_rel_l2")) if g("light_rel_l2") is not None else None])
    colour = None if g("ciede2000") is None else _clip(1 - g("ciede2000") / 20)
    dims = {"image quality": quality, "privacy": privacy, "geometry": geometry, "lighting": lighting,
            "colour": colour}
    return {k: (round(v, 4) if v is not None else None) for k, v in dims.items()}
