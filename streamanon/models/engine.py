"""One Engine interface over onnxruntime (default), torch and TensorRT (experimental).

``engine(x)`` takes a float32 NCHW batch and returns the first output as float32 numpy. Model files are
verified against the sha256 in engines/manifest.json before they are loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import StreamanonError

log = logging.getLogger(__name__)
ENGINES_DIR = Path(__file__).resolve().parents[2] / "engines"
BACKENDS = ("onnxruntime", "torch", "tensorrt")


class ModelError(StreamanonError):
    """A model file is missing, altered, or its backend is unavailable."""

    exit_code = 9


class Engine(Protocol):
    name: str

    def __call__(self, x: np.ndarray) -> np.ndarray: ...


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verified_model(name: str, directory: Path = ENGINES_DIR) -> Path:
    """Path of engines/<name>, checked against engines/manifest.json."""
    path = directory / name
    manifest = directory / "manifest.json"
    if not path.exists():
        raise ModelError(f"model file missing: {path}")
    if not manifest.exists():
        raise ModelError(f"model manifest missing: {manifest}")
    expected = json.loads(manifest.read_text()).get(name, {}).get("sha256")
    if expected is None:
        raise ModelError(f"{name} is not listed in {manifest}")
    actual = sha256(path)
    if actual != expected:
        raise ModelError(f"{path} does not match its sha256 in {manifest} ({actual[:12]} != {expected[:12]})")
    return path


class OnnxEngine:
    """onnxruntime; CUDA/TensorRT execution providers first where onnxruntime-gpu has them."""

    def __init__(self, path: Path, threads: int = 0, providers: list[str] | None = None):
        import onnxruntime as ort

        available = ort.get_available_providers()
        wanted = providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        missing = [p for p in wanted if p not in available]
        if missing:
            raise ModelError(f"onnxruntime providers not available: {', '.join(missing)}; "
                             f"available: {', '.join(available)}")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # see faces/centerface.py
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), opts, providers=wanted)
        self.input = self.session.get_inputs()[0].name
        self.name = f"onnxruntime:{self.session.get_providers()[0]}"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: np.ascontiguousarray(x, np.float32)})[0]


class TorchEngine:
    """torch on CPU or CUDA, from a training checkpoint (needs the ``train`` extra)."""

    def __init__(self, checkpoint: Path, device: str | None = None):
        try:
            import torch
        except ImportError as exc:
            raise ModelError("the torch backend needs torch: pip install 'streamanon[train]'") from exc
        from .generator import Generator

        state = torch.load(checkpoint, map_location="cpu")
        a = state.get("args", {})
        self.module = Generator(width=a.get("width", 24), levels=a.get("levels", 3))
        self.module.load_state_dict(state["G"])
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.module.to(self.device).eval()
        self._torch = torch
        self.name = f"torch:{self.device.type}"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            t = torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(self.device)
            return self.module(t).float().cpu().numpy()


class TensorRTEngine:
    """Experimental: an FP16 TensorRT plan built from the ONNX file, cached outside git by GPU and TensorRT
    version. Written against TensorRT's Python API (10.x); not yet run on a machine with TensorRT."""

    def __init__(self, onnx_path: Path, cache_dir: Path | None = None, max_batch: int = 8):
        try:
            import tensorrt as trt
            import torch  # CUDA buffers
        except ImportError as exc:
            raise ModelError("the tensorrt backend needs the tensorrt and torch (CUDA) packages") from exc
        if not torch.cuda.is_available():
            raise ModelError("the tensorrt backend needs a CUDA GPU")
        self._torch, self._trt = torch, trt
        gpu = torch.cuda.get_device_name(0).replace(" ", "_")
        cache_dir = cache_dir or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "streamanon" / "trt"
        cache_dir.mkdir(parents=True, exist_ok=True)
        plan = cache_dir / f"{onnx_path.stem}-{sha256(onnx_path)[:16]}-{gpu}-trt{trt.__version__}.plan"
        logger = trt.Logger(trt.Logger.WARNING)
        if not plan.exists():
            plan.write_bytes(self._build(onnx_path, logger, max_batch))
        runtime = trt.Runtime(logger)
        self.engine = runtime.deserialize_cuda_engine(plan.read_bytes())
        self.context = self.engine.create_execution_context()
        self.in_name, self.out_name = self.engine.get_tensor_name(0), self.engine.get_tensor_name(1)
        self.name = "tensorrt:fp16"

    def _build(self, onnx_path: Path, logger, max_batch: int) -> bytes:
        trt = self._trt
        builder = trt.Builder(logger)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse(onnx_path.read_bytes()):
            raise ModelError(f"TensorRT cannot parse {onnx_path}: {parser.get_error(0)}")
        config = builder.create_builder_config()
        config.set_flag(trt.BuilderFlag.FP16)
        profile = builder.create_optimization_profile()
        shape = network.get_input(0).shape
        c, h, w = shape[1], shape[2], shape[3]
        profile.set_shape(network.get_input(0).name, (1, c, h, w), (4, c, h, w), (max_batch, c, h, w))
        config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise ModelError(f"TensorRT could not build an engine from {onnx_path}")
        return bytes(serialized)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        torch = self._torch
        inp = torch.from_numpy(np.ascontiguousarray(x, np.float32)).cuda()
        self.context.set_input_shape(self.in_name, tuple(inp.shape))
        out = torch.empty(tuple(self.context.get_tensor_shape(self.out_name)), dtype=torch.float32, device="cuda")
        self.context.set_tensor_address(self.in_name, inp.data_ptr())
        self.context.set_tensor_address(self.out_name, out.data_ptr())
        stream = torch.cuda.current_stream()
        self.context.execute_async_v3(stream.cuda_stream)
        stream.synchronize()
        return out.cpu().numpy()


def load_engine(name: str, backend: str = "onnxruntime", threads: int = 0) -> Engine:
    """Engine for engines/<name>.onnx on ``backend`` (one of BACKENDS)."""
    if backend not in BACKENDS:
        raise ModelError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
    if backend == "torch":
        ckpt = ENGINES_DIR / f"{name}.pt"
        if not ckpt.exists():
            raise ModelError(f"the torch backend needs the checkpoint {ckpt}")
        return TorchEngine(ckpt)
    if backend == "tensorrt":
        return TensorRTEngine(verified_model(f"{name}.onnx"))
    return OnnxEngine(verified_model(onnx_file(name)), threads=threads)


def time_engine(engine: Engine, x: np.ndarray, repeats: int = 20, warmup: int = 3) -> float:
    """Milliseconds per call of ``engine(x)``, after ``warmup`` calls."""
    for _ in range(warmup):
        engine(x)
    t0 = time.perf_counter()
    for _ in range(repeats):
        engine(x)
    return (time.perf_counter() - t0) / repeats * 1000


def onnx_file(name: str, directory: Path = ENGINES_DIR) -> str:
    """The ONNX file onnxruntime runs for ``name``: ``<name>_int8.onnx`` (quantized, about 1.6x faster on CPU)
    when it ships and no GPU provider is available, else ``<name>.onnx``."""
    import onnxruntime as ort

    int8 = f"{name}_int8.onnx"
    if (directory / int8).exists() and "CUDAExecutionProvider" not in ort.get_available_providers():
        return int8
    return f"{name}.onnx"
