"""The anonymizers the benchmark compares. Adding a variant is one line in ``METHODS``.

A method anonymizes a folder of images into a folder (same names) and a video into a video (same frames).
``missing()`` says why it cannot run here (None when it can): the benchmark then lists it as skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Method:
    name: str
    images: Callable[[Path, Path], None]
    video: Callable[[Path, Path], None]
    missing: Callable[[], str | None] = field(default=lambda: None)
    note: str = ""


def ours(name: str, method: str, generate: dict | None = None, **cover) -> Method:
    """streamanon itself through its Python API: ``CoverSettings(method=method, **cover)`` and, for the
    generator, ``GenerateSettings(**generate)``."""

    def options():
        from ..anonymize import CoverSettings
        from ..api import Options

        extra = {}
        if generate is not None or method == "generate":
            from ..generate import GenerateSettings

            extra["generate"] = GenerateSettings(**(generate or {}))
        return Options(cover=CoverSettings(method=method, **cover), overwrite=True, **extra)

    def images(src: Path, dst: Path) -> None:
        from ..api import anonymize_images

        anonymize_images(src, dst, options())

    def video(src: Path, dst: Path) -> None:
        from ..api import anonymize_video

        anonymize_video(src, dst, options())

    def missing() -> str | None:
        try:
            o = options()
            if method == "generate":  # the engine files must be there
                from ..anonymize import make_cover

                make_cover(o.cover, o.generate)
        except Exception as exc:  # noqa: BLE001 - any reason it cannot run here is reported, not raised
            return f"{type(exc).__name__}: {exc}"
        return None

    settings = ", ".join([f"method={method}"] + [f"{k}={v}" for k, v in {**cover, **(generate or {})}.items()])
    return Method(name, images, video, missing, f"streamanon ({settings})")


def deface(name: str, *args: str) -> Method:
    """The deface CLI (CenterFace + blur by default) with its own defaults plus ``args``."""
    exe = shutil.which("deface")
    # imageio would otherwise pad frames to a multiple of 16 pixels, and frames are paired pixel to pixel
    ffmpeg = ["--ffmpeg-config", '{"codec": "libx264", "macro_block_size": 1}']

    def run(cmd: list[str]) -> None:
        r = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if r.returncode:
            tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"deface exited with {r.returncode}: {tail[0]}")

    def images(src: Path, dst: Path) -> None:
        dst.mkdir(parents=True, exist_ok=True)
        from ..media.images import list_images

        with tempfile.TemporaryDirectory(prefix="deface-") as tmp:  # deface writes beside its inputs
            links = []
            for p in list_images(src):
                link = Path(tmp) / p.name
                os.symlink(p.resolve(), link)
                links.append(link)
            run([exe, *args, *map(str, links)])
            for link in links:
                os.replace(link.with_name(f"{link.stem}_anonymized{link.suffix}"), dst / link.name)

    def video(src: Path, dst: Path) -> None:
        run([exe, *args, *ffmpeg, str(src), "-o", str(dst)])

    def missing() -> str | None:
        return None if exe else "deface is not installed (pip install deface)"

    return Method(name, images, video, missing, "deface CLI " + (" ".join(args) or "(defaults: blur, thresh 0.2)"))


METHODS: list[Method] = [
    ours("blur", "blur"),
    ours("pixelate", "pixelate"),
    ours("mask", "mask"),
    deface("deface", "--replacewith", "blur"),
    ours("generate", "generate"),  # ours (issue 10): textured mesh, identity-safe geometry, photometric stages
    ours("generate-no-relight", "generate", generate={"relight": False}),  # ablations of the stages
    ours("generate-no-colour", "generate", generate={"colour": False}),
    ours("generate-no-relief", "generate", generate={"relief": False}),  # the hollows not shaded
    ours("generate-no-grain", "generate", generate={"grain": False}),
    ours("generate-no-temporal", "generate", generate={"temporal": False}),
    ours("generate-dense", "generate", generate={"variant": "dense"}),  # issue 3's 128 px ONNX generator
    ours("generate-plain", "generate", generate={"variant": "dense", "swap": False}),  # ablation: plain dense landmarks
    ours("generate-sparse", "generate", generate={"variant": "sparse"}),  # ablation: 7 keypoints
]


def by_name(names: list[str] | None) -> list[Method]:
    """The methods named (all when None), in registry order; unknown names raise ValueError."""
    if not names:
        return list(METHODS)
    known = {m.name: m for m in METHODS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown method {', '.join(unknown)}; available: {', '.join(known)}")
    return [known[n] for n in names]
