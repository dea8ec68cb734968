"""ffmpeg-style pipes with the real ffmpeg on both ends: ``ffmpeg ... - | streamanon - - | ffmpeg -i - ...``.

Every frame and the audio must come through; nothing but the stream may reach stdout. Also the one-line
errors of stream inputs and outputs (bad stdin, unreachable RTSP, missing webcam, no display).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import media_factory as mf
import pytest
from conftest import REPO, cli_command, cli_env, run_cli

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                reason="needs the ffmpeg and ffprobe binaries (apt-get install ffmpeg)")

TIMEOUT = 120
SAMPLE = REPO / "samples" / "astronaut.mp4"


def pipeline(*stages: list[str], stdin=subprocess.DEVNULL, timeout: float = TIMEOUT) -> list[tuple[int, str]]:
    """Run ``stage1 | stage2 | ...``; return (exit code, stderr) per stage (stdout of the last is discarded)."""
    procs: list[subprocess.Popen] = []
    prev = stdin
    for i, cmd in enumerate(stages):
        last = i == len(stages) - 1
        p = subprocess.Popen(cmd, stdin=prev, stdout=subprocess.DEVNULL if last else subprocess.PIPE,
                             stderr=subprocess.PIPE, env=cli_env())
        if prev not in (None, subprocess.DEVNULL) and hasattr(prev, "close"):
            prev.close()  # only the next stage holds the read end
        prev = p.stdout
        procs.append(p)
    out = []
    for p in procs:
        try:
            _, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        out.append((p.returncode, err.decode(errors="replace")))
    return out


def ffprobe(path: Path, *args: str) -> dict:
    r = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                        "stream=codec_type,codec_name,nb_read_frames,width,height,duration", "-of", "json",
                        *args, str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return {s["codec_type"]: s for s in json.loads(r.stdout)["streams"]}


def assert_clean(results: list[tuple[int, str]]) -> None:
    for code, err in results:
        assert code == 0, err
        assert "Traceback" not in err, err


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A small clip with a face and audio (30 frames, 320x240, AAC)."""
    return mf.make_clip(tmp_path_factory.mktemp("pipes") / "clip.mp4", frames=30)


@pytest.mark.slow
def test_nut_pipe_keeps_every_frame_and_the_audio(tmp_path):
    """The issue's command on the shipped sample: ffmpeg -f nut - | streamanon - - | ffmpeg -f nut -i - out.mp4."""
    out, stats = tmp_path / "out.mp4", tmp_path / "stats.json"
    results = pipeline(["ffmpeg", "-nostdin", "-v", "error", "-i", str(SAMPLE), "-f", "nut", "-"],
                       cli_command("-", "-", "--stats", stats, "-v"),
                       ["ffmpeg", "-nostdin", "-v", "error", "-f", "nut", "-i", "-", "-y", str(out)])
    assert_clean(results)
    assert "streamanon: INFO:" in results[1][1]  # logs went to stderr, and the stream still parsed
    src, dst = ffprobe(SAMPLE), ffprobe(out)
    assert int(dst["video"]["nb_read_frames"]) == int(src["video"]["nb_read_frames"]) == 150
    assert (dst["video"]["width"], dst["video"]["height"]) == (1280, 720)
    assert "audio" in dst, "the audio was lost"
    assert float(dst["audio"]["duration"]) == pytest.approx(float(src["audio"]["duration"]), abs=0.1)
    s = json.loads(stats.read_text())
    assert (s["frames_in"], s["frames"], s["dropped"], s["live"]) == (150, 150, 0, False)
    assert s["faces"] >= 140 and s["audio_packets"] > 0


def test_y4m_frame_count(clip, tmp_path):
    out = tmp_path / "out.mkv"
    results = pipeline(["ffmpeg", "-nostdin", "-v", "error", "-i", str(clip), "-f", "yuv4mpegpipe", "-"],
                       cli_command("-", "-", "--input-format", "y4m", "--output-format", "y4m"),
                       ["ffmpeg", "-nostdin", "-v", "error", "-f", "yuv4mpegpipe", "-i", "-", "-c:v", "ffv1", "-y",
                        str(out)])
    assert_clean(results)
    v = ffprobe(out)["video"]
    assert (int(v["nb_read_frames"]), v["width"], v["height"]) == (30, 320, 240)


def test_rawvideo_in_and_out(clip, tmp_path):
    raw = tmp_path / "out.rgb"
    with open(raw, "wb") as sink:
        ff = subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", "-i", str(clip), "-f", "rawvideo", "-pix_fmt",
                               "rgb24", "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        anon = subprocess.run(cli_command("-", "-", "--input-format", "rawvideo", "--input-size", "320x240",
                                          "--input-pix-fmt", "rgb24", "--input-rate", "25", "--output-format",
                                          "rawvideo", "--pix-fmt", "rgb24"),
                              stdin=ff.stdout, stdout=sink, stderr=subprocess.PIPE, env=cli_env(), timeout=TIMEOUT)
        ff.stdout.close()
        ff.wait(TIMEOUT)
    assert anon.returncode == 0, anon.stderr.decode()
    assert raw.stat().st_size == 30 * 320 * 240 * 3  # every frame, and not one byte more (no logs)


def test_file_to_mpegts_on_stdout_keeps_audio(clip, tmp_path):
    out = tmp_path / "out.ts"
    with open(out, "wb") as sink:
        r = subprocess.run(cli_command(clip, "-", "--output-format", "mpegts"), stdout=sink, stderr=subprocess.PIPE,
                           env=cli_env(), timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr.decode()
    streams = ffprobe(out)
    assert int(streams["video"]["nb_read_frames"]) == 30
    assert streams["audio"]["codec_name"] == "aac"  # copied as is


def test_vorbis_in_nut_is_reencoded_for_mpegts(clip, tmp_path):
    """ffmpeg's nut carries Vorbis, which MPEG-TS cannot: streamanon re-encodes it (and says so with -v)."""
    out = tmp_path / "out.ts"
    results = pipeline(["ffmpeg", "-nostdin", "-v", "error", "-i", str(clip), "-c:a", "libvorbis", "-f", "nut", "-"],
                       cli_command("-", out, "-v"))
    assert_clean(results)
    assert "re-encoding it to aac" in results[1][1]
    streams = ffprobe(out)
    assert int(streams["video"]["nb_read_frames"]) == 30 and streams["audio"]["codec_name"] == "aac"


# --------------------------------------------------------------------------- errors


def _one_error_line(proc: subprocess.CompletedProcess, code: int) -> str:
    err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode()
    assert proc.returncode == code, f"exit {proc.returncode}, expected {code}\n{err}"
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("streamanon: error:"), err
    return lines[0]


def _feed(data: bytes, *args, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command(*args), input=data, capture_output=True, timeout=timeout, env=cli_env())


@pytest.mark.parametrize(("data", "args", "code", "words"), [
    pytest.param(b"this is not a video\n" * 50, ["-", "-"], 4, "cannot read stdin as nut", id="text-on-stdin"),
    pytest.param(b"", ["-", "-"], 4, "stdin", id="empty-stdin"),
    pytest.param(b"", ["-", "-", "--input-format", "rawvideo"], 2, "--input-size", id="rawvideo-without-size"),
    pytest.param(b"", ["-", "-", "--input-format", "rawvideo", "--input-size", "big"], 2, "WIDTHxHEIGHT",
                 id="bad-size"),
    pytest.param(b"", ["-", "-", "--max-latency", "0"], 2, "--max-latency", id="bad-latency"),
    pytest.param(b"", ["webcam:x", "-"], 2, "webcam:N", id="bad-webcam-name"),
    pytest.param(b"", ["-"], 2, "output", id="no-output-no-preview"),
])
def test_bad_stream_arguments(data, args, code, words):
    line = _one_error_line(_feed(data, *args), code)
    assert words in line


def test_unreachable_rtsp_is_input_not_found(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    line = _one_error_line(run_cli(f"rtsp://127.0.0.1:{port}/cam", tmp_path / "o.mkv", timeout=TIMEOUT), 3)
    assert "cannot open rtsp://" in line
    assert not list(tmp_path.iterdir())


def test_missing_webcam_is_input_not_found(tmp_path):
    line = _one_error_line(run_cli("webcam:57", tmp_path / "o.mkv", timeout=TIMEOUT), 3)
    assert "webcam:57" in line


def test_preview_without_display(clip, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    line = _one_error_line(run_cli(clip, "--preview", timeout=TIMEOUT), 7)
    assert "needs a display" in line


def test_reader_closing_the_pipe_is_an_output_error(clip):
    """``streamanon in - | head -c 1000``: the pipe closes early; one line, exit 7, no traceback."""
    anon = subprocess.Popen(cli_command(SAMPLE, "-"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(),
                            stdin=subprocess.DEVNULL)
    anon.stdout.read(1000)
    anon.stdout.close()
    _, err = anon.communicate(timeout=TIMEOUT)
    anon.stderr = err
    line = _one_error_line(anon, 7)
    assert "stdout" in line


@pytest.mark.parametrize("shape, fmt", [((72, 128), "yuv420p"), ((71, 127), "rgb24")])
def test_frames_reach_the_encoder_in_their_colours(shape, fmt):
    """The writer converts pictures to yuv420p itself (OpenCV, BT.601 limited range, as FFmpeg's default); the
    colours come back as they went in. Odd sides go to the encoder as RGB for its own conversion."""
    import cv2
    import numpy as np

    from streamanon.media.sink import to_video_frame

    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 255 // w, y * 255 // h, (x + y) * 127 // (w + h) + 60], -1).astype(np.uint8)
    rgb = cv2.GaussianBlur(rgb, (0, 0), 1.0)
    vf = to_video_frame(rgb, "yuv420p")
    assert vf.format.name == fmt
    back = vf.reformat(format="rgb24").to_ndarray().astype(np.float32)
    mse = float(np.mean((back - rgb) ** 2))
    assert 10 * np.log10(255**2 / max(mse, 1e-9)) > 35
