"""Fixtures of the ONNX parser's tests (they export real PyTorch models)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import attrs
import numpy as np
import pytest

pytest.importorskip("onnx", reason="the onnx parser needs the onnx package")
# the helper module next to this file (uniquely named, whatever the import mode)
sys.path.insert(0, str(Path(__file__).parent))

from snn_parser_onnx import OnnxParser

from snn_core.ann import forward
from snn_core.network import Network


@pytest.fixture
def check(tmp_path: Path) -> Callable[..., Network]:
    """Export a torch model at each opset, parse it and compare it layer by layer.

    Compares the IR with onnxruntime (every IR layer that holds an ONNX tensor), with the
    torch modules' outputs (forward hooks) and with the final torch output; also checks the
    predictor, the metadata and the parsed network's save/load round trip. Returns the
    network parsed from the first export.
    """

    from snn_onnx_testutil import TOLERANCE, compare_onnxruntime, compare_torch, export, to_ir

    def run(model, x: np.ndarray, opsets=(13, 18), dynamo=(False,), min_layers=3) -> Network:
        parser = OnnxParser()
        first = None
        if any(dynamo):
            pytest.importorskip(
                "onnxscript", reason="torch's dynamo ONNX exporter needs onnxscript"
            )
        for use_dynamo in dynamo:
            for opset in opsets:
                tag = f"{type(model).__name__}_{opset}{'_dynamo' if use_dynamo else ''}"
                path = export(model, x, tmp_path / f"{tag}.onnx", opset, use_dynamo)
                net = parser.parse(path)
                assert net.metadata["source_layout"] == "NCHW"
                assert net.metadata["parser"] == "onnx"
                diffs = compare_onnxruntime(net, path, x)
                assert len(diffs) >= min_layers, (tag, diffs, net.summary())
                bad = {k: v for k, v in diffs.items() if not v <= TOLERANCE}
                assert not bad, f"{tag}: IR differs from onnxruntime in {bad}\n{net.summary()}"
                out = forward(net, to_ir(x))[net.output.name]
                torch_diffs, final = compare_torch(net, path, model, x)
                if not use_dynamo:
                    assert torch_diffs, (tag, "no layer matched a torch module")
                bad = {k: v for k, v in torch_diffs.items() if not v <= TOLERANCE}
                assert not bad, f"{tag}: IR differs from torch modules in {bad}"
                want = to_ir(final).reshape(out.shape)
                np.testing.assert_allclose(out, want, atol=TOLERANCE * max(1, np.abs(want).max()))
                predicted = parser.predictor(path)(to_ir(x))
                np.testing.assert_allclose(
                    predicted, final, atol=1e-5 * max(1, np.abs(final).max())
                )
                again = Network.load(net.save(tmp_path / f"{tag}_parsed.h5"))
                # the same numbers; BLAS may sum in another order for differently laid
                # out (but equal) arrays, hence not bit-equality of the outputs
                for a, b in zip(net.layers, again.layers, strict=True):
                    for key, value in attrs.asdict(a, recurse=False).items():
                        if isinstance(value, np.ndarray):
                            np.testing.assert_array_equal(getattr(b, key), value, err_msg=key)
                np.testing.assert_allclose(
                    forward(again, to_ir(x))[again.output.name], out, rtol=1e-6, atol=1e-7
                )
                first = first or net
        return first

    return run
