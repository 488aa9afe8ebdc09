"""The docs' code works: the plugin guide's minimal plugin registers and runs."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest

from snn_core.config import structure
from snn_core.plugins import Registry

DOCS = Path(__file__).parents[1] / "docs"


def test_plugin_guide_minimal_plugin_is_complete() -> None:
    text = (DOCS / "plugin-guide.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    hooks_source = next(b for b in blocks if "snn_register_codes" in b)
    module = types.ModuleType("snn_code_silent_hooks")
    exec(compile(hooks_source, "plugin-guide.md", "exec"), module.__dict__)
    registry = Registry(load_entrypoints=False)
    registry.register(module, name="silent")
    cls = registry.get("code", "silent")
    code = cls(structure(cls.Options, {"gain": 0.8}, where="[code]"))
    spec = code.spec()
    assert spec.params == {"gain": 0.8}
    assert spec.requires == {"input:analog", "neuron:if", "readout:spike_count"}


@pytest.mark.parametrize(
    "doc", ["user-guide.md", "plugin-guide.md", "config-reference.md", "design.md"]
)
def test_docs_exist(doc: str) -> None:
    assert len((DOCS / doc).read_text()) > 1000
