"""Extra people for the rank-1 gallery: one descriptor per face image of a folder.

A video usually shows one or two people, and dlib's fixed 0.6 threshold flags some faces (children, some
East Asian faces) whoever is drawn over them. Rank-1 against a large gallery of other people asks the
question that matters: is the output nearer to its own original than to anyone else? A varied folder (e.g.
UTKFace) holds look-alikes for any face, so the nearest impostors match its age and origin by themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import InputInvalid, InputNotFound
from ..media.images import list_images, read_image
from .evaluate import observe_original
from .judges import Judges

Progress = Callable[[], None]


def gallery_files(folder: Path, limit: int, seed: int = 0) -> list[Path]:
    """Up to ``limit`` images of ``folder``, a seeded random choice (the same on every run)."""
    if not folder.is_dir():
        raise InputNotFound(f"gallery folder not found: {folder}", path=str(folder))
    files = list_images(folder)
    if not files:
        raise InputInvalid(f"no images in the gallery folder: {folder}", path=str(folder))
    if len(files) <= limit:
        return files
    pick = np.random.default_rng(seed).choice(len(files), limit, replace=False)
    return [files[i] for i in sorted(pick)]


def gallery_descriptors(files: list[Path], judges: Judges, progress: Progress | None = None) -> np.ndarray:
    """(M, D) descriptors: the largest face HOG finds in each image (images without one are left out)."""
    out = []
    for path in files:
        try:
            faces = [o for o in observe_original(read_image(path), judges) if o.descriptor is not None]
        except (InputInvalid, OSError, ValueError):
            faces = []  # an unreadable gallery image is one person fewer, not a failed evaluation
        if faces:
            largest = max(faces, key=lambda o: float((o.box[2] - o.box[0]) * (o.box[3] - o.box[1])))
            out.append(np.asarray(largest.descriptor, np.float32))
        if progress:
            progress()
    return np.stack(out) if out else np.zeros((0, 128), np.float32)
