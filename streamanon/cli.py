"""Command line: ``streamanon INPUT OUTPUT [options]``; maps library errors to one line and an exit code."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from . import __version__
from .errors import EXIT_SIGTERM, Interrupted, StreamanonError, report
from .native_log import filter_native_stderr

EXAMPLES = """\
examples:
  streamanon input.mp4 output.mp4                 anonymize every face, keep audio and timing
  streamanon input.mp4 out.mkv --method pixelate  pixelate instead of blur
  streamanon photo.jpg photo_anon.jpg             one image
  streamanon photos/ photos_anon/                 a folder of images, same names
  streamanon in.mov out.mp4 -c:v libx265 --crf 26 --preset medium --stats stats.json

exit codes: 0 ok, 1 internal error, 2 usage, 3 input not found, 4 input unreadable, 5 no video
stream, 6 input truncated, 7 output not writable, 8 encoder error, 130/143 interrupted (output kept,
shorter).
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="streamanon", description="Anonymize every face in a video, an image or a folder of images.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="video file, image, or folder of images")
    p.add_argument("output", help="output file (video or image), or folder for a folder of images")
    p.add_argument("--method", choices=["generate", "blur", "pixelate", "mask"], default="blur",
                   help="how faces are replaced: a generated face of nobody, or blur/pixelate/solid mask "
                        "(default: %(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="generate: seed of the synthetic identities, one per track (default: %(default)s)")
    p.add_argument("--backend", choices=["onnxruntime", "torch", "tensorrt"], default="onnxruntime",
                   help="generate: inference engine; tensorrt is experimental (default: %(default)s)")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="face detection confidence, 0-1; lower finds more faces (default: %(default)s)")
    p.add_argument("--mask-scale", type=float, default=1.3,
                   help="growth of the covered region around the face outline (default: %(default)s)")
    p.add_argument("--detect-every", type=int, default=3, metavar="K",
                   help="run the detector every K frames; faces are tracked between (default: %(default)s)")
    p.add_argument("-c:v", "--codec", default="libx264", help="video encoder (default: %(default)s)")
    p.add_argument("--crf", type=int, default=20, help="encoder quality, lower is better (default: %(default)s)")
    p.add_argument("--preset", default="veryfast", help="encoder preset (default: %(default)s)")
    p.add_argument("--no-audio", action="store_true", help="drop audio (default: copy it untouched)")
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
        generate=GenerateSettings(seed=args.seed, backend=args.backend),
        analysis=AnalyzerSettings(threshold=args.threshold, detect_every=args.detect_every),
        encode=EncodeSettings(codec=args.codec, crf=args.crf, preset=args.preset, audio=not args.no_audio),
        overwrite=args.overwrite)


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
    from .api import anonymize_images, anonymize_video
    from .media.images import is_image

    try:
        options = _options(args)
    except ValueError as exc:  # settings checked up front (threshold, mask scale, ...)
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
    try:
        if src.is_dir() or is_image(src):
            progress = _Progress(None, show)
            stats = anonymize_images(src, args.output, options, stop=stop, progress=progress)
        else:
            def on_open(source) -> None:
                nonlocal progress
                progress = _Progress(source.info.frames, show)
            stats = anonymize_video(src, args.output, options, stop=stop,
                                    progress=lambda f, s: progress(f, s), on_open=on_open)
    except Interrupted as exc:
        progress.close()
        print(f"streamanon: interrupted: {exc}", file=sys.stderr)
        return EXIT_SIGTERM if received and received[0] == signal.SIGTERM else Interrupted.exit_code
    finally:
        progress.close()
    if args.stats:
        stats.write(args.stats)
    logging.getLogger("streamanon").info("%d frames, %d faces, %d tracks, %.1f fps", stats.frames,
                                         stats.faces, stats.tracks, stats.fps)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "eval":
        from .metrics.cli import main as eval_main
        filter_native_stderr()
        return eval_main(argv[1:])
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
