"""Helpers of the ONNX parser's tests: export, random weights, layer-by-layer comparison.

(A uniquely named module, so that it never clashes with other plugins' test helpers.)
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from snn_core.ann import forward
from snn_core.network import Network

#: Largest difference allowed between the IR and onnxruntime / torch (float32), relative
#: to the magnitude of the compared values when that exceeds 1.
TOLERANCE = 1e-5


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights, and non-trivial BatchNorm statistics; returns the model in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                c = module.num_features
                module.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(c, generator=gen) * 0.5)
                module.running_mean.copy_(torch.randn(c, generator=gen) * 0.5)
                module.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
    return model.eval()


def export(
    model, x: np.ndarray, path: Path, opset: int, dynamo: bool = False, dynamic: bool = True
) -> Path:
    """Export ``model`` to ONNX (input named ``x``), with a symbolic batch axis if ``dynamic``."""
    sample = torch.from_numpy(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(
                model,
                (sample,),
                str(path),
                opset_version=opset,
                dynamo=True,
                input_names=["x"],
                dynamic_shapes=({0: torch.export.Dim("N", min=2)},),
                verbose=False,
                report=False,
            )
        else:
            torch.onnx.export(
                model,
                (sample,),
                str(path),
                opset_version=opset,
                dynamo=False,
                input_names=["x"],
                dynamic_axes={"x": {0: "N"}} if dynamic else None,
            )
    return path


def to_ir(x: np.ndarray) -> np.ndarray:
    """NCHW (or NCL) batch -> channels-last."""
    return np.moveaxis(x, 1, -1) if x.ndim > 2 else x


def _diff(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got - want).max() / max(1.0, float(np.abs(want).max())))


def compare_onnxruntime(net: Network, path: Path, x: np.ndarray) -> dict[str, float]:
    """Relative max difference of every IR layer that holds an ONNX tensor's value.

    The model is run by onnxruntime with those tensors added as graph outputs.
    """
    import onnxruntime

    pairs = [
        (ir, t)
        for ir, t in net.metadata["onnx_outputs"].items()
        if t is not None and ir != net.input.name
    ]
    model = onnx.load(str(path))
    present = {o.name for o in model.graph.output}
    for _, t in pairs:
        if t not in present:
            model.graph.output.append(onnx.helper.make_tensor_value_info(t, 1, None))
            present.add(t)
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    names = [t for _, t in pairs]
    want = dict(zip(names, session.run(names, {"x": x}), strict=True))
    got = forward(net, to_ir(x), [ir for ir, _ in pairs])
    diffs = {}
    for ir, t in pairs:
        w = to_ir(want[t]).reshape(got[ir].shape)
        diffs[ir] = _diff(got[ir], w)
    return diffs


def compare_torch(net: Network, path: Path, model: torch.nn.Module, x: np.ndarray):
    """Compare IR layers with torch module outputs captured by forward hooks.

    A layer is matched to the module named in the scope of the ONNX node that produced its
    tensor (the TorchScript exporter names nodes ``/<scope>/<qualified.name>/<Op>``).
    Returns the relative max differences and the torch model's final output.
    """
    producers = {out: node.name for node in onnx.load(str(path)).graph.node for out in node.output}
    modules = dict(model.named_modules())
    captured: dict[str, torch.Tensor] = {}
    normalized: list[torch.Tensor] = []  # inputs of BatchNorms (the exporter fuses those)

    def hook(module, args, out, name):
        if isinstance(out, torch.Tensor):
            captured[name] = out
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            normalized.append(args[0])

    handles = [
        module.register_forward_hook(lambda m, a, o, name=name: hook(m, a, o, name))
        for name, module in modules.items()
        if name
    ]
    try:
        with torch.no_grad():
            final = model(torch.from_numpy(x)).numpy()
    finally:
        for h in handles:
            h.remove()
    # a module whose output feeds a BatchNorm may have had the BatchNorm folded into it
    captured = {
        name: out.numpy() for name, out in captured.items() if not any(out is n for n in normalized)
    }
    pairs = []
    for ir, t in net.metadata["onnx_outputs"].items():
        parts = producers.get(t or "", "").strip("/").split("/")
        if t is not None and len(parts) >= 2 and parts[-2] in captured:
            pairs.append((ir, parts[-2]))
    got = forward(net, to_ir(x), [ir for ir, _ in pairs]) if pairs else {}
    diffs = {}
    for ir, module_name in pairs:
        want = to_ir(captured[module_name])
        if want.size == got[ir].size:
            diffs[f"{ir}~{module_name}"] = _diff(got[ir], want.reshape(got[ir].shape))
    return diffs, final
