"""Command line: ``streamanon INPUT OUTPUT [options]``; maps library errors to one line and an exit code."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from . import __version__
from .errors import EXIT_SIGTERM, Interrupted, OutputError, StreamanonError, report
from .media.endpoints import FILE, PIPE_FORMATS, WEBCAM, StreamOptions, kind_of, parse_rate, parse_size, webcam_index
from .native_log import filter_native_stderr

EXAMPLES = """\
examples:
  streamanon input.mp4 output.mp4                 a generated face of nobody for every face; audio and timing kept
  streamanon input.mp4 out.mkv --method blur      blur instead (also pixelate, mask: a solid fill)
  streamanon photo.jpg photo_anon.jpg             one image
  streamanon photos/ photos_anon/                 a folder of images, same names
  streamanon in.mov out.mp4 -c:v libx265 --crf 26 --preset medium --stats stats.json

pipes ('-' is stdin or stdout; nut unless told; logs go to stderr):
  ffmpeg -i in.mov -f nut - | streamanon - - | ffmpeg -f nut -i - out.mp4
  ffmpeg -i in.mov -f yuv4mpegpipe - | streamanon - out.mkv --input-format y4m
  ffmpeg -i in.mov -f rawvideo -pix_fmt rgb24 - | streamanon - - --input-format rawvideo \\
      --input-size 1280x720 --input-pix-fmt rgb24 --input-rate 25 --output-format y4m | mpv -

live (bounded latency, oldest frames dropped when behind; Ctrl-C stops and finalizes the output):
  streamanon rtsp://cam.local/stream out.mkv --reconnect --stats live.json
  streamanon rtsp://cam.local/stream rtsp://server:8554/anon --max-latency 0.5
  streamanon webcam:0 --preview                    show the anonymized webcam in a window

exit codes: 0 ok, 1 internal error, 2 usage, 3 input not found (also: stream or webcam unreachable),
4 input unreadable, 5 no video stream, 6 no decodable frame (also: live stream lost without --reconnect;
output kept; a damaged or truncated file gives its decodable frames, exit 0), 7 output not writable
(also: pipe closed, rtsp push refused, no display for --preview), 8 encoder error, 130/143 interrupted
(output kept, shorter).
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="streamanon", description="Anonymize every face in a video, an image or a folder of images.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="video file, image, folder of images, '-' (stdin), rtsp://URL, or webcam:N")
    p.add_argument("output", nargs="?",
                   help="video file, image, folder, '-' (stdout) or rtsp://URL to push to; optional with --preview")
    p.add_argument("--method", choices=["generate", "blur", "pixelate", "mask"], default="generate",
                   help="how faces are replaced: a generated face of nobody, or blur/pixelate/solid mask "
                        "(default: %(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="generate: seed of the synthetic identities, one per track (default: %(default)s)")
    p.add_argument("--backend", choices=["onnxruntime", "torch", "tensorrt"], default="onnxruntime",
                   help="generate: inference engine; tensorrt is experimental (default: %(default)s)")
    g = p.add_argument_group("generate: photometric stages (switch one off for an ablation)")
    g.add_argument("--no-relight", action="store_true",
                   help="flat light instead of the original's SH lighting on the new face (default: relit)")
    g.add_argument("--no-colour", action="store_true",
                   help="no skin colour transfer (CIELAB mean and spread) from the original (default: on)")
    g.add_argument("--relief", action=argparse.BooleanOptionalAction, default=True,
                   help="ambient occlusion in the new face's hollows (eye sockets, nose folds): a less flat face "
                        "(default: on; --no-relief for the flat one)")
    g.add_argument("--no-grain", action="store_true", help="no grain matched to the original's detail (default: on)")
    g.add_argument("--no-temporal", action="store_true",
                   help="no per-track smoothing of lighting, colour and grain (default: on)")
    g.add_argument("--no-refine", action="store_true",
                   help="no refinement generator (stage 6: the U-Net that corrects the rendered face)")
    g.add_argument("--keep-hair", action="store_true",
                   help="keep the original's fringe and strands in front of the new face (more realistic, but the "
                        "person is easier to identify by it: rank-1 about doubles; default: covered)")
    g.add_argument("--drawn-mouth", action="store_true",
                   help="draw the teeth and tongue of an open mouth instead of moving the original's into the new "
                        "mouth (default: the original's; both left re-identification as it was)")
    g.add_argument("--render-every", type=int, default=3, metavar="K",
                   help="video: render each face in full at least every K-th frame and move that render onto the "
                        "face's new pose and expression on the frames between (sooner when the face turns, moves "
                        "fast or opens its mouth; 1: every frame in full, about 2.5x the face stages' time; "
                        "default: %(default)s)")
    p.add_argument("--threshold", type=float, default=0.2,
                   help="face detection confidence (CenterFace), 0-1; lower finds more faces (default: %(default)s)")
    p.add_argument("--mask-scale", type=float, default=1.3,
                   help="growth of the covered region around the face outline (default: %(default)s)")
    p.add_argument("--detect-every", type=int, default=8, metavar="K",
                   help="run the detector every K frames; faces are tracked between, and file mode holds 2K "
                        "frames so that a face is also covered before its first detection (default: %(default)s)")
    p.add_argument("--detect-size", type=int, default=8192, metavar="PX",
                   help="longest side the detector sees; larger frames are shrunk to it, which is faster but "
                        "misses small faces. Frames over 1920 px are run in tiles at their own resolution "
                        "(default: %(default)s)")
    p.add_argument("--mesh-min", type=int, default=56, metavar="PX",
                   help="faces shorter than this are covered from their box (blur for generate), without a "
                        "mesh (default: %(default)s)")
    p.add_argument("-c:v", "--codec", default="libx264", help="video encoder (default: %(default)s)")
    p.add_argument("--crf", type=int, default=20, help="encoder quality, lower is better (default: %(default)s)")
    p.add_argument("--preset", default="veryfast", help="encoder preset (default: %(default)s)")
    p.add_argument("--no-audio", action="store_true", help="drop audio (default: copy it untouched)")
    g = p.add_argument_group("pipes and live streams")
    g.add_argument("--input-format", choices=list(PIPE_FORMATS), default="nut",
                   help="container on stdin (default: %(default)s)")
    g.add_argument("--input-size", metavar="WxH", help="rawvideo input: frame size, for example 1280x720")
    g.add_argument("--input-pix-fmt", default="yuv420p", help="rawvideo input: pixel format (default: %(default)s)")
    g.add_argument("--input-rate", default="25", help="rawvideo input: frames per second (default: %(default)s)")
    g.add_argument("--output-format", choices=list(PIPE_FORMATS), default="nut",
                   help="container on stdout; y4m and rawvideo are raw frames, no audio (default: %(default)s)")
    g.add_argument("--pix-fmt", help="output pixel format (default: yuv420p, or yuv444p for odd sizes)")
    g.add_argument("--rtsp-transport", choices=["tcp", "udp"], default="tcp",
                   help="RTSP input and output transport (default: %(default)s)")
    g.add_argument("--reconnect", action="store_true",
                   help="retry a dropped rtsp:// stream or webcam (input or output) with backoff 0.5-8 s, "
                        "until stopped (default: end, output kept)")
    g.add_argument("--max-latency", type=float, default=1.0, metavar="SECONDS",
                   help="live inputs: capture-to-output bound; older unprocessed frames are dropped "
                        "(default: %(default)s)")
    g.add_argument("--preview", action="store_true", help="show the anonymized video in a window (needs a display)")
    p.add_argument("-y", "--overwrite", action="store_true", help="overwrite the output if it exists")
    p.add_argument("--stats", metavar="FILE.json", help="write frames, faces, tracks and stage timings")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    p.add_argument("--version", action="version", version=f"streamanon {__version__}")
    return p


def _options(args: argparse.Namespace):
    from .anonymize import CoverSettings
    from .api import Options
    from .faces.analyze import AnalyzerSettings
    from .generate import GenerateSettings
    from .media.sink import EncodeSettings

    return Options(
        cover=CoverSettings(method=args.method, mask_scale=args.mask_scale),
        generate=GenerateSettings(seed=args.seed, backend=args.backend, relight=not args.no_relight,
                                  colour=not args.no_colour, relief=args.relief, grain=not args.no_grain,
                                  temporal=not args.no_temporal, refine=not args.no_refine,
                                  hair=args.keep_hair, drawn_mouth=args.drawn_mouth,
                                  render_every=args.render_every),
        analysis=AnalyzerSettings(threshold=args.threshold, detect_every=args.detect_every,
                                  detect_side=args.detect_size, mesh_min=args.mesh_min),
        encode=EncodeSettings(codec=args.codec, crf=args.crf, preset=args.preset, audio=not args.no_audio,
                              pix_fmt=args.pix_fmt),
        overwrite=args.overwrite)


def _stream_options(args: argparse.Namespace) -> StreamOptions:
    if kind_of(args.input) == WEBCAM:
        webcam_index(args.input)  # webcam:N, checked up front
    return StreamOptions(input_format=args.input_format,
                         input_size=parse_size(args.input_size) if args.input_size else None,
                         input_pix_fmt=args.input_pix_fmt, input_rate=parse_rate(args.input_rate),
                         output_format=args.output_format, rtsp_transport=args.rtsp_transport,
                         reconnect=args.reconnect)


def _setup_logging(args: argparse.Namespace) -> None:
    if args.quiet:
        level = logging.ERROR
    elif args.verbose:
        level = logging.DEBUG if args.verbose > 1 else logging.INFO
    else:
        level = logging.WARNING if sys.stderr.isatty() else logging.ERROR
    logging.basicConfig(level=level, format="streamanon: %(levelname)s: %(message)s")


class _Progress:
    """A tqdm bar on a terminal; nothing otherwise."""

    def __init__(self, total: int | None, enabled: bool):
        self.bar = None
        if enabled:
            from tqdm import tqdm
            self.bar = tqdm(total=total or None, unit="frame", dynamic_ncols=True, leave=True)

    def __call__(self, frame, stats) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if stats.frames % 10 == 0:
                self.bar.set_postfix(faces=stats.faces, tracks=stats.tracks, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(args: argparse.Namespace) -> int:
    from .api import anonymize_images, anonymize_stream, anonymize_video
    from .media.images import is_image
    from .pipeline import LivePolicy

    if args.output == "-":  # from here on, only the video stream goes to stdout
        from .media.stream_sink import claim_stdout
        if os.isatty(1):
            raise OutputError("output '-' is a terminal: pipe it on (streamanon ... - | ffmpeg -f nut -i - out.mp4)",
                              path="-")
        claim_stdout()
    try:
        options = _options(args)
        stream = _stream_options(args)
        live = LivePolicy(max_latency=args.max_latency)
        if args.output is None and not args.preview:
            raise ValueError("the following arguments are required: output (or --preview)")
    except ValueError as exc:  # settings checked up front (threshold, mask scale, sizes, ...)
        print(f"streamanon: error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum, _frame) -> None:
        received.append(signum)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    show = not args.quiet and sys.stderr.isatty()
    src = Path(args.input)
    progress = _Progress(None, False)
    files = kind_of(args.input) == FILE and args.output is not None and kind_of(args.output) == FILE

    def on_open(source) -> None:
        nonlocal progress
        progress = _Progress(source.info.frames, show)

    try:
        if kind_of(args.input) == FILE and (src.is_dir() or is_image(src)):
            if not files:
                raise OutputError("images and folders are written to image files or folders only", path=args.output)
            progress = _Progress(None, show)
            stats = anonymize_images(src, args.output, options, stop=stop, progress=progress)
        elif files and not args.preview:
            stats = anonymize_video(src, args.output, options, stop=stop,
                                    progress=lambda f, s: progress(f, s), on_open=on_open)
        else:  # a pipe, a live stream or the preview window on either side
            stats = anonymize_stream(args.input, args.output, options, stream, live=live, preview=args.preview,
                                     stop=stop, progress=lambda f, s: progress(f, s), on_open=on_open)
    except Interrupted as exc:
        progress.close()
        _finish(args, exc.stats)
        print(f"streamanon: interrupted: {exc}", file=sys.stderr)
        return EXIT_SIGTERM if received and received[0] == signal.SIGTERM else Interrupted.exit_code
    except StreamanonError as exc:
        progress.close()
        _finish(args, exc.stats)
        raise
    finally:
        progress.close()
    _finish(args, stats)
    return 0


def _finish(args: argparse.Namespace, stats) -> None:
    """Write --stats and log the summary (also after an interruption or a lost stream)."""
    if stats is None:
        return
    if args.stats:
        stats.write(args.stats)
    log = logging.getLogger("streamanon")
    log.info("%d frames, %d faces, %d tracks, %.1f fps", stats.frames, stats.faces, stats.tracks, stats.fps)
    if stats.live:
        log.info("live: %d frames in, %d out, %d dropped, %d reconnects, latency %s ms", stats.frames_in,
                 stats.frames, stats.dropped, stats.reconnects, stats.latency_ms())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "eval":
        from .metrics.cli import main as eval_main
        filter_native_stderr()
        return eval_main(argv[1:])
    if argv and argv[0] == "batch":
        from .batch import main as batch_main
        filter_native_stderr()
        return batch_main(argv[1:])
    args = build_parser().parse_args(argv)
    filter_native_stderr()
    _setup_logging(args)
    try:
        return run(args)
    except BaseException as exc:  # noqa: BLE001 - one line, never a traceback (unless -v)
        if isinstance(exc, SystemExit):
            raise
        if args.verbose and not isinstance(exc, (StreamanonError, KeyboardInterrupt)):
            logging.getLogger("streamanon").exception("internal error")
        return report(exc)
