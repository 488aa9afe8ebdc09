"""Fixtures of the core's tests: in-process plugins, never the developer's installed ones."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from snn_core.plugins import Registry, set_registry
from snn_core.testing.contracts import tiny_network

DEMO_SRC = Path(__file__).parent / "plugins" / "snn-demo-plugins" / "src"


@pytest.fixture
def demo_registry() -> Iterator[Registry]:
    """A registry holding only the demo plugin package (imported from its source tree)."""
    if str(DEMO_SRC) not in sys.path:
        sys.path.insert(0, str(DEMO_SRC))
    from snn_demo_plugins import hooks

    registry = Registry(load_entrypoints=False)
    registry.register(hooks, name="demo", distribution="snn-demo-plugins", version="1.2.3")
    set_registry(registry)
    yield registry
    set_registry(None)


@pytest.fixture
def demo_experiment(tmp_path: Path) -> Path:
    """An experiment file that the demo plugins can run, with its model file."""
    tiny_network().save(tmp_path / "tiny.h5")
    path = tmp_path / "exp.toml"
    path.write_text(
        """
[model]
path = "tiny.h5"
parsed = "tiny_parsed.h5"

[dataset]
reader = "demo_blobs"
num_samples = 40

[stages]
normalize = false

[code]
name = "demo_rate"

[simulator]
name = "demo_numpy"

[simulation]
duration = 30
batch_size = 16

[output]
dir = "runs/{runlabel}"
runlabel = "demo"
verbose = 0
"""
    )
    return path
