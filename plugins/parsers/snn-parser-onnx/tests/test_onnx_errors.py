"""What the parser refuses, and how it says so."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="the ONNX parser tests export PyTorch models: pip install torch==2.13.0"
)
pytest.importorskip("onnxruntime", reason="the ONNX parser tests compare with onnxruntime")

import torch.nn.functional as F  # noqa: E402
from snn_onnx_testutil import export  # noqa: E402
from snn_parser_onnx import OnnxParser  # noqa: E402
from torch import nn  # noqa: E402

from snn_core.errors import ConfigError, UnsupportedLayerError  # noqa: E402


class Wrap(nn.Module):
    def __init__(self, body, channels: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 4, 3, padding=1)
        self.body = body

    def forward(self, x):
        return self.body(self.conv(x))


class Fn(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def _parse(tmp_path, model, shape=(2, 3, 6, 6), opset=13):
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    path = export(model.eval(), x, tmp_path / "m.onnx", opset)
    return OnnxParser().parse(path)


@pytest.mark.parametrize(
    ("body", "op", "detail"),
    [
        (nn.LeakyReLU(0.1), "LeakyRelu", "this op is not supported"),
        (nn.ReLU6(), "Clip", "Clip(min=0, max=6) is not a ReLU"),
        (nn.Sigmoid(), "Sigmoid", "this op is not supported"),
        (nn.ReflectionPad2d(1), "Pad", "mode='reflect'"),
        (nn.Upsample(scale_factor=2, mode="bilinear"), "Resize", "mode='linear'"),
        (Fn(lambda x: F.pad(x, (1, 1, 1, 1), value=0.5)), "Pad", "constant value 0.5"),
        (Fn(lambda x: x.view(2 * x.size(0), -1)), "Reshape", "keep the batch axis first"),
        (Fn(lambda x: x.transpose(1, 2)), "Transpose", "this op is not supported"),
        (Fn(lambda x: x.mean(dim=(2, 3))), "ReduceMean", "this op is not supported"),
    ],
)
def test_unsupported_ops_are_named(tmp_path, body, op, detail):
    with pytest.raises(UnsupportedLayerError) as info:
        _parse(tmp_path, Wrap(body))
    message = str(info.value)
    assert f"({op})" in message and detail in message, message
    assert "Supported ONNX ops: Add, AveragePool" in message


def test_reshape_into_a_transposed_layout(tmp_path):
    # (C, H, W) -> (H, C, W) by a Reshape is a transpose in disguise: a conv after it fails
    model = Wrap(nn.Sequential(Fn(lambda x: x.reshape(x.size(0), 6, 4, 6)), nn.Conv2d(6, 2, 1)))
    with pytest.raises(UnsupportedLayerError, match=r"\(Conv\).*not a channels-first feature map"):
        _parse(tmp_path, model)


def test_batchnorm_before_padded_conv(tmp_path):
    model = nn.Sequential(nn.MaxPool2d(2), nn.BatchNorm2d(3), nn.Conv2d(3, 2, 3, padding=1))
    with torch.no_grad():
        model[1].running_mean.fill_(0.3)
    with pytest.raises(UnsupportedLayerError, match=r"before a padded Conv cannot be folded"):
        _parse(tmp_path, model)


def test_activation_on_a_shared_output(tmp_path):
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x):
            y = self.conv(x)
            return torch.relu(y) + y

    with pytest.raises(UnsupportedLayerError, match=r"also used without the relu"):
        _parse(tmp_path, Shared())


def _hand_model(tmp_path, node, inits, in_shape, out_shape, opset=13):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *in_shape])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", *out_shape])],
        [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()],
    )
    path = tmp_path / "hand.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))
    return path


def test_gemm_trans_a(tmp_path):
    from onnx import helper

    node = helper.make_node("Gemm", ["x", "w"], ["y"], transA=1, name="fc")
    path = _hand_model(tmp_path, node, {"w": np.ones((4, 2))}, (4,), (2,))
    with pytest.raises(UnsupportedLayerError, match=r"'fc' \(Gemm\): transA=1"):
        OnnxParser().parse(path)


def test_unknown_auto_pad_and_dilated_pool(tmp_path):
    from onnx import helper

    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], dilations=[2, 2])
    path = _hand_model(tmp_path, node, {}, (1, 5, 5), (1, 3, 3), opset=12)
    with pytest.raises(UnsupportedLayerError, match=r"dilations=\[2, 2\]"):
        OnnxParser().parse(path)


def test_conv_weights_must_be_constant(tmp_path):
    from onnx import helper

    node = helper.make_node("Add", ["x", "x"], ["y"])
    path = _hand_model(tmp_path, node, {}, (3,), (3,))
    net = OnnxParser().parse(path)  # x + x is a residual Add of the input with itself
    assert net.output.kind == "Add"
    node = helper.make_node("Conv", ["x", "x"], ["y"], name="c")
    path = _hand_model(tmp_path, node, {}, (1, 3, 3), (1, 1, 1))
    with pytest.raises(UnsupportedLayerError, match=r"input 1 \(weights\) must be a constant"):
        OnnxParser().parse(path)


def test_not_an_onnx_file(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(ConfigError, match="not a valid ONNX model"):
        OnnxParser().parse(bad)
    with pytest.raises(ConfigError, match="no such ONNX model file"):
        OnnxParser().parse(tmp_path / "missing.onnx")
