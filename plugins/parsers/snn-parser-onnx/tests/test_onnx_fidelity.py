"""Real PyTorch models, exported to ONNX, parsed and compared with onnxruntime and torch."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="the ONNX parser tests export PyTorch models: pip install torch==2.13.0"
)
pytest.importorskip("onnxruntime", reason="the ONNX parser tests compare with onnxruntime")

import torch.nn.functional as F  # noqa: E402
from snn_onnx_testutil import export, randomize, to_ir  # noqa: E402
from snn_parser_onnx import OnnxParser  # noqa: E402
from torch import nn  # noqa: E402

from snn_core.ann import forward  # noqa: E402
from snn_core.network import Add, Concatenate, Conv, ConvTranspose, Dense, Pool, UpSample, ZeroPad  # noqa: E402


def _x(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


class Cnn(nn.Module):
    """Strided/dilated/grouped convs, BN (fused, pending, 1-d), clamp, every pooling kind."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(3, stride=1, padding=1)
        self.bn2 = nn.BatchNorm2d(8)  # after a pool: folded into the unpadded conv2
        self.conv2 = nn.Conv2d(8, 8, 3, dilation=2, groups=2)
        self.avg1 = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=True)
        self.avg2 = nn.AvgPool2d(2, stride=2, padding=1, count_include_pad=False)
        self.fc1 = nn.Linear(8 * 3 * 3, 16)
        self.bn3 = nn.BatchNorm1d(16)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(16, 5)

    def forward(self, x):
        x = self.pool1(self.relu1(self.bn1(self.conv1(x))))
        x = torch.clamp(self.conv2(self.bn2(x)), min=0)
        x = self.avg2(self.avg1(x))
        x = torch.flatten(x, 1)
        x = self.drop(torch.relu(self.bn3(self.fc1(x))))
        return torch.softmax(self.fc2(x), dim=1)


@pytest.mark.parametrize("opsets", [(11, 13, 15, 17, 18)])
def test_cnn_every_opset(check, opsets):
    torch.manual_seed(0)
    net = check(randomize(Cnn()), _x(4, 3, 16, 16), opsets=opsets)
    kinds = [layer.kind for layer in net]
    assert kinds.count("Conv") == 2 and kinds.count("Pool") == 3 and kinds.count("Dense") == 2
    assert net.input.shape == (16, 16, 3)
    conv2 = next(lay for lay in net if isinstance(lay, Conv) and lay.groups == 2)
    assert conv2.dilation == (2, 2) and conv2.kernel.shape == (3, 3, 4, 8)
    pools = [lay for lay in net if isinstance(lay, Pool)]
    assert [p.count_include_pad for p in pools] == [False, True, False]
    assert net.output.activation == "softmax"


def test_cnn_dynamo_exporter(check):
    torch.manual_seed(1)
    check(randomize(Cnn(), seed=1), _x(4, 3, 16, 16), opsets=(18,), dynamo=(True,))


class Upsampler(nn.Module):
    """Depthwise conv, ConvTranspose, nearest upsampling, zero padding, ceil-mode pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4)
        self.up1 = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1)
        self.up2 = nn.Upsample(scale_factor=2, mode="nearest")
        self.pad = nn.ZeroPad2d((1, 2, 0, 1))
        self.conv = nn.Conv2d(6, 8, 3, stride=(2, 1))
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        x = torch.relu(self.dw(x))
        x = torch.relu(self.up1(x))
        x = self.pad(self.up2(x))
        x = self.pool(torch.relu(self.conv(x)))
        x = F.adaptive_avg_pool2d(x, 1).squeeze(-1).squeeze(-1)
        return self.fc(x)


def test_upsampling_and_padding(check):
    torch.manual_seed(2)
    net = check(randomize(Upsampler()), _x(3, 4, 7, 7))
    dw = next(lay for lay in net if isinstance(lay, Conv))
    assert dw.groups == 4 and dw.kernel.shape == (3, 3, 1, 4)
    (tconv,) = [lay for lay in net if isinstance(lay, ConvTranspose)]
    assert tconv.shape == (14, 14, 6) and tconv.output_padding == (1, 1)
    assert [lay.size for lay in net if isinstance(lay, UpSample)] == [(2, 2)]
    assert [lay.padding for lay in net if isinstance(lay, ZeroPad)] == [((0, 1), (1, 2))]
    assert net.output.shape == (3,)


class Residual(nn.Module):
    """Residual Add, channel Concat followed by BN, x.view(x.size(0), -1), MatMul + Add."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.bn_stem = nn.BatchNorm2d(8)
        self.a1 = nn.Conv2d(8, 8, 3, padding=1)
        self.bn_a1 = nn.BatchNorm2d(8)
        self.a2 = nn.Conv2d(8, 8, 3, padding=1)
        self.bn_a2 = nn.BatchNorm2d(8)
        self.b1 = nn.Conv2d(8, 4, 1)
        self.b2 = nn.Conv2d(8, 6, 3, padding=1)
        self.bn_cat = nn.BatchNorm2d(10)
        self.weight = nn.Parameter(torch.randn(10 * 6 * 6, 5) * 0.05)
        self.bias = nn.Parameter(torch.randn(5))
        self.act_add = nn.ReLU()
        self.act_cat = nn.ReLU()

    def forward(self, x):
        x = torch.relu(self.bn_stem(self.stem(x)))
        y = self.bn_a2(self.a2(torch.relu(self.bn_a1(self.a1(x)))))
        x = self.act_add(x + y)
        c = self.act_cat(self.bn_cat(torch.cat([self.b1(x), self.b2(x)], dim=1)))
        h = c.view(c.size(0), -1)
        return h @ self.weight + self.bias


def test_residual_concat_matmul(check):
    torch.manual_seed(3)
    net = check(randomize(Residual()), _x(4, 3, 6, 6), dynamo=(False, True))
    (add,) = [lay for lay in net if isinstance(lay, Add)]
    assert add.activation == "relu"
    (cat,) = [lay for lay in net if isinstance(lay, Concatenate)]
    assert cat.axis == -1 and cat.shape == (6, 6, 10) and cat.activation == "relu"
    dense = net.output
    assert isinstance(dense, Dense) and dense.weights.shape == (360, 5)
    assert np.abs(dense.bias).sum() > 0  # the Add was folded into the MatMul's bias


def test_fixed_batch_size(tmp_path):
    """An export without a dynamic batch axis: its reshape targets hold the literal batch."""
    torch.manual_seed(3)
    model = randomize(Residual())
    x = _x(5, 3, 6, 6)
    path = export(model, x[:2], tmp_path / "fixed.onnx", 13, dynamic=False)
    net = OnnxParser().parse(path)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    scale = max(1, np.abs(want).max())
    np.testing.assert_allclose(forward(net, to_ir(x))[net.output.name], want, atol=1e-5 * scale)
    # the predictor feeds the fixed batch size, padding the last chunk
    np.testing.assert_allclose(OnnxParser().predictor(path)(to_ir(x)), want, atol=1e-5 * scale)


class Conv1d(nn.Module):
    """1-D convolutions (grouped, dilated), BN, pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(2, 6, 5, padding=2)
        self.bn1 = nn.BatchNorm1d(6)
        self.pool1 = nn.MaxPool1d(2)
        self.conv2 = nn.Conv1d(6, 6, 3, groups=3, dilation=2)
        self.pool2 = nn.AvgPool1d(2)
        self.fc = nn.Linear(6 * 6, 4)

    def forward(self, x):
        x = self.pool1(torch.relu(self.bn1(self.conv1(x))))
        x = self.pool2(torch.relu(self.conv2(x)))
        return self.fc(torch.flatten(x, 1))


def test_conv1d(check):
    torch.manual_seed(4)
    net = check(randomize(Conv1d()), _x(4, 2, 32))
    assert net.input.shape == (32, 2)
    assert [lay.kernel.shape for lay in net if isinstance(lay, Conv)] == [(5, 2, 6), (3, 2, 6)]


class Decoder(nn.Module):
    """Input scaling (Sub, Div: folded into fc1), and a Linear reshaped into a feature map."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(10, 4 * 3 * 3)
        self.conv = nn.Conv2d(4, 2, 2)
        self.fc2 = nn.Linear(2 * 2 * 2, 3)

    def forward(self, x):
        x = torch.relu(self.fc1((x - 0.5) / 0.25)).view(-1, 4, 3, 3)
        return self.fc2(torch.flatten(torch.relu(self.conv(x)), 1))


def test_reshape_into_feature_map(check):
    torch.manual_seed(5)
    net = check(randomize(Decoder()), _x(4, 10), min_layers=2)
    assert [lay.kind for lay in net][:3] == ["InputLayer", "Dense", "Reshape"]
    assert net.layers[2].shape == (3, 3, 4)


def test_hand_built_graph(tmp_path):
    """Conv + BatchNormalization as separate nodes, Identity, Gemm alpha/beta, Pad input."""
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper
    from snn_onnx_testutil import to_ir
    from snn_parser_onnx import OnnxParser

    from snn_core.ann import forward

    rng = np.random.default_rng(6)

    def init(name, *shape, low=None):
        a = rng.uniform(0.5, 1.5, shape) if low else rng.normal(size=shape)
        return numpy_helper.from_array(a.astype(np.float32), name)

    nodes = [
        helper.make_node("Identity", ["x"], ["x1"]),
        helper.make_node("Pad", ["x1", "pads"], ["xp"], mode="constant"),
        helper.make_node("Conv", ["xp", "w", "b"], ["c"], kernel_shape=[3, 3], auto_pad="VALID"),
        helper.make_node("BatchNormalization", ["c", "g", "be", "m", "v"], ["n"], epsilon=1e-3),
        helper.make_node("Relu", ["n"], ["r"]),
        helper.make_node("Conv", ["r", "w2"], ["c2"], strides=[2, 2], auto_pad="SAME_LOWER"),
        helper.make_node("Flatten", ["c2"], ["f"]),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], alpha=0.5, beta=2.0, transB=1),
    ]
    inits = [
        init("w", 4, 2, 3, 3),
        init("b", 4),
        init("g", 4, low=True),
        init("be", 4),
        init("m", 4),
        init("v", 4, low=True),
        init("w2", 3, 4, 2, 2),
        init("fw", 5, 3 * 3 * 3),
        init("fb", 1, 5),
        numpy_helper.from_array(np.array([0, 0, 1, 0, 0, 0, 0, 1], np.int64), "pads"),
    ]
    graph = helper.make_graph(
        nodes,
        "hand",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 6, 7])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "hand.onnx"
    onnx.save(model, str(path))
    net = OnnxParser().parse(path)
    assert [lay.kind for lay in net] == [
        "InputLayer",
        "ZeroPad",
        "Conv",
        "Conv",
        "Reshape",
        "Dense",
    ]
    assert net.layers[2].activation == "relu"
    assert net.layers[3].padding == ((1, 0), (0, 0))  # SAME_LOWER: the odd pad first
    x = rng.normal(size=(3, 2, 6, 7)).astype(np.float32)
    want = onnxruntime.InferenceSession(str(path)).run(None, {"x": x})[0]
    got = forward(net, to_ir(x))[net.output.name]
    np.testing.assert_allclose(got, want, atol=1e-5 * max(1, np.abs(want).max()))
