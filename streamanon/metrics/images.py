"""Image sets: pair originals and outputs by file name, observe the originals once, score the outputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputInvalid, InputNotFound
from ..media.images import IMAGE_SUFFIXES, is_image, list_images, read_image
from . import face as F
from .evaluate import FaceObs, FaceScores, observe_original, score_faces
from .judges import Judges

Progress = Callable[[], None]


@dataclass(frozen=True)
class ImagePair:
    name: str
    original: Path
    anonymized: Path


def image_pairs(original: Path, anonymized: Path) -> tuple[list[ImagePair], list[str]]:
    """Pairs by file name (two folders) or the one pair (two images), and the names found on one side only."""
    for p, what in ((original, "original"), (anonymized, "anonymized")):
        if not p.exists():
            raise InputNotFound(f"{what} not found: {p}", path=str(p))
    if original.is_file() and anonymized.is_file() and is_image(original) and is_image(anonymized):
        return [ImagePair(original.name, original, anonymized)], []
    if not (original.is_dir() and anonymized.is_dir()):
        raise InputInvalid(f"give two folders of images or two videos, not {original} and {anonymized}")
    a = {p.name: p for p in list_images(original)}
    b = {p.name: p for p in list_images(anonymized)}
    if not a:
        raise InputInvalid(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {original}", path=str(original))
    names = sorted(a.keys() & b.keys())
    if not names:
        raise InputInvalid(f"no image in {anonymized} has the name of one in {original}", path=str(anonymized))
    unpaired = sorted(a.keys() ^ b.keys())
    return [ImagePair(n, a[n], b[n]) for n in names], unpaired


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
