"""Hook implementations of the ONNX parser plugin (imports neither onnx nor onnxruntime)."""

from __future__ import annotations

from pathlib import Path

from snn_core import hookimpl

#: File suffixes this plugin claims.
ONNX_SUFFIXES = (".onnx",)


@hookimpl
def snn_register_parsers() -> list[type]:
    """Register :class:`~snn_parser_onnx.parser.OnnxParser` as ``"onnx"``."""
    from snn_parser_onnx.parser import OnnxParser

    return [OnnxParser]


@hookimpl
def snn_guess_parser(model_path: Path) -> str | None:
    """Return ``"onnx"`` for a file ending in ``.onnx``, else None."""
    return "onnx" if Path(model_path).suffix.lower() in ONNX_SUFFIXES else None
