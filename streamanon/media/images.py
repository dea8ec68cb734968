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
    return _decode(path, _read_bytes(path))


def read_image_alpha(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(H, W, 3) uint8 RGB and the (H, W) uint8 transparency of an image that has one (PNG, WebP, TIFF; None when
    it has none or is fully opaque). The file is read once."""
    data = _read_bytes(path)
    rgb = _decode(path, data)
    return rgb, _alpha(path, data, rgb.shape[:2])


def _read_bytes(path: Path) -> np.ndarray:
    if not path.exists():
        raise InputNotFound(f"input not found: {path}", path=str(path))
    data = np.fromfile(str(path), np.uint8)
    check_image_size(path, data[:65536].tobytes())
    return data


def _decode(path: Path, data: np.ndarray) -> np.ndarray:
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        rgb = _decode_damaged(path) if data.size else None
        if rgb is None:
            raise InputInvalid(f"cannot decode image: {path}", path=str(path))
        return rgb
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


ALPHA_SUFFIXES = (".png", ".webp", ".tif", ".tiff")  # formats that carry transparency, in and out
PNG_ALPHA_TYPES = (4, 6)  # PNG colour types with an alpha channel (grey + alpha, RGBA)


def _alpha(path: Path, data: np.ndarray, shape: tuple[int, int]) -> np.ndarray | None:
    """The (H, W) uint8 transparency of the encoded image ``data`` (decoded as (H, W) ``shape``), or None. A PNG
    whose header announces no alpha channel and no transparent colour is not decoded a second time."""
    if path.suffix.lower() not in ALPHA_SUFFIXES:
        return None
    head = data[:65536].tobytes()
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) > 25 and head[25] not in PNG_ALPHA_TYPES \
            and b"tRNS" not in head:
        return None
    im = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if im is None or im.ndim != 3 or im.shape[2] != 4 or im.shape[:2] != tuple(shape):
        return None
    alpha = im[..., 3]
    if alpha.dtype == np.uint16:
        alpha = (alpha >> 8).astype(np.uint8)
    elif alpha.dtype != np.uint8:
        return None
    return None if alpha.min() == 255 else np.ascontiguousarray(alpha)


MAX_PIXELS = (1 << 31) // 8  # FFmpeg's limit: (w + 128) * (h + 128) below this (about 268 MP)


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) a JPEG (SOFn) or PNG (IHDR) header announces; None for other formats or no header."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return None


def check_image_size(path: Path, data: bytes) -> None:
    """Refuse a header that announces more pixels than FFmpeg accepts, before a decoder allocates them (a
    damaged header can announce 32768x16385 on a 2 kB file: OpenCV then takes seconds and gigabytes)."""
    size = header_size(data)
    if size is not None and (size[0] + 128) * (size[1] + 128) >= MAX_PIXELS:
        raise InputInvalid(f"cannot decode image: its header announces {size[0]}x{size[1]}, more than FFmpeg "
                           f"accepts: {path}", path=str(path))


def _decode_damaged(path: Path) -> np.ndarray | None:
    """What FFmpeg makes of an image OpenCV refuses (a truncated JPEG: the missing part concealed), as ffmpeg
    itself would decode it; None when FFmpeg cannot decode it either."""
    import av

    try:
        with av.open(str(path), format="image2") as container:
            for frame in container.decode(video=0):
                return frame.to_ndarray(format="rgb24")
    except (av.error.FFmpegError, ValueError, IndexError, UnicodeDecodeError):
        return None
    return None


# OpenCV's JPEG encoder refuses a side longer than this (FFmpeg's refuses it too)
MAX_JPEG_SIDE = 65500


def write_image(path: Path, rgb: np.ndarray, alpha: np.ndarray | None = None) -> None:
    """Encode by extension into a temporary sibling, then rename. ``alpha`` (H, W) uint8: the transparency to
    keep, for a format that carries it (ALPHA_SUFFIXES; others are written opaque)."""
    h, w = rgb.shape[:2]
    if path.suffix.lower() in (".jpg", ".jpeg") and max(h, w) > MAX_JPEG_SIDE:
        raise OutputError(f"cannot encode a {w}x{h} picture as JPEG (at most {MAX_JPEG_SIDE} px a side): {path}",
                          path=str(path))
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if alpha is not None and path.suffix.lower() in ALPHA_SUFFIXES:
        bgr = np.dstack([bgr, alpha])
    ok, buf = cv2.imencode(path.suffix.lower(), bgr)
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
