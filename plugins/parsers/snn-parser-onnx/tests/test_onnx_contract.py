"""The core's parser contract, on a small hand-built ONNX model (needs only onnx)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from snn_parser_onnx import OnnxParser

from snn_core.testing.contracts import ParserContract


def tiny_onnx(path: Path) -> Path:
    """Conv 3x3 + ReLU, Flatten, Gemm + Softmax on (N, 1, 4, 4) inputs."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = {
        "w": rng.normal(size=(2, 1, 3, 3)),
        "b": rng.normal(size=2),
        "fw": rng.normal(size=(8, 3)),
        "fb": rng.normal(size=3),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"]),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["g"]),
        helper.make_node("Softmax", ["g"], ["y"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, str(path))
    return path


class TestOnnxParserContract(ParserContract):
    plugin_class = OnnxParser
    hooks_module = "snn_parser_onnx.hooks"

    def make_model(self, tmp_path: Path) -> Path:
        return tiny_onnx(tmp_path / "tiny.onnx")


def test_tiny_model_layout(tmp_path):
    from snn_core.ann import forward

    path = tiny_onnx(tmp_path / "tiny.onnx")
    net = OnnxParser().parse(path)
    assert [lay.kind for lay in net] == ["InputLayer", "Conv", "Reshape", "Dense"]
    assert net.input.shape == (4, 4, 1)
    assert net.metadata["source_layout"] == "NCHW" and net.metadata["opset"] == 13
    # the reference: the same computation in numpy, channels first
    import onnx
    from onnx import numpy_helper

    w = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
    x = np.random.default_rng(1).normal(size=(5, 1, 4, 4)).astype(np.float32)
    conv = np.zeros((5, 2, 2, 2), np.float32)
    for i in range(2):
        for j in range(2):
            patch = x[:, :, i : i + 3, j : j + 3]
            conv[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w["w"]) + w["b"]
    logits = np.maximum(conv, 0).reshape(5, -1) @ w["fw"] + w["fb"]
    want = np.exp(logits - logits.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    got = forward(net, np.moveaxis(x, 1, -1))[net.output.name]
    np.testing.assert_allclose(got, want, atol=1e-5)
