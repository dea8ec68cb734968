"""The CLI's input handling: each bad input is a test with its exit code; good inputs keep their shape.

Contract (streamanon/errors.py): 3 input not found, 4 input invalid, 5 no video stream, 6 no decodable frame
(a truncated file gives its decodable frames: tests/test_fuzz_inputs.py),
7 output error, 130/143 interrupted (output finalized, shorter). A failure prints exactly one line on
stderr starting with ``streamanon: error:``, never a traceback, and leaves nothing under the output name
(nor temporary files beside it).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import media_factory as mf
import numpy as np
import pytest
from conftest import cli_command, cli_env, run_cli

pytest.importorskip("skimage.data")  # the factory's face

TIMEOUT = 90  # seconds for one CLI run on tiny media (mostly interpreter and model start-up)


# --------------------------------------------------------------------------- helpers


def listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def assert_one_error_line(proc: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{proc.stderr}"
    assert lines[0].startswith("streamanon: error:"), lines[0]
    assert len(lines[0]) > len("streamanon: error:") + 1, lines[0]  # says something


def assert_ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr


def assert_same_media(src: Path, dst: Path, *, audio: bool | None = None) -> mf.MediaInfo:
    """Same frame count, coded size, rotation and timestamps (within one tick); audio as the input."""
    a, b = mf.probe(src), mf.probe(dst)
    assert b.frames == a.frames, (a.frames, b.frames)
    assert (b.width, b.height) == (a.width, a.height)
    assert b.rotation == a.rotation
    tick = max(a.tick, b.tick, 1e-6)
    worst = max((abs(x - y) for x, y in zip(a.times, b.times, strict=True)), default=0.0)
    assert worst <= tick + 1e-9, f"pts differ by up to {worst:.6f} s (tick {tick:.6f} s)\n{a.times}\n{b.times}"
    assert b.audio == (a.audio if audio is None else audio), (a.audio_streams, b.audio_streams)
    return b


# --------------------------------------------------------------------------- inputs (built once)


@pytest.fixture(scope="session")
def media(media_dir) -> Callable[..., Path]:
    """``media(name, kind="clip", **kwargs)``: a synthetic input, built once per session."""
    made: dict[str, Path] = {}

    def get(name: str, kind: str = "clip", **kwargs) -> Path:
        if name not in made:
            path = media_dir / name
            {"clip": mf.make_clip, "audio": mf.make_audio_only, "image": mf.make_image}[kind](path, **kwargs)
            made[name] = path
        return made[name]

    return get


# --------------------------------------------------------------------------- bad inputs and outputs


@dataclass
class Case:
    """A prepared failing run: arguments, the output that must not appear, files that must stay as they are."""

    args: list
    output: Path
    keep: dict[Path, bytes]  # path -> content that must be unchanged afterwards (input, existing output)


def _out_dir(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    return out


def case_missing(tmp_path, media) -> Case:
    out = _out_dir(tmp_path) / "o.mp4"
    return Case([tmp_path / "does-not-exist.mp4", out], out, {})


def case_text_as_mp4(tmp_path, media) -> Case:
    src = mf.make_text_file(tmp_path / "notes.mp4")
    out = _out_dir(tmp_path) / "o.mp4"
    return Case([src, out], out, {src: src.read_bytes()})


def case_zero_bytes(tmp_path, media) -> Case:
    src = mf.make_empty_file(tmp_path / "empty.mp4")
    out = _out_dir(tmp_path) / "o.mp4"
    return Case([src, out], out, {src: b""})


def case_audio_only(tmp_path, media) -> Case:
    src = media("tone.m4a", kind="audio")
    out = _out_dir(tmp_path) / "o.mp4"
    return Case([src, out], out, {src: src.read_bytes()})


def case_missing_output_folder(tmp_path, media) -> Case:
    src = media("plain.mp4")
    out = tmp_path / "no" / "such" / "folder" / "o.mp4"
    return Case([src, out], out, {src: src.read_bytes()})


def case_output_is_input(tmp_path, media) -> Case:
    src = tmp_path / "same.mp4"
    shutil.copyfile(media("plain.mp4"), src)
    # also with -y: overwriting the input while reading it is never allowed
    return Case([src, src, "-y"], src, {src: src.read_bytes()})


def case_output_is_input_other_spelling(tmp_path, media) -> Case:
    src = tmp_path / "same.mp4"
    shutil.copyfile(media("plain.mp4"), src)
    (tmp_path / "sub").mkdir()
    return Case([src, tmp_path / "sub" / ".." / "same.mp4", "-y"], src, {src: src.read_bytes()})


def case_output_exists(tmp_path, media) -> Case:
    src = media("plain.mp4")
    out = _out_dir(tmp_path) / "o.mp4"
    out.write_bytes(b"precious, not to be overwritten without -y")
    return Case([src, out], out, {src: src.read_bytes(), out: out.read_bytes()})


BAD = [
    pytest.param(case_missing, 3, id="missing-file"),
    pytest.param(case_text_as_mp4, 4, id="text-named-mp4"),
    pytest.param(case_zero_bytes, 4, id="zero-bytes"),
    pytest.param(case_audio_only, 5, id="audio-only"),
    pytest.param(case_missing_output_folder, 7, id="output-folder-missing"),
    pytest.param(case_output_is_input, 7, id="output-is-input"),
    pytest.param(case_output_is_input_other_spelling, 7, id="output-is-input-via-dotdot"),
    pytest.param(case_output_exists, 7, id="output-exists-no-y"),
]


@pytest.mark.parametrize(("make", "code"), BAD)
def test_bad_input_exit_code(tmp_path, media, make, code):
    case = make(tmp_path, media)
    watched = {case.output.parent, *(p.parent for p in case.keep)}
    before = {d: listing(d) for d in watched}
    proc = run_cli(*case.args, timeout=TIMEOUT)
    assert proc.returncode == code, f"exit {proc.returncode}, expected {code}\nstderr:\n{proc.stderr}"
    assert_one_error_line(proc)
    if case.output not in case.keep:
        assert not case.output.exists(), f"{case.output} left behind after a failure"
    for path, content in case.keep.items():
        assert path.read_bytes() == content, f"{path} was modified"
    for d, names in before.items():
        assert listing(d) == names, f"stray files in {d}: {sorted(listing(d) ^ names)}"


def test_output_exists_with_overwrite(tmp_path, media):
    src = media("plain.mp4")
    out = _out_dir(tmp_path) / "o.mp4"
    out.write_bytes(b"old content")
    proc = run_cli(src, out, "-y", timeout=TIMEOUT)
    assert_ok(proc)
    assert listing(out.parent) == {"o.mp4"}
    assert_same_media(src, out)


# --------------------------------------------------------------------------- good inputs


GOOD = [
    pytest.param("noface.mp4", {"face": False}, [], id="no-faces-audio-kept"),
    pytest.param("odd.mp4", {"width": 321, "height": 241, "pix_fmt": "yuv444p"}, [], id="odd-size"),
    pytest.param("odd-ffv1.mkv", {"width": 161, "height": 121, "codec": "ffv1"}, [], id="odd-size-ffv1-mkv"),
    pytest.param("10bit.mp4", {"pix_fmt": "yuv420p10le"}, [], id="10-bit"),
    pytest.param("yuv444.mp4", {"pix_fmt": "yuv444p"}, [], id="yuv444"),
    pytest.param("rot90.mp4", {"rotation": 90}, [], id="rotation-90"),
    pytest.param("rot-90.mp4", {"rotation": -90}, [], id="rotation-270-phone"),
    pytest.param("vfr.mp4", {"vfr": True}, [], id="variable-frame-rate"),
    pytest.param("vfr.mkv", {"vfr": True}, [], id="variable-frame-rate-mkv"),
    pytest.param("face.mp4", {}, ["--no-audio"], id="face-no-audio"),
]


@pytest.mark.parametrize(("name", "kwargs", "extra"), GOOD)
def test_good_input_keeps_shape(tmp_path, media, name, kwargs, extra):
    src = media(name, **kwargs)
    out = _out_dir(tmp_path) / ("o" + Path(name).suffix)
    proc = run_cli(src, out, *extra, timeout=TIMEOUT)
    assert_ok(proc)
    assert listing(out.parent) == {out.name}, "stray files beside the output"
    assert_same_media(src, out, audio=False if "--no-audio" in extra else None)


def test_single_image(tmp_path, media):
    src = media("photo.jpg", kind="image", width=321, height=240)
    out = _out_dir(tmp_path) / "photo_anon.jpg"
    proc = run_cli(src, out, timeout=TIMEOUT)
    assert_ok(proc)
    assert listing(out.parent) == {"photo_anon.jpg"}
    img = cv2.imread(str(out))
    assert img is not None and img.shape == (240, 321, 3)


def test_folder_of_images(tmp_path, media):
    src = tmp_path / "photos"
    src.mkdir()
    mf.make_image(src / "a.jpg", width=320, height=240)
    mf.make_image(src / "b.png", width=200, height=150, index=5)
    out = tmp_path / "photos_anon"
    proc = run_cli(src, out, timeout=TIMEOUT)
    assert_ok(proc)
    assert listing(out) == {"a.jpg", "b.png"}
    for name, shape in (("a.jpg", (240, 320, 3)), ("b.png", (150, 200, 3))):
        img = cv2.imread(str(out / name))
        assert img is not None and img.shape == shape, name
    assert listing(src) == {"a.jpg", "b.png"}  # the input folder is untouched


def test_transparent_png_keeps_its_alpha(tmp_path):
    """A cut-out portrait (a PNG with transparency) comes out with the same transparency, its face replaced: the
    alpha channel was dropped, and what lay under the transparent pixels showed."""
    src = tmp_path / "cutout.png"
    mf.make_image(src, width=320, height=240)
    bgr = cv2.imread(str(src))
    alpha = np.full(bgr.shape[:2], 255, np.uint8)
    alpha[:, :40] = 0
    alpha[:, 40:80] = 128
    cv2.imwrite(str(src), np.dstack([bgr, alpha]))
    out = _out_dir(tmp_path) / "cutout_anon.png"
    assert_ok(run_cli(src, out, "--method", "blur", timeout=TIMEOUT))
    img = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert img is not None and img.shape == (240, 320, 4)
    assert np.array_equal(img[..., 3], alpha)
    assert np.abs(img[..., :3].astype(int) - bgr.astype(int)).max() > 40  # the face was covered


# --------------------------------------------------------------------------- signals


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_signal_finalizes_shorter_output(tmp_path, media, sig, code):
    src = media("long.mp4", width=640, height=360, frames=300)
    out_dir = _out_dir(tmp_path)
    out = out_dir / "o.mp4"
    proc = subprocess.Popen(cli_command(src, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env(), stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:  # wait until it writes something
            if any(p.stat().st_size > 0 for p in out_dir.iterdir() if p.is_file()):
                break
            time.sleep(0.05)
        time.sleep(1.0)  # ~1.5 s into the encode, well before 300 frames are done
        if proc.poll() is None:
            proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal arrived (machine too fast for a 300-frame clip)")
    assert proc.returncode == code, f"exit {proc.returncode}, expected {code}\nstderr:\n{stderr}"
    assert "Traceback" not in stderr, stderr
    assert out.exists(), "the interrupted output must be finalized under its name"
    assert listing(out_dir) == {"o.mp4"}, "stray files beside the output"
    info = mf.probe(out)
    assert 0 < info.frames < 300
    assert (info.width, info.height) == (640, 360)
    # decodable to the end, and its timestamps are a prefix of the input's
    ref = mf.probe(src).times[: info.frames]
    assert max(abs(a - b) for a, b in zip(ref, info.times, strict=True)) <= max(info.tick, 1e-3)


def test_probe_reads_factory_media(media):
    """The factory makes what the tests above believe it makes (no CLI involved)."""
    info = mf.probe(media("rot90.mp4", rotation=90))
    assert (info.width, info.height, info.rotation, info.frames, info.audio) == (320, 240, 90, 20, True)
    info = mf.probe(media("10bit.mp4", pix_fmt="yuv420p10le"))
    assert info.pix_fmt == "yuv420p10le"
    info = mf.probe(media("vfr.mp4", vfr=True))
    assert len({round(b - a, 3) for a, b in zip(info.times, info.times[1:], strict=False)}) > 2
    with av.open(str(media("tone.m4a", kind="audio"))) as c:
        assert not c.streams.video and c.streams.audio
