"""The ``onnx`` parser: loads an ONNX model (e.g. exported from PyTorch) into the snn IR.

Layouts
-------
ONNX models (PyTorch's) are channels-first: a sample is ``(C, H, W)``. The snn IR is
channels-last, so the parser converts at the boundary: the IR's input shape is
``(H, W, C)``, kernels are transposed (Conv ``OIHW`` -> ``HWIO``) and a ``Flatten`` of a
feature map is absorbed into the following dense layer by permuting its weight rows.
**The data set must therefore deliver channels-last samples**, like every snn data set; a
channels-first npz file works with the npz reader's ``channels_first = true``. The
:meth:`OnnxParser.predictor` takes the same channels-last batches and transposes them to
NCHW for onnxruntime.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from snn_core.errors import ConfigError
from snn_core.interfaces import NoOptions, Parser
from snn_core.network import Network
from snn_parser_onnx.convert import SUPPORTED_OPS, convert_model
from snn_parser_onnx.graph import data_inputs, input_dims, opset_version


class OnnxParser(Parser):
    """ONNX models (opsets 11 to 18+; PyTorch users export with torch.onnx.export)."""

    name: ClassVar[str] = "onnx"
    Options: ClassVar[type] = NoOptions

    def load(self, path: Path) -> Any:
        """Load and check the ONNX model at ``path``.

        Raises
        ------
        ConfigError
            If the file is missing or is not a valid ONNX model.
        """
        import onnx

        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"[model] path: no such ONNX model file {str(path)!r}")
        try:
            model = onnx.load(str(path))
            onnx.checker.check_model(model)
        except Exception as exc:  # onnx raises DecodeError, ValidationError...
            first = str(exc).strip().splitlines()[0] if str(exc) else ""
            raise ConfigError(
                f"{path}: not a valid ONNX model ({type(exc).__name__}: {first})"
            ) from exc
        return model

    def parse(self, path: Path) -> Network:
        """Read the ONNX model at ``path`` and return the (channels-last) network IR.

        Raises
        ------
        ConfigError
            If the file cannot be loaded.
        UnsupportedLayerError
            Naming the first node that cannot be converted exactly, its op type and the
            supported op types.
        """
        import onnx

        model = self.load(path)
        network = convert_model(model)
        return network.with_metadata(
            source=str(path),
            parser=self.name,
            framework_version=onnx.__version__,
            source_layout="NCHW",
            opset=opset_version(model),
            producer=f"{model.producer_name} {model.producer_version}".strip(),
        )

    def predictor(self, path: Path) -> Callable[[np.ndarray], np.ndarray] | None:
        """A function running the ONNX model with onnxruntime on a channels-last batch.

        The batch is transposed to channels-first (NCHW) before it is fed to the model.
        Returns None when onnxruntime is not installed (the pipeline then reports only the
        accuracy of the parsed network).
        """
        try:
            import onnxruntime
        except ImportError:
            return None
        model = self.load(path)
        value_info = data_inputs(model.graph)[0]
        fixed = input_dims(value_info)[0]
        chunk = fixed if isinstance(fixed, int) and fixed > 0 else 256
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        input_name = value_info.name

        def predict(x: np.ndarray) -> np.ndarray:
            x = np.asarray(x, dtype=np.float32)
            if x.ndim > 2:
                x = np.ascontiguousarray(np.moveaxis(x, -1, 1))
            parts = []
            for start in range(0, len(x), chunk):
                batch = x[start : start + chunk]
                n = len(batch)
                if n < chunk and isinstance(fixed, int):  # a fixed batch size: pad the rest
                    batch = np.concatenate([batch, np.zeros((chunk - n, *batch.shape[1:]), "f4")])
                parts.append(session.run(None, {input_name: batch})[0][:n])
            return np.concatenate(parts) if parts else np.zeros((0,), np.float32)

        return predict


__all__ = ["SUPPORTED_OPS", "OnnxParser"]
