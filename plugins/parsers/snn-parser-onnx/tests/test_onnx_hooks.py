"""The plugin's hooks: registration through the installed entry point, and file guessing."""

from __future__ import annotations

import subprocess
import sys

from snn_parser_onnx import OnnxParser, hooks

from snn_core.plugins import Registry


def test_registered_through_the_entry_point():
    registry = Registry(environ={"SNN_LOAD_PLUGINS": "onnx"})
    assert registry.get("parser", "onnx") is OnnxParser
    assert registry.source("parser", "onnx").distribution == "snn-parser-onnx"


def test_guess_parser(tmp_path):
    assert hooks.snn_guess_parser(model_path=tmp_path / "net.onnx") == "onnx"
    assert hooks.snn_guess_parser(model_path=tmp_path / "NET.ONNX") == "onnx"
    assert hooks.snn_guess_parser(model_path=tmp_path / "net.keras") is None
    assert hooks.snn_guess_parser(model_path=tmp_path / "net.h5") is None
    registry = Registry(environ={"SNN_LOAD_PLUGINS": "onnx"})
    assert registry.hook.snn_guess_parser(model_path=tmp_path / "m.onnx") == "onnx"


def test_hooks_module_imports_no_framework():
    code = (
        "import sys, snn_parser_onnx.hooks as h; h.snn_register_parsers; "
        "print(sorted(m for m in ('onnx', 'onnxruntime', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
