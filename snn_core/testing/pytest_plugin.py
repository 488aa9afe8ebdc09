"""pytest plugin shipped with snn-core (entry point ``pytest11``): fixtures for plugin tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from snn_core.plugins import Registry, set_registry


@pytest.fixture
def snn_registry() -> Iterator[Registry]:
    """An empty registry (no installed plugins) made the process-wide one for the test.

    Register in-test plugin modules with ``snn_registry.register(module)``.
    """
    registry = Registry(load_entrypoints=False)
    set_registry(registry)
    yield registry
    set_registry(None)
