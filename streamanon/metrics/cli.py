"""``streamanon eval``: score an anonymizer's output against the originals, or run the benchmark."""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

from ..errors import InputInvalid, InputNotFound, report

EXAMPLES = """\
examples:
  streamanon eval --original photos/ --anonymized photos_anon/ --html report.html
  streamanon eval --original in.mp4 --anonymized out.mp4 --stride 5 --json scores.json
  streamanon eval --benchmark                      all methods on ../shared/data, table in ./benchmark/

Folders are paired by file name, videos by frame index. Judges: dlib HOG and ResNet descriptor,
MediaPipe face mesh; untouched faces: MTCNN and CenterFace at full resolution (all independent of the
anonymizer). A face is untouched when the inner 60% of its box is unchanged (mean grey change < 8, and high-pass
correlation > 0.8 or structure correlation at the face's scale > 0.95), partly covered when less than 90% of its
box changed. Exit codes: 0 ok, 1 internal error, 2 usage,
3 input not found, 4 input unusable (no pairs, sizes differ).
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="streamanon eval", epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Privacy, expression, pose, lighting, colour and realism of anonymized "
                                            "faces, per face and overall.")
    p.add_argument("--original", metavar="A", help="folder of images, an image, or a video")
    p.add_argument("--anonymized", metavar="B", help="the anonymizer's output for A (same names / same frames)")
    p.add_argument("--json", metavar="FILE", help="write summary and per-face scores as JSON")
    p.add_argument("--html", metavar="FILE", help="write an HTML report with plots and worst cases")
    p.add_argument("--stride", type=int, default=None, metavar="N",
                   help="judge every N-th video frame (default: 1 for eval, 3 for the benchmark's clips)")
    p.add_argument("--untouched-stride", type=int, default=5, metavar="N",
                   help="judge untouched faces on every N-th video frame (default: %(default)s)")
    p.add_argument("--png", metavar="DIR", type=Path, default=None,
                   help="save each untouched / partly covered face as a side-by-side PNG (original | output)")
    p.add_argument("--gallery", type=Path, default=None, metavar="DIR",
                   help="add the people of a folder of face images (one face each, e.g. UTKFace) to the rank-1 "
                        "gallery, so that a face is counted as identified only when its output is nearer to its own "
                        "original than to all of them")
    p.add_argument("--gallery-size", type=int, default=500, metavar="N",
                   help="use N images of the gallery folder, a fixed random choice (default: %(default)s)")
    p.add_argument("--benchmark", action="store_true", help="run every method on the benchmark data and compare")
    p.add_argument("--data", type=Path, default=None, metavar="DIR",
                   help="benchmark data with celebahq/ and videos/ (default: ../shared/data beside the repo)")
    p.add_argument("--clips", type=int, default=3, metavar="N", help="benchmark clips (default: %(default)s)")
    p.add_argument("--clip-seconds", type=float, default=4.0, metavar="S",
                   help="length of each benchmark clip, from its start (default: %(default)s)")
    p.add_argument("--images", type=int, default=None, metavar="N",
                   help="benchmark on the first N images only (default: all)")
    p.add_argument("--methods", default=None, metavar="A,B",
                   help="benchmark these methods only (default: all; see the list with --list-methods)")
    p.add_argument("--list-methods", action="store_true", help="print the benchmark's methods and exit")
    p.add_argument("--out", type=Path, default=Path("benchmark"), metavar="DIR",
                   help="benchmark results: results.md, results.json, report.html (default: %(default)s)")
    p.add_argument("--keep", action="store_true", help="keep the benchmark's anonymized outputs in DIR/work")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    return p


class _Bars:
    """tqdm bars on a terminal, nothing elsewhere; ``__call__(total, desc)`` returns a tick function."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def __call__(self, total: int | None, desc: str, unit: str = "img"):
        self.close()
        if not self.enabled:
            return lambda: None
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, leave=False)
        return self.bar.update

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    bars = _Bars(not args.quiet and sys.stderr.isatty())
    try:
        if args.list_methods:
            from .methods import METHODS

            for m in METHODS:
                why = m.missing()
                print(f"{m.name:16s} {m.note}" + (f"  [unavailable: {why}]" if why else ""))
            return 0
        if args.stride is not None and args.stride < 1:
            parser.error("--stride must be at least 1")
        if args.untouched_stride < 1:
            parser.error("--untouched-stride must be at least 1")
        if args.gallery_size < 1:
            parser.error("--gallery-size must be at least 1")
        if args.benchmark:
            return benchmark(args, bars, argv)
        if not (args.original and args.anonymized):
            parser.error("give --original A and --anonymized B, or --benchmark")
        return evaluate(args, bars)
    except BaseException as exc:  # noqa: BLE001 - one line, never a traceback
        if isinstance(exc, SystemExit):
            raise
        return report(exc, "streamanon eval", verbose_flag=False)
    finally:
        bars.close()


def evaluate(args: argparse.Namespace, bars: _Bars) -> int:
    from ..media.images import is_image
    from .pairs import image_pairs

    a, b = Path(args.original), Path(args.anonymized)
    for p, what in ((a, "original"), (b, "anonymized")):
        if not p.exists():
            raise InputNotFound(f"{what} not found: {p}", path=str(p))
    videos = a.is_file() and b.is_file() and not (is_image(a) or is_image(b))
    pairs, unpaired = ([], []) if videos else image_pairs(a, b)  # usage errors before the judges load
    total = None
    if videos:
        from ..media.source import VideoSource

        for p in (a, b):
            with VideoSource(p, audio=False) as source:  # unreadable files fail here, in one line
                total = total or source.info.frames or None

    from ..media.images import read_image
    from . import report
    from .judges import get_judges
    from .leak_judge import judge_images, judge_video
    from .summary import identify

    files = None
    if args.gallery is not None:  # a wrong folder fails before the judges load
        from .gallery import gallery_descriptors, gallery_files

        files = gallery_files(args.gallery, args.gallery_size)
    judges = get_judges()
    t0 = time.perf_counter()
    gallery, gallery_note = None, []
    if files is not None:
        gallery = gallery_descriptors(files, judges, bars(len(files), "gallery"))
        gallery_note = [f"rank-1 gallery: the originals and {len(gallery)} people from {args.gallery} "
                        f"({len(files) - len(gallery)} of {len(files)} images without a face HOG finds)"]
    if videos:
        from .video import observe_video, score_video

        stride = args.stride or 1
        untouched, records = judge_video(a, b, args.untouched_stride, png_dir=args.png,
                                         progress=bars(total, "untouched faces", "frame"))
        refs = observe_video(a, judges, stride, bars(total, "original", "frame"))
        scores, stats = score_video(a, b, refs, judges, stride, bars(refs.frames, "anonymized", "frame"))
        if not scores and not untouched.faces:
            raise InputInvalid(f"no face found in the original video: {a}", path=str(a))
        identify(scores, key=lambda s: s.track, extra=gallery)
        ev = report.Evaluation(str(a), str(b), "video", scores, stats, notes=stats.notes + gallery_note,
                               untouched={a.name: untouched}, untouched_faces=records)
    else:
        from .images import observe_images, score_images

        _, per_image, records = judge_images(((p.name, read_image(p.original), read_image(p.anonymized))
                                              for p in pairs), png_dir=args.png,
                                             progress=bars(len(pairs), "untouched faces"))
        refs = observe_images(pairs, judges, bars(len(pairs), "originals"))
        scores = score_images(pairs, refs, judges, bars(len(pairs), "anonymized"))
        if not scores and not any(c.faces for c in per_image.values()):
            raise InputInvalid(f"no face found in the {len(pairs)} original image(s) of {a}", path=str(a))
        identify(scores, extra=gallery)
        notes = [f"{len(unpaired)} file(s) without a partner, e.g. {unpaired[0]}"] if unpaired else []
        notes += gallery_note
        faceless = sum(1 for v in refs.faces.values() if not v)
        if faceless:
            notes.append(f"{faceless} original image(s) without a face HOG finds")
        ev = report.Evaluation(str(a), str(b), "images", scores, notes=notes, untouched=per_image,
                               untouched_faces=records)
    ev.seconds = round(time.perf_counter() - t0, 2)
    bars.close()
    if args.json:
        report.write_json(args.json, report.to_json(ev))
    if args.html:
        report.write_text(args.html, report.html_report(ev))
    if not args.quiet:
        print_summary(ev)
    return 0


def print_summary(ev) -> None:
    from .report import fmt
    from .summary import METRICS, radar

    s = ev.summary()
    print(f"{s['faces']} faces, {ev.kind}, {ev.seconds:.1f} s")
    u = ev.untouched_total()
    if u is not None:
        per = ", ".join(f"{d} {v['untouched']}/{v['faces']}" for d, v in u.by_detector.items())
        print(f"  {'untouched faces (MTCNN + CenterFace judges)':48s} {u.untouched:>4d} of {u.faces}"
              f" ({fmt(u.rate('untouched'), '%')}; {per})")
        partly = fmt(u.rate("partly_covered"), "%")
        print(f"  {'partly covered faces':48s} {u.partly_covered:>4d} of {u.faces} ({partly})")
        for name, c in ev.untouched.items():
            if len(ev.untouched) > 1 and (c.untouched or c.partly_covered):
                print(f"    {name}: {c.untouched} untouched, {c.partly_covered} partly covered of {c.faces}")
    for m in METRICS:
        if s.get(m.key) is not None:
            print(f"  {m.label:48s} {fmt(s[m.key], m.unit):>8s}")
    print("  radar (0-1, higher better): " + ", ".join(f"{k} {fmt(v)}" for k, v in radar(s).items()))
    for note in ev.notes:
        print(f"  note: {note}")


def benchmark(args: argparse.Namespace, bars: _Bars, argv: list[str]) -> int:
    from . import benchmark as B
    from . import report
    from .judges import get_judges
    from .methods import by_name

    try:
        methods = by_name([m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None)
    except ValueError as exc:
        print(f"streamanon eval: error: {exc}", file=sys.stderr)
        return 2

    def log(msg: str) -> None:
        if not args.quiet:
            bars.close()
            print(f"streamanon eval: {msg}", file=sys.stderr, flush=True)

    command = " ".join(shlex.quote(x) for x in ["streamanon", "eval", *argv])
    t0 = time.perf_counter()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="streamanon-bench-") as tmp:
        work = out / "work" if args.keep else Path(tmp)
        settings = B.BenchmarkSettings(data=args.data or B.default_data(), work=work, methods=methods,
                                       clips=args.clips, clip_seconds=args.clip_seconds, stride=args.stride or 3,
                                       max_images=args.images)
        results = B.run_benchmark(settings, get_judges(), bars, log)
    seconds = time.perf_counter() - t0
    table = B.markdown(results, settings, command, seconds)
    report.write_text(out / "results.md", table)
    report.write_json(out / "results.json", B.to_json(results, settings, command, seconds))
    report.write_text(out / "report.html", B.html_page(results, table))
    if not args.quiet:
        print(table)
        print(f"streamanon eval: wrote {out / 'results.md'}, results.json and report.html in {seconds / 60:.1f} min",
              file=sys.stderr)
    return 0 if any(r.images for r in results) else 1
