"""RTSP round trip with real components, and a server restart in the middle.

Debian's rtsp-server-perl on loopback; ffmpeg publishes a clip in a loop to /in; streamanon reads /in,
anonymizes and pushes to /out (``--reconnect``); an ffmpeg client reads /out and counts frames. Halfway
through, the server is killed and restarted (and the publisher with it); streamanon must reconnect on both
sides. At the end streamanon gets SIGINT, and its --stats give frames in/out/dropped, reconnects and the
capture-to-write latency (median, p95).

    python tools/rtsp_roundtrip.py --seconds 60            # needs ffmpeg and rtsp-server-perl

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


def round_trip(clip: Path, seconds: float, restart_at: float | None, work: Path, extra: list[str]) -> dict:
    """Run the round trip; return streamanon's stats plus the client's frame counts.

    Events are written to ``work/events.log`` with the same clock as ``work/streamanon.log``.
    """
    clip = camera_clip(clip, work)
    server = RtspServer(work)
    server.start()
    pub = publish(clip, server.publish_url("in"), work)
    anon = client = None
    events = open(work / "events.log", "w")  # noqa: SIM115 - closed below
    try:
        if not wait_readable(server.read_url("in")):
            raise RuntimeError(f"the publisher never reached the server; see {work}")
        stats = work / "stats.json"
        anon = streamanon(server.read_url("in"), server.publish_url("out"), stats, "--rtsp-transport", "udp",
                          "--reconnect", "-v", *extra, log=work / "streamanon.log")
        t_start = time.monotonic()

        def note(what: str) -> None:
            events.write(f"[{time.monotonic() - t_start:6.2f}] {what} (client frames: "
                         f"{client.frames if client else 0})\n")
            events.flush()

        if not wait_readable(server.read_url("out"), timeout=60):
            raise RuntimeError(f"streamanon never published /out; see {work / 'streamanon.log'}")
        client = FrameCounter(server.read_url("out")).start()
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
    finally:
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
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clip", type=Path, default=REPO / "samples" / "astronaut.mp4")
    p.add_argument("--seconds", type=float, default=60.0, help="length of the run (default: %(default)s)")
    p.add_argument("--restart-at", type=float, default=None, help="server restart time (default: half way)")
    p.add_argument("--no-restart", action="store_true")
    p.add_argument("--keep", type=Path, help="keep logs and stats in this folder")
    p.add_argument("streamanon_args", nargs="*", help="extra streamanon options (after --)")
    args = p.parse_args(argv)
    if missing := missing_tools():
        print(f"rtsp_roundtrip: missing {', '.join(missing)} (apt-get install ffmpeg rtsp-server-perl)",
              file=sys.stderr)
        return 2
    work = args.keep or Path(tempfile.mkdtemp(prefix="rtsp-roundtrip-"))
    work.mkdir(parents=True, exist_ok=True)
    restart = None if args.no_restart else (args.restart_at if args.restart_at is not None else args.seconds / 2)
    r = round_trip(args.clip, args.seconds, restart, work, args.streamanon_args)
    lat = r.get("latency_ms", {})
    print(f"streamanon exit {r['exit_code']}: frames in {r.get('frames_in')}, out {r.get('frames')}, dropped "
          f"{r.get('dropped')}, reconnects {r.get('reconnects')}, failed (whole-frame) {r.get('failed_frames')}")
    print(f"latency capture->write: median {lat.get('median')} ms, p95 {lat.get('p95')} ms, max {lat.get('max')} ms")
    print(f"client read {r['client_frames']} frames from /out in {r['client_sessions']} sessions"
          + ("" if restart is None else f", {r['client_frames_after_restart']} after the restart at {restart:.0f} s"))
    print(f"logs and stats: {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
