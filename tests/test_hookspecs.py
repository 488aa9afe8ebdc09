"""Every hook is documented, in its docstring and in the plugin author's guide."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from snn_core import hookspecs

HOOKS = [
    name
    for name, fn in vars(hookspecs).items()
    if name.startswith("snn_") and inspect.isfunction(fn)
]
GUIDE = Path(__file__).parents[1] / "docs" / "plugin-guide.md"


def test_there_are_hooks_for_every_kind() -> None:
    from snn_core.plugins import REGISTER_HOOKS

    assert set(REGISTER_HOOKS.values()) <= set(HOOKS)


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_full_docstring(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert "Called" in doc, f"{name}: say when it is called"
    params = inspect.signature(getattr(hookspecs, name)).parameters
    if params:
        assert "Parameters" in doc, f"{name}: document its arguments"
        for param in params:
            assert param in doc, f"{name}: argument {param} is undocumented"
    if name.startswith("snn_register_"):
        assert "Returns" in doc


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_in_the_plugin_guide(name: str) -> None:
    assert f"`{name}`" in GUIDE.read_text(), f"docs/plugin-guide.md does not describe {name}"
