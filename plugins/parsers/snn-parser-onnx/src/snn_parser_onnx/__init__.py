"""snn parser plugin for ONNX models (PyTorch users export to ONNX)."""

from snn_parser_onnx.parser import SUPPORTED_OPS, OnnxParser

__all__ = ["SUPPORTED_OPS", "OnnxParser"]
