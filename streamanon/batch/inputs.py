"""What a batch works on: IN (a folder, a glob or a text file of paths) -> one Job per input file."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputInvalid, InputNotFound
from ..media.images import IMAGE_SUFFIXES
from ..media.safe_paths import inside

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".gif", ".ts", ".mts", ".m2ts", ".mpg",
                  ".mpeg", ".wmv", ".flv", ".3gp", ".mxf", ".nut", ".y4m")
# containers the default encoder (libx264) cannot go into: the output gets this suffix appended
REENCODED = {".gif": ".mp4"}
MAGIC = set("*?[")


@dataclass(frozen=True)
class Job:
    """One input file and where its output goes. ``rel`` (posix, relative to OUT) keys the manifest."""

    src: str  # absolute input path
    rel: str  # output path relative to OUT
    dst: str  # absolute output path
    kind: str  # "video" or "image"
    overwrite: bool = False  # an existing output may be replaced
    verify: str | None = None  # skip when the input still has this sha256 (the manifest matched size and mtime)


def is_media(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES + IMAGE_SUFFIXES


def kind_of(path: Path) -> str:
    return "image" if path.suffix.lower() in IMAGE_SUFFIXES else "video"


def _walk(folder: Path, skip: Path) -> list[Path]:
    """Media files under ``folder`` (recursive, sorted), without hidden files and without ``skip`` (OUT)."""
    found = []
    for root, dirs, files in os.walk(folder):
        r = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (r / d).resolve() != skip)
        found += [r / f for f in sorted(files)
                  if not f.startswith(".") and is_media(r / f) and inside(r / f, folder)]
    return found


def _listed(listing: Path) -> list[Path]:
    """Paths in a text file, one a line (blank lines and ``#`` comments skipped; relative to the file)."""
    try:
        lines = listing.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputInvalid(f"cannot read the list of inputs {listing}: {exc}", path=str(listing)) from exc
    paths = [Path(s) for line in lines if (s := line.strip()) and not s.startswith("#")]
    return [p if p.is_absolute() else listing.parent / p for p in paths]


def sources(spec: str, out: Path) -> tuple[list[Path], Path]:
    """The input files named by ``spec`` and the folder their relative output paths start from."""
    path = Path(spec)
    skip = out.resolve()
    if path.is_dir():
        return _walk(path, skip), path
    if path.is_file():
        files = [path] if is_media(path) else _listed(path)
    elif MAGIC & set(spec):
        files = [Path(p) for p in sorted(glob.glob(spec, recursive=True)) if Path(p).is_file()]
        files = [p for p in files if skip not in p.resolve().parents]
    else:
        raise InputNotFound(f"input not found: {spec} (a folder, a glob or a text file of paths)", path=spec)
    parents = [str(p.resolve().parent) for p in files]
    return files, Path(os.path.commonpath(parents)) if parents else path.parent


def output_name(rel: Path, kind: str, video_ext: str | None) -> Path:
    """The output path for input ``rel``: the same, or with the video container changed."""
    if kind == "image":
        return rel
    if video_ext:
        return rel.with_suffix("." + video_ext.lstrip("."))
    new = REENCODED.get(rel.suffix.lower())
    return rel.with_name(rel.name + new) if new else rel


def collect(spec: str, out: Path, video_ext: str | None = None) -> list[Job]:
    """One Job per input file of ``spec``; OUT keeps the paths relative to the inputs' folder."""
    files, root = sources(spec, out)
    root = root.resolve()
    jobs: dict[str, Job] = {}
    seen: set[Path] = set()
    for f in files:
        src = f.resolve()
        if src in seen:
            continue  # listed twice
        seen.add(src)
        kind = kind_of(src)
        rel = output_name(src.relative_to(root), kind, video_ext)
        dst = (out / rel).resolve()
        if dst == src:
            raise InputInvalid(f"OUT would overwrite the input {src}: choose another OUT", path=str(src))
        if rel.as_posix() in jobs:
            raise InputInvalid(f"two inputs give one output {rel.as_posix()}: {jobs[rel.as_posix()].src} and {src}",
                               path=str(src))
        jobs[rel.as_posix()] = Job(src=str(src), rel=rel.as_posix(), dst=str(dst), kind=kind)
    if not jobs:
        raise InputInvalid(f"no videos or images in {spec}", path=spec)
    return list(jobs.values())
