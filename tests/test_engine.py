"""Engines: model files verified by sha256, onnxruntime runs, TensorRT only where it imports."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from streamanon.models.engine import ModelError, OnnxEngine, load_engine, sha256, verified_model


def _tiny_model(path) -> None:
    """y = 2 * x, NCHW float, dynamic batch."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 3, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 3, 4, 4])
    two = helper.make_tensor("two", TensorProto.FLOAT, [1], [2.0])
    graph = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["y"])], "tiny", [x], [y], [two])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def test_onnx_engine_runs_a_batch(tmp_path):
    path = tmp_path / "tiny.onnx"
    _tiny_model(path)
    eng = OnnxEngine(path)
    x = np.random.default_rng(0).standard_normal((3, 3, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(eng(x), 2 * x, rtol=1e-6)
    assert eng.name.startswith("onnxruntime:")


def test_verified_model_accepts_the_listed_hash_and_rejects_a_changed_file(tmp_path):
    path = tmp_path / "tiny.onnx"
    _tiny_model(path)
    (tmp_path / "manifest.json").write_text(json.dumps({"tiny.onnx": {"sha256": sha256(path)}}))
    assert verified_model("tiny.onnx", tmp_path) == path
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="sha256"):
        verified_model("tiny.onnx", tmp_path)


@pytest.mark.parametrize("name,manifest,match", [
    ("absent.onnx", {}, "missing"),
    ("tiny.onnx", None, "manifest missing"),
    ("tiny.onnx", {}, "not listed"),
])
def test_verified_model_errors(tmp_path, name, manifest, match):
    _tiny_model(tmp_path / "tiny.onnx")
    if manifest is not None:
        (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=match):
        verified_model(name, tmp_path)


def test_unknown_backend_lists_the_available_ones():
    with pytest.raises(ModelError, match="onnxruntime, torch, tensorrt"):
        load_engine("generator", backend="openvino")


def test_tensorrt_engine_where_tensorrt_imports(tmp_path):
    pytest.importorskip("tensorrt", reason="TensorRT is not installed (GPU machines with TensorRT only)")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    from streamanon.models.engine import TensorRTEngine

    path = tmp_path / "tiny.onnx"
    _tiny_model(path)
    eng = TensorRTEngine(path, cache_dir=tmp_path / "trt")
    x = np.ones((2, 3, 4, 4), np.float32)
    np.testing.assert_allclose(eng(x), 2 * x, rtol=1e-2)


def test_onnxruntime_on_cpu_takes_the_int8_copy_when_it_ships(tmp_path):
    from streamanon.models.engine import onnx_file

    (tmp_path / "gen.onnx").write_bytes(b"fp32")
    assert onnx_file("gen", tmp_path) == "gen.onnx"
    (tmp_path / "gen_int8.onnx").write_bytes(b"int8")
    import onnxruntime as ort

    gpu = "CUDAExecutionProvider" in ort.get_available_providers()
    assert onnx_file("gen", tmp_path) == ("gen.onnx" if gpu else "gen_int8.onnx")
