"""Contract tests for plugins, one class per kind (nengo's backend-conformance idea).

A plugin's test module subclasses the contract of its kind and sets the class under test;
pytest then collects the contract's tests for that plugin::

    from snn_core.testing.contracts import CodeContract
    from snn_code_rate.code import RateCode

    class TestRateCode(CodeContract):
        plugin_class = RateCode

Some contracts need a little help, given as class attributes or overridden methods
(documented on each class). A test that cannot run names what is missing in its skip.
"""

from __future__ import annotations

import importlib
import keyword
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import attrs
import numpy as np
import pytest

from snn_core.config import CORE_PLUGIN_KEYS, PLUGIN_TABLES, Cell, Simulation, structure
from snn_core.interfaces import (
    BatchOutput,
    CodeSpec,
    Dataset,
    DatasetReader,
    Normalizer,
    Parser,
    Plugin,
    Simulator,
    SpikeCode,
)
from snn_core.network import Dense, InputLayer, Network, layer_kinds

#: Libraries that a hooks module must not import at load time (``snn plugins list`` speed).
HEAVY_MODULES = ("tensorflow", "torch", "brian2", "nest", "pyNN", "onnx", "keras")

_TABLE_OF_KIND = {kind: table for table, (kind, _) in PLUGIN_TABLES.items()}


def tiny_network(n_in: int = 4, n_out: int = 3, seed: int = 0) -> Network:
    """A one-layer ReLU network whose class ``i`` wins for input ``e_i`` (tests' workhorse)."""
    rng = np.random.default_rng(seed)
    weights = np.zeros((n_in, n_out), np.float32)
    for i in range(min(n_in, n_out)):
        weights[i, i] = 0.8
    weights += rng.uniform(0, 0.05, weights.shape).astype(np.float32)
    return Network.from_layers(
        [
            InputLayer(name="input", shape=(n_in,)),
            Dense(
                name="out",
                inputs=("input",),
                shape=(n_out,),
                weights=weights,
                bias=np.zeros(n_out, np.float32),
                activation="relu",
            ),
        ]
    )


class PluginContract:
    """What every plugin class promises.

    Attributes
    ----------
    plugin_class
        The class under test.
    hooks_module
        Dotted name of the plugin's hooks module (the entry point's value); when given,
        it is imported in a fresh interpreter to check that it loads no heavy library.
    """

    plugin_class: ClassVar[type[Plugin]]
    hooks_module: ClassVar[str | None] = None
    base_class: ClassVar[type[Plugin]] = Plugin

    def make_options(self, tmp_path: Path) -> dict[str, Any]:
        """TOML options for a working instance; override when some are required."""
        return {}

    def make_plugin(self, tmp_path: Path) -> Any:
        cls = self.plugin_class
        options = structure(cls.Options, self.make_options(tmp_path), where="[test]", base=tmp_path)
        return cls(options)

    def test_is_a_plugin_of_its_kind(self) -> None:
        assert issubclass(self.plugin_class, self.base_class)
        assert self.plugin_class.kind == self.base_class.kind

    def test_name_is_an_identifier(self) -> None:
        name = self.plugin_class.name
        assert name and name.replace("-", "_").isidentifier() and not keyword.iskeyword(name)

    def test_has_a_docstring(self) -> None:
        assert self.plugin_class.describe(), "the first docstring line is shown in listings"

    def test_options_is_a_frozen_attrs_class(self) -> None:
        options = self.plugin_class.Options
        assert attrs.has(options)
        assert options.__setattr__ is not object.__setattr__, "Options must be frozen"

    def test_options_do_not_shadow_core_keys(self) -> None:
        table = _TABLE_OF_KIND[self.plugin_class.kind]
        names = {f.name for f in attrs.fields(self.plugin_class.Options)}
        clash = names & CORE_PLUGIN_KEYS[table]
        assert not clash, f"options {clash} collide with the core keys of [{table}]"

    def test_unknown_option_is_rejected(self, tmp_path: Path) -> None:
        from snn_core.errors import ConfigError

        options = {**self.make_options(tmp_path), "no_such_option_xyz": 1}
        with pytest.raises(ConfigError, match="no_such_option_xyz"):
            structure(self.plugin_class.Options, options, where="[test]", base=tmp_path)

    def test_hooks_module_imports_no_heavy_library(self) -> None:
        if not self.hooks_module:
            pytest.skip("set hooks_module to check the entry point's module")
        code = (
            f"import sys, importlib; importlib.import_module({self.hooks_module!r}); "
            f"print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        assert out == "", f"{self.hooks_module} imports {out} at load time"

    def test_hooks_module_registers_the_class(self) -> None:
        if not self.hooks_module:
            pytest.skip("set hooks_module to check the registration hook")
        from snn_core.plugins import REGISTER_HOOKS

        module = importlib.import_module(self.hooks_module)
        hook = getattr(module, REGISTER_HOOKS[self.plugin_class.kind])
        assert self.plugin_class in list(hook())


class CodeContract(PluginContract):
    """Contract of a spike code."""

    base_class = SpikeCode

    def test_spec_names_its_primitives(self, tmp_path: Path) -> None:
        spec = self.make_plugin(tmp_path).spec()
        assert isinstance(spec, CodeSpec)
        assert {c.split(":")[0] for c in spec.requires} >= {"input", "neuron", "readout"}


class SimulatorContract(PluginContract):
    """Contract of a simulator backend.

    Attributes
    ----------
    code_class
        A spike code the simulator supports (e.g. the rate code) for the run tests.
    """

    base_class = Simulator
    code_class: ClassVar[type[SpikeCode] | None] = None

    def test_declares_capabilities_and_layers(self) -> None:
        caps = self.plugin_class.capabilities
        assert any(c.startswith("neuron:") for c in caps)
        assert any(c.startswith("readout:") for c in caps)
        assert set(self.plugin_class.layer_kinds) <= set(layer_kinds())

    def _run(self, tmp_path: Path, x: np.ndarray, duration: float = 50.0) -> BatchOutput:
        if self.code_class is None:
            pytest.skip("set code_class to a spike code this simulator runs")
        sim = self.make_plugin(tmp_path)
        code = self.code_class()
        batch = len(x) if "batch" in sim.capabilities else 1
        sim.prepare(
            tiny_network(), code, Cell(), Simulation(duration=duration, dt=1.0, batch_size=batch)
        )
        outs = [
            sim.run_batch(x[i : i + batch], np.arange(i, i + batch))
            for i in range(0, len(x), batch)
        ]
        sim.close()
        return BatchOutput(
            scores=np.concatenate([o.scores for o in outs]), timesteps=outs[0].timesteps
        )

    def test_run_batch_shapes(self, tmp_path: Path) -> None:
        x = np.eye(4, dtype=np.float32)[:3]
        out = self._run(tmp_path, x)
        assert out.scores.ndim == 3 and out.scores.shape[0] == 3 and out.scores.shape[2] == 3
        assert out.scores.shape[1] == len(out.timesteps)
        assert np.all(np.diff(out.timesteps) > 0)

    def test_strongest_input_wins(self, tmp_path: Path) -> None:
        x = np.eye(4, dtype=np.float32)[:3]
        out = self._run(tmp_path, x, duration=100.0)
        assert list(np.argmax(out.scores[:, -1], axis=-1)) == [0, 1, 2]


class DatasetContract(PluginContract):
    """Contract of a dataset reader; override :meth:`make_options` to write a small data
    set under ``tmp_path`` and return the reader's options for it."""

    base_class = DatasetReader

    def open(self, tmp_path: Path) -> Dataset:
        reader = self.make_plugin(tmp_path)
        assert isinstance(reader, DatasetReader)
        return reader.open(tmp_path)

    def test_batches_follow_the_indices(self, tmp_path: Path) -> None:
        data = self.open(tmp_path)
        n = data.num_samples
        assert n >= 3, "make_options should write at least 3 samples"
        idx = np.array([n - 1, 0, 1])
        xs, ys = zip(*data.test_batches(idx, 2), strict=True)
        x, y = np.concatenate(xs), np.concatenate(ys)
        assert x.dtype == np.float32
        if data.temporal:  # frame sequences: (batch, frames, *sample_shape)
            assert x.ndim == len(data.sample_shape) + 2 and x.shape[0] == 3
            assert x.shape[2:] == tuple(data.sample_shape)
            assert data.accumulate(x).shape == (3, *data.sample_shape)
        else:
            assert x.shape == (3, *data.sample_shape)
        assert np.issubdtype(y.dtype, np.integer) and y.shape == (3,)
        first = np.concatenate([b[0] for b in data.test_batches(np.array([n - 1]), 1)])
        np.testing.assert_array_equal(first[0], x[0])
        data.close()

    def test_an_index_out_of_range_names_it(self, tmp_path: Path) -> None:
        from snn_core.errors import DatasetError

        data = self.open(tmp_path)
        n = data.num_samples
        with pytest.raises(DatasetError, match=f"sample index {n} requested"):
            list(data.test_batches(np.array([0, n]), 2))
        data.close()


class ParserContract(PluginContract):
    """Contract of a parser; override :meth:`make_model` to write a small model file."""

    base_class = Parser

    def make_model(self, tmp_path: Path) -> Path:
        pytest.skip("override make_model to write a model file the parser reads")

    def test_parse_gives_a_checked_network(self, tmp_path: Path) -> None:
        path = self.make_model(tmp_path)
        network = self.make_plugin(tmp_path).parse(path)
        assert isinstance(network, Network)
        network.check()
        saved = network.save(tmp_path / "parsed.h5")
        again = Network.load(saved)
        assert [lay.name for lay in again] == [lay.name for lay in network]


class NormalizerContract(PluginContract):
    """Contract of a normalizer."""

    base_class = Normalizer

    def test_keeps_structure_and_decisions(self, tmp_path: Path) -> None:
        from snn_core.ann import predict

        net = tiny_network()
        rng = np.random.default_rng(1)
        x = rng.uniform(0, 3, (64, 4)).astype(np.float32)
        normalizer = self.make_plugin(tmp_path)
        new = normalizer.normalize(net, lambda: iter([x[:32], x[32:]]), cache_dir=None)
        assert [lay.name for lay in new] == [lay.name for lay in net]
        assert [lay.shape for lay in new] == [lay.shape for lay in net]
        np.testing.assert_array_equal(
            np.argmax(predict(net, x), -1), np.argmax(predict(new, x), -1)
        )
