"""Export a trained generator checkpoint to ONNX, record its sha256 in engines/manifest.json.

    python tools/export_generator.py --ckpt /work/cache/gen_dense/ckpt.pt --name generator

Checks that onnxruntime reproduces torch's output on a random batch and times batch-1 inference.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamanon.models.engine import ENGINES_DIR, OnnxEngine, sha256  # noqa: E402


def export(ckpt: Path, out: Path, opset: int = 18) -> dict:
    import torch

    from streamanon.models.generator import IN_CHANNELS, Generator, count_parameters

    state = torch.load(ckpt, map_location="cpu")
    a = state["args"]
    g = Generator(width=a["width"], levels=a["levels"])
    g.load_state_dict(state["G"])
    g.eval()
    x = torch.randn(2, IN_CHANNELS, 128, 128)
    torch.onnx.export(g, (x,), str(out), input_names=["x"], output_names=["y"], opset_version=opset,
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, dynamo=False)
    with torch.no_grad():
        ref = g(x).numpy()
    eng = OnnxEngine(out)
    got = eng(x.numpy())
    err = float(np.abs(got - ref).max())
    one = x[:1].numpy()
    for _ in range(3):
        eng(one)
    t0 = time.perf_counter()
    for _ in range(20):
        eng(one)
    ms = (time.perf_counter() - t0) / 20 * 1000
    return {"params": count_parameters(g), "max_abs_diff_vs_torch": err, "ms_batch1_ort": round(ms, 2),
            "step": state["step"], "train_minutes": round(state["seconds"] / 60, 1), "args": a}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", type=Path, required=True)
    ap.add_argument("--name", default="generator", help="engines/<name>.onnx (default: %(default)s)")
    args = ap.parse_args()
    out = ENGINES_DIR / f"{args.name}.onnx"
    info = export(args.ckpt, out)
    if info["max_abs_diff_vs_torch"] > 1e-3:
        raise SystemExit(f"onnxruntime differs from torch by {info['max_abs_diff_vs_torch']}")
    manifest_path = ENGINES_DIR / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest[out.name] = {"sha256": sha256(out), "bytes": out.stat().st_size,
                          "params": info["params"], "train_step": info["step"],
                          "train_minutes": info["train_minutes"], "variant": info["args"].get("variant")}
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(json.dumps(info | {"file": str(out), "sha256": manifest[out.name]["sha256"]}, indent=2, default=str))


if __name__ == "__main__":
    main()
