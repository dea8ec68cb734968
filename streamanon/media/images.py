"""Still images in and out (OpenCV codecs), written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputInvalid, InputNotFound, OutputError
from .safe_paths import exclusive_temp, inside

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def list_images(folder: Path) -> list[Path]:
    """The images of ``folder`` (not its subfolders; a link that leads out of the folder is skipped)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image(p) and inside(p, folder))


def read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB."""
    if not path.exists():
        raise InputNotFound(f"input not found: {path}", path=str(path))
    data = np.fromfile(str(path), np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise InputInvalid(f"cannot decode image: {path}", path=str(path))
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def write_image(path: Path, rgb: np.ndarray) -> None:
    """Encode by extension into a temporary sibling, then rename."""
    ok, buf = cv2.imencode(path.suffix.lower(), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OutputError(f"cannot encode image as {path.suffix}: {path}", path=str(path))
    tmp = None
    try:
        tmp = exclusive_temp(path)
        buf.tofile(str(tmp))
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror}", path=str(path)) from exc
