"""The registry: registration, look-up errors, conflicts and broken plugins."""

from __future__ import annotations

import types

import attrs
import pytest

from snn_core import hookimpl
from snn_core.errors import BrokenPluginError, PluginConflictError, UnknownPluginError
from snn_core.interfaces import CodeSpec, SpikeCode
from snn_core.plugins import Registry, distribution_for


class OtherRate(SpikeCode):
    """Another class that calls itself demo_rate."""

    name = "demo_rate"

    def spec(self) -> CodeSpec:
        return CodeSpec(input_encoding="analog", neuron_model="if", readout="spike_count")


def plugin_module(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, hookimpl(fn))
    return module


def test_registered_classes_by_kind(demo_registry: Registry) -> None:
    assert set(demo_registry.classes("simulator")) == {"demo_numpy"}
    assert set(demo_registry.classes("dataset")) == {"demo_blobs"}
    assert demo_registry.get("code", "demo_rate").name == "demo_rate"
    source = demo_registry.source("simulator", "demo_numpy")
    assert (source.distribution, source.version) == ("snn-demo-plugins", "1.2.3")


def test_unknown_name_suggests_close_match_and_package(demo_registry: Registry) -> None:
    with pytest.raises(UnknownPluginError) as info:
        demo_registry.get("simulator", "demo_numpi")
    msg = str(info.value)
    assert "did you mean 'demo_numpy'" in msg
    assert "Installed simulators: demo_numpy" in msg
    assert "snn-sim-demo-numpi" in msg
    assert isinstance(info.value, LookupError)


def test_conflicting_names_fail_naming_both_distributions(demo_registry: Registry) -> None:
    demo_registry.register(
        plugin_module("other", snn_register_codes=lambda: [OtherRate]),
        name="other",
        distribution="snn-code-other",
        version="0.1",
    )
    with pytest.raises(PluginConflictError, match="snn-demo-plugins .* and snn-code-other"):
        demo_registry.classes("code")
    rows = demo_registry.entries()  # listing never raises
    assert all(r.status == "broken" for r in rows)


def test_a_hook_returning_junk_marks_only_that_plugin_broken(demo_registry: Registry) -> None:
    demo_registry.register(
        plugin_module("junk", snn_register_codes=lambda: ["not a class"]), name="junk"
    )
    assert set(demo_registry.classes("code")) == {"demo_rate"}
    broken = [r for r in demo_registry.entries() if r.status == "broken"]
    assert [r.name for r in broken] == ["junk"] and "not a snn_core" in broken[0].error


def test_a_hook_that_raises_is_reported(demo_registry: Registry) -> None:
    def explode():
        raise RuntimeError("boom")

    demo_registry.register(plugin_module("bad", snn_register_simulators=explode), name="bad")
    assert "demo_numpy" in demo_registry.classes("simulator")
    row = next(r for r in demo_registry.entries() if r.name == "bad")
    assert row.status == "broken" and "RuntimeError: boom" in row.error


def test_unknown_hook_name_is_rejected() -> None:
    registry = Registry(load_entrypoints=False)
    module = plugin_module("typo", snn_register_simulator=lambda: [])
    with pytest.raises(BrokenPluginError, match="snn_register_simulator.*did you mean"):
        registry.register(module, name="typo")


def test_wrong_kind_is_rejected() -> None:
    registry = Registry(load_entrypoints=False)
    registry.register(plugin_module("mix", snn_register_simulators=lambda: [OtherRate]), name="mix")
    assert registry.classes("simulator") == {}
    row = next(r for r in registry.entries() if r.name == "mix")
    assert "expected kind 'simulator'" in row.error


def test_broken_entry_point_is_named_when_asked_for() -> None:
    from snn_core.plugins import Broken

    registry = Registry(load_entrypoints=False)
    registry.broken.append(
        Broken(
            "fancy",
            "snn-sim-fancy",
            "0.3",
            "snn_sim_fancy.hooks",
            "ModuleNotFoundError: No module named 'fancylib'",
            "",
        )
    )
    with pytest.raises(BrokenPluginError, match=r"snn-sim-fancy 0.3.*failed.*fancylib"):
        registry.get("simulator", "fancy")


def test_distribution_names_follow_the_convention() -> None:
    assert distribution_for("simulator", "brian2") == "snn-sim-brian2"
    assert distribution_for("code", "temporal_pattern") == "snn-code-temporal-pattern"


def test_entries_carry_descriptions(demo_registry: Registry) -> None:
    rows = {r.name: r for r in demo_registry.entries()}
    assert rows["demo_numpy"].description.startswith("A small numpy")
    assert rows["demo_numpy"].as_dict()["kind"] == "simulator"
    assert attrs.has(type(rows["demo_numpy"]))
