"""Fault injection (issue 12): run the CLI under each fault and check the documented outcome.

    python tools/fault_table.py [--cases a,b,...] [--seed 0] [--stride 10] [--json out.json] [--keep DIR]

Each case runs ``python -m streamanon`` in a subprocess (the faults inside the process are injected by a child
mode of this script, ``--child CASE``, that patches one function and then calls the CLI's main). A case passes
when: the exit status is the documented one; stderr has at most one line; no temporary file is left in the
output folder; and where an output is kept, ffprobe reads it to the end and the independent small-face judge
(MTCNN + CenterFace, streamanon/metrics/small_faces.py) finds no untouched face in it (every ``stride``-th
frame, input and output paired by index). Prints a Markdown table; exit status 1 when a case fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "astronaut.mp4"
TWO_FACES = ROOT / "samples" / "two_faces.mp4"


@dataclass
class Outcome:
    case: str
    expected: str
    observed: str
    ok: bool
    seconds: float


# ---------------------------------------------------------------------------------------------- child mode
def _child(case: str, argv: list[str]) -> int:
    """Inject ``case`` into this process, then run the CLI with ``argv``."""
    if case == "encoder-fails":
        from streamanon.errors import EncodeError
        from streamanon.media import sink

        write = sink.VideoSink.write

        def failing(self, frame):
            if self.frames >= 40:
                raise EncodeError(f"encoding frame {frame.index} failed: injected encoder failure",
                                  path=self.label, frame=frame.index)
            return write(self, frame)

        sink.VideoSink.write = failing
    elif case in ("engine-one-face", "engine-every-face"):
        from streamanon import generate

        victims: set[int] = set()

        def fails(track_id: int) -> bool:
            if case == "engine-every-face":
                return True
            if not victims:
                victims.add(track_id)
            return track_id in victims

        def failing(method):
            def wrapper(self, rgb, landmarks, track_id):
                if fails(int(track_id)):
                    raise RuntimeError("injected engine failure")
                return method(self, rgb, landmarks, track_id)
            return wrapper

        for name in ("prepare_face", "onnx_input"):  # the mesh variant, the network variant
            if hasattr(generate.FaceGenerator, name):
                setattr(generate.FaceGenerator, name, failing(getattr(generate.FaceGenerator, name)))
    elif case == "mediapipe-raises":
        from streamanon.faces import landmarks

        def estimate(self, *args, **kwargs):
            raise RuntimeError("injected MediaPipe graph failure")

        landmarks.MeshEstimator.estimate = estimate
    elif case != "none":
        raise SystemExit(f"unknown child case {case}")
    from streamanon.cli import main

    return main(argv)


# ---------------------------------------------------------------------------------------------- checks
def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".")]


def _frames(path: Path) -> int | None:
    """Frames ffprobe decodes to the end of ``path``; None when it fails."""
    r = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                        "stream=nb_read_frames", "-of", "csv=p=0", str(path)], capture_output=True, text=True)
    if r.returncode or r.stderr.strip():
        return None
    try:
        return int(r.stdout.strip().split(",")[0])
    except ValueError:
        return None


def _untouched(src: Path, out: Path, stride: int) -> tuple[int, int]:
    """(untouched faces, judged faces) over every ``stride``-th frame pair."""
    import av

    from streamanon.metrics.small_faces import get_small_face_judge
    from streamanon.metrics.untouched import face_changes

    judge = get_small_face_judge()
    bad = total = 0
    with av.open(str(src)) as a, av.open(str(out)) as b:
        for i, (fa, fb) in enumerate(zip(a.decode(video=0), b.decode(video=0))):
            if i % stride:
                continue
            x, y = fa.to_ndarray(format="rgb24"), fb.to_ndarray(format="rgb24")
            if x.shape != y.shape:
                return -1, total
            faces = judge.find(x)
            changes = face_changes(x, y, faces.boxes)
            bad += sum(c.untouched for c in changes)
            total += len(changes)
    return bad, total


def _fresh(folder: Path) -> Path:
    """An empty folder for one case."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def _env(pythonpath: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (pythonpath or ROOT, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _cli(args: list, child: str | None = None, **kw) -> list[str]:
    if child:
        return [sys.executable, str(Path(__file__).resolve()), "--child", child, "--", *map(str, args)]
    return [sys.executable, "-m", "streamanon", *map(str, args)]


def _judge_kept(out: Path, src: Path, stride: int, notes: list[str]) -> bool:
    if not out.exists():
        notes.append("no output")
        return False
    n = _frames(out)
    if n is None or n == 0:
        notes.append("output not playable to the end")
        return False
    bad, total = _untouched(src, out, stride)
    notes.append(f"{n} frames playable, {bad} of {total} judged faces untouched")
    return bad == 0


def _finish(name: str, expected: str, ok: bool, notes: list[str], t0: float) -> Outcome:
    return Outcome(name, expected, "; ".join(notes), ok, round(time.monotonic() - t0, 1))


def _error_case(name: str, work: Path, cmd: list[str], codes: tuple[int, ...], expected: str,
                env=None, preexec=None, timeout: float = 300) -> Outcome:
    """A case whose documented outcome is an error: exit status in ``codes``, one line, no file left."""
    t0 = time.monotonic()
    out_dir = _fresh(work / name)
    cmd = [str(c).replace("{OUT}", str(out_dir / "out.mp4")) for c in cmd]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=out_dir, env=env or _env(),
                       preexec_fn=preexec, stdin=subprocess.DEVNULL)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    left = _temporaries(out_dir) + ([out_dir / "out.mp4"] if (out_dir / "out.mp4").exists() else [])
    notes = [f"exit {r.returncode}", f"{len(lines)} stderr line(s)" + (f": {lines[-1][:90]}" if lines else ""),
             f"{len(left)} file(s) left"]
    ok = r.returncode in codes and len(lines) == 1 and not left and "Traceback" not in r.stderr
    return _finish(name, expected, ok, notes, t0)


def _kept_case(name: str, work: Path, src: Path, cmd_args: list, child: str, expected: str, stride: int,
               codes: tuple[int, ...] = (0,)) -> Outcome:
    """A case whose documented outcome is a complete, covered output (exit 0)."""
    t0 = time.monotonic()
    out_dir = _fresh(work / name)
    out = out_dir / "out.mp4"
    r = subprocess.run(_cli([src, out, "-y", "-q", "--stats", out_dir / "stats.json", *cmd_args], child),
                       capture_output=True, text=True, timeout=600, cwd=out_dir, env=_env())
    notes = [f"exit {r.returncode}"]
    ok = r.returncode in codes and "Traceback" not in r.stderr and not _temporaries(out_dir)
    if (out_dir / "stats.json").exists():
        st = json.loads((out_dir / "stats.json").read_text())
        notes.append(f"fallbacks {st.get('fallbacks')}, failed frames {st.get('failed_frames')}")
    ok = _judge_kept(out, src, stride, notes) and ok
    return _finish(name, expected, ok, notes, t0)


def _signal_case(name: str, work: Path, sig: int, delay: float, stride: int, starting: bool) -> Outcome:
    """Send ``sig`` ``delay`` s after start (``starting``: while the libraries load) or after the output file
    appeared. SIGINT/SIGTERM: exit 130/143 and the frames so far, playable and covered (or no output at all
    when no frame was done). SIGKILL: nothing at the output name; a rerun removes the temporary file the
    killed run left."""
    t0 = time.monotonic()
    out_dir = _fresh(work / name)
    out = out_dir / "out.mp4"
    p = subprocess.Popen(_cli([SAMPLE, out, "-y", "-q", "--method", "generate"]), stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, cwd=out_dir, env=_env(),
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # a background job
    while not starting and not _temporaries(out_dir) and p.poll() is None and time.monotonic() - t0 < 300:
        time.sleep(0.05)
    time.sleep(delay)
    p.send_signal(sig)
    _, err = p.communicate(timeout=300)
    lines = [x for x in err.splitlines() if x.strip()]
    when = "while starting" if starting else "after the output opened"
    notes = [f"signal {delay:.1f} s {when}", f"exit {p.returncode}", f"{len(lines)} stderr line(s)"]
    if sig == signal.SIGKILL:
        left = _temporaries(out_dir)
        ok = p.returncode == -signal.SIGKILL and not out.exists()
        r = subprocess.run(_cli([SAMPLE, out_dir / "out.mp4", "-y", "-q", "--method", "blur"]), capture_output=True,
                           text=True, timeout=600, cwd=out_dir, env=_env())
        after = _temporaries(out_dir)
        notes.append(f"{len(left)} temporary file(s) after the kill, {len(after)} after a rerun (exit {r.returncode})")
        return _finish(name, "killed: no output file; a rerun removes the temporary file", ok and not after
                       and r.returncode == 0, notes, t0)
    code = 130 if sig == signal.SIGINT else 143
    if p.returncode == 0 and not starting:  # the run ended before the signal: a complete output
        notes.append("finished before the signal")
        ok = _judge_kept(out, SAMPLE, stride, notes)
    else:
        ok = p.returncode == code and len(lines) <= 2 and not _temporaries(out_dir) and "Traceback" not in err
        ok = (_judge_kept(out, SAMPLE, stride, notes) if out.exists() else True) and ok
    return _finish(name, f"exit {code}; the frames done so far, playable and covered", ok, notes, t0)


def _stdout_closed(work: Path) -> Outcome:
    t0 = time.monotonic()
    out_dir = _fresh(work / "stdout-closed")
    p = subprocess.Popen(_cli([SAMPLE, "-", "--output-format", "nut", "--method", "blur", "-q"]),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=out_dir, env=_env())
    p.stdout.read(20000)  # the reader takes a little, then goes away
    p.stdout.close()
    err = p.stderr.read().decode(errors="replace")
    p.wait(timeout=120)
    lines = [x for x in err.splitlines() if x.strip()]
    notes = [f"exit {p.returncode}", f"{len(lines)} stderr line(s)" + (f": {lines[-1][:90]}" if lines else "")]
    ok = p.returncode == 7 and len(lines) == 1 and "Traceback" not in err
    return _finish("stdout-closed", "exit 7, one line (the reader closed the pipe)", ok, notes, t0)


def _rtsp_stall(work: Path) -> Outcome:
    """A server that accepts the connection and then says nothing, without closing."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    port = srv.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.5)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    try:
        return _error_case("rtsp-stall", work, _cli([f"rtsp://127.0.0.1:{port}/stream", "{OUT}", "-q"]), (3,),
                           "exit 3 (cannot open) after the stream timeout, one line, no output", timeout=120)
    finally:
        stop.set()
        for s in held:
            s.close()
        srv.close()


class StallingProxy:
    """A TCP proxy to ``port`` that stops passing the server's data on after ``after`` seconds, without
    closing anything (a camera or server that hangs)."""

    def __init__(self, port: int, after: float):
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(4)
        self.port, self.target, self.after = self.srv.getsockname()[1], port, after
        self.t0: float | None = None
        self.socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client = self.srv.accept()[0]
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            self.socks += [client, server]
            self.t0 = self.t0 or time.monotonic()
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket, stalls: bool) -> None:
        try:
            while data := a.recv(65536):
                if stalls and time.monotonic() - self.t0 > self.after:
                    continue  # swallowed: the client hears nothing more, and nothing closes
                b.sendall(data)
        except OSError:
            return

    def close(self) -> None:
        for s in [self.srv, *self.socks]:
            s.close()


def _rtsp_stall_midstream(work: Path, stride: int) -> Outcome:
    """GStreamer's RTSP server behind a proxy that goes silent after 4 s: exit 6 (stream lost) once the
    stream timeout passes, the output finalized with the frames received, playable and covered."""
    sys.path.insert(0, str(ROOT / "tools"))
    import rtsp_roundtrip as rt

    t0 = time.monotonic()
    out_dir = _fresh(work / "rtsp-stall-midstream")
    out = out_dir / "out.mp4"
    clip = rt.camera_clip(SAMPLE, out_dir)
    port = rt.free_port()
    server = subprocess.Popen(["/usr/bin/python3", str(ROOT / "tools" / "gst_rtsp_server.py"), str(clip), "--port",
                               str(port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    proxy = None
    try:
        if not server.stdout.readline().strip():
            return _finish("rtsp-stall-midstream", "exit 6", False, ["GStreamer's RTSP server did not start"], t0)
        proxy = StallingProxy(port, after=4.0)
        r = subprocess.run(_cli([f"rtsp://127.0.0.1:{proxy.port}/cam", out, "-q"]), capture_output=True, text=True,
                           timeout=120, cwd=out_dir, env=_env())
    finally:
        rt._stop(server)
        if proxy:
            proxy.close()
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    notes = [f"exit {r.returncode} after {time.monotonic() - t0:.0f} s",
             f"{len(lines)} stderr line(s)" + (f": {lines[-1][:80]}" if lines else "")]
    ok = r.returncode == 6 and len(lines) == 1 and not _temporaries(out_dir)
    if out.exists():
        ok = _judge_kept(out, clip, stride, notes) and ok
    else:
        ok, _ = False, notes.append("no output")
    return _finish("rtsp-stall-midstream", "exit 6 (stream lost) after the timeout; the frames received, "
                   "playable and covered", ok, notes, t0)


def _model_case(name: str, work: Path, damage) -> Outcome:
    """A copy of the package whose CenterFace file is damaged by ``damage(bytes) -> bytes``."""
    copy = work / f"{name}-package"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(ROOT / "streamanon", copy / "streamanon", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "engines", copy / "engines")
    model = copy / "engines" / "centerface.onnx"
    model.write_bytes(damage(model.read_bytes()))
    try:
        return _error_case(name, work, [sys.executable, "-m", "streamanon", SAMPLE, "{OUT}", "-q"], (9,),
                           "exit 9 (model does not match its sha256), one line, no output", env=_env(copy))
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def _full_disk(work: Path) -> Outcome:
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))  # a disk with 200 kB free

    return _error_case("disk-full", work, _cli([SAMPLE, "{OUT}", "-q", "--method", "blur"]), (7, 8),
                       "exit 7 (cannot write), one line, no output, no temporary file", preexec=limit)


def run(cases: list[str], work: Path, seed: int, stride: int) -> list[Outcome]:
    rng = random.Random(seed)
    table = {
        "encoder-fails": lambda: _error_case("encoder-fails", work, _cli([SAMPLE, "{OUT}", "-q"], "encoder-fails"),
                                             (8,), "exit 8, one line, no output, no temporary file"),
        "disk-full": lambda: _full_disk(work),
        "model-truncated": lambda: _model_case("model-truncated", work, lambda b: b[: len(b) // 3]),
        "model-altered": lambda: _model_case("model-altered", work,
                                             lambda b: b[:5000] + bytes([b[5000] ^ 0x40]) + b[5001:]),
        "engine-one-face": lambda: _kept_case("engine-one-face", work, TWO_FACES, ["--method", "generate"],
                                              "engine-one-face", "exit 0; that face blurred (a fallback), all covered",
                                              stride),
        "engine-every-face": lambda: _kept_case("engine-every-face", work, SAMPLE, ["--method", "generate"],
                                                "engine-every-face", "exit 0; every face blurred, all covered",
                                                stride),
        "mediapipe-raises": lambda: _kept_case("mediapipe-raises", work, SAMPLE, ["--method", "generate"],
                                               "mediapipe-raises", "exit 0; faces covered from their boxes",
                                               stride),
        "stdout-closed": lambda: _stdout_closed(work),
        "rtsp-stall": lambda: _rtsp_stall(work),
        "rtsp-stall-midstream": lambda: _rtsp_stall_midstream(work, stride),
    }
    for i in range(3):  # the first while the libraries load, the others at random points of the run
        for sig, tag in ((signal.SIGINT, "sigint"), (signal.SIGTERM, "sigterm"), (signal.SIGKILL, "sigkill")):
            start = i == 0
            delay = rng.uniform(0.2, 1.0) if start else rng.uniform(0.2, 4.0)
            table[f"{tag}-{i + 1}"] = lambda s=sig, d=delay, n=f"{tag}-{i + 1}", st=start: _signal_case(
                n, work, s, d, stride, st)
    results = []
    for name in cases or list(table):
        if name not in table:
            raise SystemExit(f"unknown case {name}; available: {', '.join(table)}")
        print(f"fault: {name} ...", file=sys.stderr, flush=True)
        results.append(table[name]())
    return results


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        rest = argv[2:]
        return _child(argv[1], rest[1:] if rest[:1] == ["--"] else rest)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the signal times")
    p.add_argument("--stride", type=int, default=10, help="judge every Nth frame of a kept output")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--keep", type=Path, default=None, help="keep the outputs in this folder")
    a = p.parse_args(argv)
    work = a.keep or Path(tempfile.mkdtemp(prefix="streamanon-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        results = run([c for c in a.cases.split(",") if c], work, a.seed, a.stride)
    finally:
        if a.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print("| case | expected | observed | pass | s |\n|---|---|---|---|---:|")
    for r in results:
        print(f"| {r.case} | {r.expected} | {r.observed} | {'yes' if r.ok else '**no**'} | {r.seconds} |")
    if a.json:
        a.json.write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
