"""Export a trained generator checkpoint to ONNX (fp32, and an int8 copy for CPUs), sha256 into engines/manifest.json.

    python tools/export_generator.py --ckpt /work/cache/gen_dense/ckpt.pt --name generator [--no-int8]

Checks that onnxruntime reproduces torch's output on a random batch and times batch-1 inference.
The int8 copy (<name>_int8.onnx: static QDQ quantization, int8 per-channel weights, uint8 activations) is
calibrated on held-out training faces (the checkpoint's val_names.npy) and checked against fp32 on them.
onnxruntime on CPU runs it (streamanon.models.engine.onnx_file); GPUs and TensorRT use the fp32 file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamanon.models.engine import ENGINES_DIR, OnnxEngine, sha256, time_engine  # noqa: E402


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
    ms = time_engine(eng, x[:1].numpy())
    return {"params": count_parameters(g), "max_abs_diff_vs_torch": err, "ms_batch1_ort": round(ms, 2),
            "step": state["step"], "train_minutes": round(state["seconds"] / 60, 1), "args": a}


def calibration_inputs(ckpt: Path, faces: Path, n: int = 32) -> list[np.ndarray]:
    """Generator inputs (1, 10, S, S) of ``n`` held-out faces, conditioned as in training."""
    sys.path.insert(0, str(ROOT / "tools"))
    from train_generator import COLOUR_SETS, build_conditions

    d = np.load(faces)
    keep = np.flatnonzero(np.isin(d["dataset"], COLOUR_SETS))
    val_file = ckpt.parent / "val_names.npy"
    if val_file.exists():
        keep = keep[np.isin(d["name"][keep], np.load(val_file))]
    idx = keep[np.linspace(0, len(keep) - 1, n).astype(int)]
    state_args = __import__("torch").load(ckpt, map_location="cpu")["args"]
    crops = d["crops"][idx]
    sketches, masks = build_conditions(crops, d["landmarks"][idx], state_args.get("variant", "dense"), 1)
    rng = np.random.default_rng(1)
    xs = []
    for crop, sk, mk in zip(crops, sketches, masks):
        real = crop.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1
        m = (mk > 127).astype(np.float32)[None]
        noise = rng.standard_normal((1, *m.shape[1:])).astype(np.float32)
        xs.append(np.concatenate([real * (1 - m), m, sk.astype(np.float32) / 255, noise], 0)[None])
    return xs


def quantize(fp32: Path, out: Path, inputs: list[np.ndarray]) -> dict:
    """Static int8 quantization of ``fp32`` calibrated on ``inputs``; error vs fp32 and timings."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{"x": x} for x in inputs])

        def get_next(self):
            return next(self.it, None)

    pre = out.with_suffix(".pre.onnx")
    quant_pre_process(str(fp32), str(pre))
    quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    pre.unlink()
    a, b = OnnxEngine(fp32), OnnxEngine(out)
    diff = np.concatenate([np.abs(a(x) - b(x)).ravel() for x in inputs]) * 127.5
    timing = {f"ms_batch1_{name}": round(time_engine(eng, inputs[0]), 2) for name, eng in (("fp32", a), ("int8", b))}
    return {"int8_mean_abs_diff_255": round(float(diff.mean()), 2),
            "int8_p99_abs_diff_255": round(float(np.percentile(diff, 99)), 1)} | timing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", type=Path, required=True)
    ap.add_argument("--name", default="generator", help="engines/<name>.onnx (default: %(default)s)")
    ap.add_argument("--faces", type=Path, default=Path("/work/cache/faces128.npz"), help="for int8 calibration")
    ap.add_argument("--no-int8", action="store_true", help="do not write <name>_int8.onnx")
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
    if not args.no_int8:
        int8 = ENGINES_DIR / f"{args.name}_int8.onnx"
        info |= quantize(out, int8, calibration_inputs(args.ckpt, args.faces))
        manifest[int8.name] = manifest[out.name] | {"sha256": sha256(int8), "bytes": int8.stat().st_size,
                                                    "quantized": "int8 QDQ"}
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(json.dumps(info | {"file": str(out), "sha256": manifest[out.name]["sha256"]}, indent=2, default=str))


if __name__ == "__main__":
    main()
