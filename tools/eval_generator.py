"""Issue-3 acceptance numbers for the generator and its ablations, on the CelebA-HQ images at full resolution.

    python tools/eval_generator.py [--images ../shared/data/celebahq] [--out /tmp/eval_generator]
                                   [--variants generate,generate-plain,generate-sparse] [--json FILE]

Each variant anonymizes every image; ``generate`` (the shipped default) goes through the CLI
(``streamanon IMAGES OUT --method generate``), the ablations through the Python API with their settings
(plain dense landmarks without the identity swap; 7 sparse keypoints). Each output folder is then scored by
``streamanon eval`` (independent judges: dlib HOG + ResNet descriptor, MediaPipe mesh re-detected). Also
times the generator engine with onnxruntime on this machine (ms per face, batch 1 and batch 4). Prints one
markdown table with the targets of issue 3 checked for ``generate``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = {  # name -> GenerateSettings overrides (None: the CLI's default generate)
    "generate": None,
    "generate-plain": {"swap": False},
    "generate-sparse": {"variant": "sparse"},
}
COLUMNS = [("reid_rate", "re-ID", "{:.1%}"), ("rank1_rate", "rank-1", "{:.1%}"), ("mesh_redetected", "mesh found",
           "{:.1%}"), ("detectability", "HOG detect", "{:.1%}"), ("nme", "expr. NME (IOD)", "{:.4f}"),
           ("mouth_open_corr", "mouth r", "{:.3f}"), ("pose_error", "pose deg", "{:.2f}"),
           ("ciede2000", "CIEDE2000", "{:.2f}"), ("sharpness_ratio", "sharpness", "{:.3f}"),
           ("frechet_distance", "FD", "{:.3f}")]


def anonymize(name: str, images: Path, out: Path) -> float:
    """Anonymize ``images`` into ``out`` with one variant; returns seconds."""
    t0 = time.perf_counter()
    overrides = VARIANTS[name]
    if overrides is None:
        cmd = ["streamanon", str(images), str(out), "--method", "generate", "-y", "-q"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            raise SystemExit(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()[-300:]}")
    else:
        from streamanon.anonymize import CoverSettings
        from streamanon.api import Options, anonymize_images
        from streamanon.generate import GenerateSettings

        anonymize_images(images, out, Options(cover=CoverSettings(method="generate"), overwrite=True,
                                              generate=GenerateSettings(**overrides)))
    return time.perf_counter() - t0


def score(images: Path, out: Path, json_path: Path) -> dict:
    cmd = ["streamanon", "eval", "--original", str(images), "--anonymized", str(out), "--json", str(json_path), "-q"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()[-300:]}")
    return json.loads(json_path.read_text())["summary"]


def engine_timing(variant: str = "dense", repeats: int = 30) -> dict:
    """onnxruntime ms per face at batch 1 and batch 4 (the engine alone, this machine's cores)."""
    from streamanon.models.engine import load_engine, time_engine
    from streamanon.models.layout import IN_CHANNELS

    eng = load_engine("generator" if variant == "dense" else "generator_sparse", "onnxruntime")
    out = {}
    for batch in (1, 4):
        x = np.random.default_rng(0).standard_normal((batch, IN_CHANNELS, 128, 128)).astype(np.float32)
        out[f"ms_per_face_batch{batch}"] = round(time_engine(eng, x, repeats) / batch, 2)
    return out


def targets(s: dict, sparse: dict | None) -> list[tuple[str, bool]]:
    checks = [("re-ID <= 2%", s["reid_rate"] <= 0.02), ("rank-1 <= 5%", s["rank1_rate"] <= 0.05),
              ("mesh re-detected >= 98%", s["mesh_redetected"] >= 0.98),
              ("dlib finds a face >= 90%", s["detectability"] >= 0.90),
              ("expression NME <= 5% of IOD", s["nme"] <= 0.05), ("head pose error <= 3 deg", s["pose_error"] <= 3)]
    if sparse is not None:
        checks.append(("expression NME below the sparse variant's", s["nme"] < sparse["nme"]))
    return checks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "data" / "celebahq")
    ap.add_argument("--out", type=Path, default=Path("/tmp/eval_generator"))
    ap.add_argument("--variants", type=lambda s: s.split(","), default=list(VARIANTS))
    ap.add_argument("--json", type=Path, help="also write all numbers here")
    args = ap.parse_args()
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in args.variants:
        out = args.out / name
        seconds = anonymize(name, args.images, out)
        results[name] = score(args.images, out, args.out / f"{name}.json") | {"seconds": round(seconds, 1)}
        print(f"{name}: {results[name]['faces']} faces, {seconds:.0f} s", file=sys.stderr)
    timing = engine_timing()
    print("| variant | " + " | ".join(c[1] for c in COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for name, s in results.items():
        print(f"| {name} | " + " | ".join(fmt.format(s[k]) for k, _, fmt in COLUMNS) + " |")
    print(f"\ngenerator engine (onnxruntime, this machine): {timing}")
    checks = []
    if "generate" in results:
        checks = targets(results["generate"], results.get("generate-sparse"))
        checks.append(("generator <= 25 ms per face (batch 1)", timing["ms_per_face_batch1"] <= 25))
        print()
        for text, ok in checks:
            print(f"- {text}: {'PASS' if ok else 'FAIL'}")
    if args.json:
        args.json.write_text(json.dumps({"images": str(args.images), "variants": results, "engine": timing,
                                         "targets": dict(checks)}, indent=2) + "\n")


if __name__ == "__main__":
    main()
