"""Pair originals with outputs: image folders by file name. Light on imports (checked before the judges load)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import InputInvalid, InputNotFound
from ..media.images import IMAGE_SUFFIXES, is_image, list_images


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
