"""RTSP round trip with real components, and a server restart in the middle.

Debian's rtsp-server-perl on loopback; ffmpeg publishes a clip in a loop to /in; streamanon reads /in,
anonymizes and pushes to /out (``--reconnect``); an ffmpeg client reads /out and counts frames. Halfway
through, the server is killed and restarted (and the publisher with it); streamanon must reconnect on both
sides. At the end streamanon gets SIGINT, and its --stats give frames in/out/dropped, reconnects and the
capture-to-write latency (median, p95).

    python tools/rtsp_roundtrip.py --seconds 60            # needs ffmpeg and rtsp-server-perl

Soak (issue 12): a long run without the restart, streamanon's RSS sampled every 10 s (slope after the warm-up,
MB/hour), the capture-to-write latency per minute (--stats ``latency_minutes``), the drop rate, and one output
frame every ``--sample-every`` seconds judged for untouched faces against the input frame it came from (the
recall issue's independent small-face judges and untouched rule, streamanon/metrics/leak_judge.py):

    nice -n 5 python tools/rtsp_roundtrip.py --seconds 1800 --no-restart --sample-every 30 \
        --report soak.json --keep /tmp/soak -- --method generate

rtsp-server-perl carries RTP over UDP only, so the whole chain uses ``--rtsp-transport udp`` here.
The helpers (``RtspServer``, ``publish``, ``FrameCounter``) are also used by tests/test_live_rtsp.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVER = "rtsp-server-perl"


def missing_tools() -> list[str]:
    """The binaries this round trip needs that are not on PATH."""
    return [b for b in ("ffmpeg", "ffprobe", SERVER) if shutil.which(b) is None]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, wait: float = 5.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class RtspServer:
    """rtsp-server-perl on 127.0.0.1: clients read from ``read_url(name)``, sources publish to ``publish_url``."""

    def __init__(self, log_dir: Path):
        self.client_port, self.source_port = free_port(), free_port()
        self.rtp_port = 20000 + (os.getpid() % 2000) * 10
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def read_url(self, name: str) -> str:
        return f"rtsp://127.0.0.1:{self.client_port}/{name}"

    def publish_url(self, name: str) -> str:
        return f"rtsp://127.0.0.1:{self.source_port}/{name}"

    def start(self) -> None:
        self.starts += 1
        log = open(self.log_dir / f"server-{self.starts}.log", "wb")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [SERVER, "--clientport", str(self.client_port), "--serverport", str(self.source_port),
             "--rtp_start_port", str(self.rtp_port), "--loglevel", "1"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # wait until both ports accept connections
            if all(_listening(p) for p in (self.client_port, self.source_port)):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{SERVER} did not start; see {self.log_dir}")

    def kill(self) -> None:
        _stop(self.proc, signal.SIGKILL)

    def stop(self) -> None:
        _stop(self.proc)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def camera_clip(clip: Path, work: Path) -> Path:
    """``clip`` re-encoded like a camera stream: video only, a keyframe every second (a client that joins or
    reconnects waits for one), so that the publisher can send it without re-encoding."""
    out = work / f"camera-{clip.stem}.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(clip), "-an", "-c:v", "libx264", "-preset",
                    "veryfast", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-bf", "0", str(out)],
                   check=True, timeout=300, stdin=subprocess.DEVNULL)
    return out


def publish(clip: Path, url: str, log_dir: Path, transport: str = "udp") -> subprocess.Popen:
    """ffmpeg sends ``clip`` in a loop at its own rate (-re) to ``url``, video only, without re-encoding."""
    log = open(log_dir / "publisher.log", "ab")  # noqa: SIM115 - owned by the process
    return subprocess.Popen(
        ["ffmpeg", "-nostdin", "-v", "error", "-re", "-stream_loop", "-1", "-i", str(clip), "-an", "-c", "copy",
         "-f", "rtsp", "-rtsp_transport", transport, url],
        stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)


def wait_readable(url: str, timeout: float = 15.0, transport: str = "udp") -> bool:
    """True once ffprobe can read a video stream from ``url``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = subprocess.run(["ffprobe", "-v", "error", "-rtsp_transport", transport, "-select_streams", "v",
                            "-show_entries", "stream=codec_name", "-of", "csv=p=0", url],
                           capture_output=True, text=True, timeout=15, stdin=subprocess.DEVNULL)
        if r.returncode == 0 and r.stdout.strip():
            return True
        time.sleep(0.5)
    return False


class FrameCounter:
    """An ffmpeg client reading ``url`` (one framecrc line per frame), restarted whenever it drops."""

    def __init__(self, url: str, transport: str = "udp"):
        self.url, self.transport = url, transport
        self.frames = 0
        self.sessions = 0
        self._stop = threading.Event()
        self._proc: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._run, name="client", daemon=True)

    def start(self) -> FrameCounter:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self._proc = subprocess.Popen(
                ["ffmpeg", "-nostdin", "-v", "quiet", "-rtsp_transport", self.transport, "-timeout", "3000000",
                 "-i", self.url, "-an", "-f", "framecrc", "-"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
            got = 0
            for line in self._proc.stdout:  # type: ignore[union-attr]
                if line and not line.startswith("#"):
                    got += 1
                    self.frames += 1
            self._proc.wait()
            self.sessions += got > 0
            self._stop.wait(0.5)

    def stop(self) -> int:
        self._stop.set()
        _stop(self._proc)
        self._thread.join(10)
        return self.frames


def rss_mb(pid: int) -> float | None:
    """Resident memory of ``pid`` in MB (None once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class RssSampler:
    """Samples a process's RSS every ``every`` seconds: ``samples`` is [(seconds since start, MB)]."""

    def __init__(self, pid: int, every: float = 10.0):
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss", daemon=True)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set():
            mb = rss_mb(self.pid)
            if mb is None:
                return
            self.samples.append((round(time.monotonic() - t0, 1), round(mb, 1)))
            self._stop.wait(self.every)

    def stop(self) -> list[tuple[float, float]]:
        self._stop.set()
        self._thread.join(5)
        return self.samples


def slope_per_hour(samples: list[tuple[float, float]], warmup: float) -> float | None:
    """Least-squares slope of (seconds, MB) after ``warmup`` seconds, in MB per hour."""
    import numpy as np

    late = [(t, m) for t, m in samples if t >= warmup]
    if len(late) < 3:
        return None
    t, m = np.asarray(late, dtype=float).T
    return round(float(np.polyfit(t, m, 1)[0]) * 3600.0, 1)


class FrameSampler:
    """An ffmpeg client on ``url`` that saves one frame every ``every`` seconds as PNG in ``folder``,
    restarted whenever it drops (each session numbers its own files)."""

    def __init__(self, url: str, folder: Path, every: float, transport: str = "udp"):
        self.url, self.folder, self.every, self.transport = url, folder, every, transport
        self.sessions = 0
        self._stop = threading.Event()
        self._proc: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        folder.mkdir(parents=True, exist_ok=True)

    def start(self) -> FrameSampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sessions += 1
            self._proc = subprocess.Popen(
                ["ffmpeg", "-nostdin", "-v", "quiet", "-rtsp_transport", self.transport, "-timeout", "3000000",
                 "-i", self.url, "-an", "-vf", f"fps=1/{self.every}", "-y",
                 str(self.folder / f"s{self.sessions:02d}_%05d.png")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
            self._proc.wait()
            self._stop.wait(0.5)

    def stop(self) -> list[Path]:
        self._stop.set()
        _stop(self._proc, signal.SIGINT)
        self._thread.join(10)
        return sorted(self.folder.glob("s*.png"))


def judge_samples(clip: Path, samples: list[Path], png_dir: Path | None = None) -> dict:
    """Each sampled output frame against the input frame it came from (the nearest of the looped ``clip`` by
    mean absolute difference on small grey copies): untouched and partly covered faces by the recall issue's
    independent judges. A leaked frame is a sampled frame with an untouched face."""
    import av
    import cv2
    import numpy as np

    from streamanon.metrics.leak_judge import judge_frame
    from streamanon.metrics.small_faces import DETECTORS, get_small_face_judge
    from streamanon.metrics.untouched import UntouchedCounts

    def small(rgb: np.ndarray) -> np.ndarray:
        return cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (160, 90), interpolation=cv2.INTER_AREA)

    with av.open(str(clip)) as c:
        originals = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    keys = np.stack([small(o) for o in originals]).astype(np.float32)
    judge = get_small_face_judge()
    counts = UntouchedCounts(DETECTORS)
    leaked, matched = [], []
    for path in samples:
        out = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        if out.shape != originals[0].shape:
            continue
        diff = np.abs(keys - small(out)[None].astype(np.float32)).mean(axis=(1, 2))
        k = int(diff.argmin())
        matched.append(round(float(diff[k]), 2))
        before = counts.untouched
        judge_frame(judge, originals[k], out, counts, label=path.stem, png_dir=png_dir, frame=k)
        if counts.untouched > before:
            leaked.append(path.name)
    return {"sampled": len(matched), "faces": counts.faces, "untouched": counts.untouched,
            "partly_covered": counts.partly_covered, "leaked_frames": leaked,
            "match_mad_max": max(matched) if matched else None}


def streamanon(src: str, dst: str, stats: Path, *extra: str, log: Path) -> subprocess.Popen:
    """Start the CLI; its stderr goes to ``log``, each line prefixed with the seconds since the start."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.Popen([sys.executable, "-m", "streamanon", src, dst, "--stats", str(stats), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
                            text=True)
    t0 = time.monotonic()

    def copy() -> None:
        with open(log, "w") as f:
            for line in proc.stderr:  # type: ignore[union-attr]
                f.write(f"[{time.monotonic() - t0:6.2f}] {line}")
                f.flush()

    threading.Thread(target=copy, name="streamanon-log", daemon=True).start()
    return proc


def round_trip(clip: Path, seconds: float, restart_at: float | None, work: Path, extra: list[str],
               sample_every: float | None = None, rss_every: float = 10.0) -> dict:
    """Run the round trip; return streamanon's stats plus the client's frame counts, streamanon's RSS samples
    (``rss``: [(seconds, MB)]) and, with ``sample_every``, the sampled output frames (``samples``).

    Events are written to ``work/events.log`` with the same clock as ``work/streamanon.log``.
    """
    clip = camera_clip(clip, work)
    server = RtspServer(work)
    server.start()
    pub = publish(clip, server.publish_url("in"), work)
    anon = client = rss = sampler = None
    samples: list[Path] = []
    events = open(work / "events.log", "w")  # noqa: SIM115 - closed below
    try:
        if not wait_readable(server.read_url("in")):
            raise RuntimeError(f"the publisher never reached the server; see {work}")
        stats = work / "stats.json"
        anon = streamanon(server.read_url("in"), server.publish_url("out"), stats, "--rtsp-transport", "udp",
                          "--reconnect", "-v", *extra, log=work / "streamanon.log")
        rss = RssSampler(anon.pid, rss_every).start()
        t_start = time.monotonic()

        def note(what: str) -> None:
            events.write(f"[{time.monotonic() - t_start:6.2f}] {what} (client frames: "
                         f"{client.frames if client else 0})\n")
            events.flush()

        if not wait_readable(server.read_url("out"), timeout=60):
            raise RuntimeError(f"streamanon never published /out; see {work / 'streamanon.log'}")
        client = FrameCounter(server.read_url("out")).start()
        if sample_every:
            sampler = FrameSampler(server.read_url("out"), work / "samples", sample_every).start()
        note("/out readable, client started")
        t0 = time.monotonic()
        before = None
        if restart_at is not None:
            time.sleep(max(0.0, restart_at - (time.monotonic() - t0)))
            before = client.frames
            server.kill()
            _stop(pub)
            note("server killed")
            time.sleep(2.0)  # the stream is gone for a while
            server.start()
            pub = publish(clip, server.publish_url("in"), work)
            note("server and publisher restarted")
        time.sleep(max(0.0, seconds - (time.monotonic() - t0)))
        note("SIGINT to streamanon")
        anon.send_signal(signal.SIGINT)
        code = anon.wait(30)
        note(f"streamanon exited {code}")
        total = client.stop()
        samples = sampler.stop() if sampler else []
    finally:
        if sampler is not None:
            sampler.stop()
        rss_samples = rss.stop() if rss is not None else []
        for p in (anon, pub):
            _stop(p)
        if client is not None:
            client.stop()
        server.stop()
        events.close()
    result = json.loads(stats.read_text()) if stats.exists() else {}
    result["exit_code"] = code
    result["client_frames"] = total
    result["client_frames_after_restart"] = None if before is None else total - before
    result["client_sessions"] = client.sessions
    result["rss"] = rss_samples
    (work / "rss.json").write_text(json.dumps(rss_samples))
    result["samples"] = [str(p) for p in samples]
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clip", type=Path, default=REPO / "samples" / "astronaut.mp4")
    p.add_argument("--seconds", type=float, default=60.0, help="length of the run (default: %(default)s)")
    p.add_argument("--restart-at", type=float, default=None, help="server restart time (default: half way)")
    p.add_argument("--no-restart", action="store_true")
    p.add_argument("--keep", type=Path, help="keep logs and stats in this folder")
    p.add_argument("--sample-every", type=float, help="save one output frame every this many seconds and judge "
                   "them for untouched faces")
    p.add_argument("--rss-every", type=float, default=10.0, help="RSS sampling period (default: %(default)s)")
    p.add_argument("--warmup", type=float, default=300.0, help="seconds left out of the RSS slope and of the "
                   "first latency window (default: %(default)s)")
    p.add_argument("--report", type=Path, help="write the soak figures as JSON here")
    p.add_argument("streamanon_args", nargs="*", help="extra streamanon options (after --)")
    args = p.parse_args(argv)
    if missing := missing_tools():
        print(f"rtsp_roundtrip: missing {', '.join(missing)} (apt-get install ffmpeg rtsp-server-perl)",
              file=sys.stderr)
        return 2
    work = args.keep or Path(tempfile.mkdtemp(prefix="rtsp-roundtrip-"))
    work.mkdir(parents=True, exist_ok=True)
    restart = None if args.no_restart else (args.restart_at if args.restart_at is not None else args.seconds / 2)
    r = round_trip(args.clip, args.seconds, restart, work, args.streamanon_args, sample_every=args.sample_every,
                   rss_every=args.rss_every)
    lat = r.get("latency_ms", {})
    print(f"streamanon exit {r['exit_code']}: frames in {r.get('frames_in')}, out {r.get('frames')}, dropped "
          f"{r.get('dropped')}, reconnects {r.get('reconnects')}, failed (whole-frame) {r.get('failed_frames')}")
    print(f"latency capture->write: median {lat.get('median')} ms, p95 {lat.get('p95')} ms, max {lat.get('max')} ms")
    print(f"client read {r['client_frames']} frames from /out in {r['client_sessions']} sessions"
          + ("" if restart is None else f", {r['client_frames_after_restart']} after the restart at {restart:.0f} s"))
    soak = soak_figures(r, args.warmup)
    if args.sample_every:
        soak["judged"] = judge_samples(work / f"camera-{args.clip.stem}.mp4", [Path(p) for p in r["samples"]],
                                       png_dir=work / "untouched")
    print(json.dumps(soak, indent=1))
    if args.report:
        args.report.write_text(json.dumps({"soak": soak, "stats": {k: v for k, v in r.items() if k != "rss"},
                                           "rss": r["rss"]}, indent=1))
    print(f"logs and stats: {work}")
    return 0


def soak_figures(r: dict, warmup: float) -> dict:
    """RSS after the warm-up and its slope, latency p95 per minute (first and last 5 minutes), drop rate."""
    rss = r.get("rss", [])
    minutes = [m for m in r.get("latency_minutes", []) if not m.get("partial")]
    first = [m["p95"] for m in minutes if warmup / 60 <= m["minute"] < warmup / 60 + 5] or [m["p95"] for m in
                                                                                            minutes[:5]]
    last = [m["p95"] for m in minutes[-5:]]
    frames_in = r.get("frames_in") or 0
    return {"seconds": r.get("seconds"), "exit_code": r.get("exit_code"), "frames_in": frames_in,
            "frames_out": r.get("frames"), "dropped": r.get("dropped"),
            "drop_rate": round((r.get("dropped") or 0) / frames_in, 4) if frames_in else None,
            "failed_frames": r.get("failed_frames"), "reconnects": r.get("reconnects"),
            "rss_mb_first": rss[0][1] if rss else None,
            "rss_mb_after_warmup": next((m for t, m in rss if t >= warmup), None),
            "rss_mb_last": rss[-1][1] if rss else None, "rss_mb_max": max((m for _, m in rss), default=None),
            "rss_slope_mb_per_hour": slope_per_hour(rss, warmup),
            # a warm-up that outlasts --warmup inflates the slope above; over the run's second half it shows
            "rss_slope_second_half_mb_per_hour": slope_per_hour(rss, rss[-1][0] / 2) if rss else None,
            "latency_ms": r.get("latency_ms"),
            "p95_ms_first_5_min_after_warmup": first, "p95_ms_last_5_min": last,
            "client_frames": r.get("client_frames")}


if __name__ == "__main__":
    raise SystemExit(main())
