"""Image sets: observe the originals once, then score each output against them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..media.images import read_image
from . import face as F
from .evaluate import FaceObs, FaceScores, observe_original, score_faces
from .judges import Judges
from .pairs import ImagePair

Progress = Callable[[], None]


@dataclass
class ImageOriginals:
    """The first pass over the originals: faces per image name and the mean 3-D face of their meshes."""

    faces: dict[str, list[FaceObs]]
    model: np.ndarray | None


def observe_images(pairs: list[ImagePair], judges: Judges, progress: Progress | None = None) -> ImageOriginals:
    faces = {}
    for pair in pairs:
        faces[pair.name] = observe_original(read_image(pair.original), judges)
        if progress:
            progress()
    meshes = [o.mesh for obs in faces.values() for o in obs if o.mesh is not None]
    return ImageOriginals(faces, F.mean_face(meshes) if meshes else None)


def score_images(pairs: list[ImagePair], originals: ImageOriginals, judges: Judges,
                 progress: Progress | None = None, thumbs: bool = True) -> list[FaceScores]:
    scores: list[FaceScores] = []
    for pair in pairs:
        obs = originals.faces[pair.name]
        if obs:
            faces, _ = score_faces(read_image(pair.original), read_image(pair.anonymized), obs, judges,
                                   originals.model, pair.name, thumbs=thumbs)
            scores.extend(faces)
        if progress:
            progress()
    return scores
