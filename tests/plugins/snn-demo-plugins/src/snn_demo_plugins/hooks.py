"""Hook implementations of the demo plugin package: one class of four kinds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import numpy as np

from snn_core import hookimpl
from snn_core.interfaces import (
    BatchOutput,
    CodeSpec,
    Dataset,
    DatasetReader,
    Parser,
    Simulator,
    SpikeCode,
)
from snn_core.network import Network


class BlobsDataset(Dataset):
    """Gaussian blobs around the unit vectors: class ``i`` is near ``e_i``."""

    def __init__(self, num_samples: int, dims: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.labels = rng.integers(0, min(3, dims), num_samples)
        self.x = (np.eye(dims)[self.labels] + rng.normal(0, 0.1, (num_samples, dims))).clip(0)
        self.x = self.x.astype(np.float32)
        self.num_samples = num_samples
        self.sample_shape = (dims,)

    def test_batches(self, indices: np.ndarray, batch_size: int):
        for start in range(0, len(indices), batch_size):
            idx = indices[start : start + batch_size]
            yield self.x[idx], self.labels[idx]

    def norm_batches(self, batch_size: int):
        return (self.x[i : i + batch_size] for i in range(0, self.num_samples, batch_size))


class FramesDataset(BlobsDataset):
    """The blobs cut into ``frames`` equal frames per sample (a temporal data set)."""

    temporal = True

    def __init__(self, num_samples: int, dims: int, seed: int, frames: int) -> None:
        super().__init__(num_samples, dims, seed)
        self.frames = frames

    def test_batches(self, indices: np.ndarray, batch_size: int):
        for x, y in super().test_batches(indices, batch_size):
            yield np.repeat(x[:, None] / self.frames, self.frames, axis=1), y


class BlobsReader(DatasetReader):
    """Synthetic Gaussian blobs (no files needed)."""

    name = "demo_blobs"

    @attrs.frozen
    class Options:
        #: Number of test samples.
        num_samples: int = attrs.field(default=60, validator=attrs.validators.ge(1))
        #: Input dimensions.
        dims: int = 4
        seed: int = 0
        #: Serve each sample as this many frames (a temporal data set); 0: static samples.
        frames: int = attrs.field(default=0, validator=attrs.validators.ge(0))

    def open(self, base: Path) -> Dataset:
        o = self.options
        if o.frames:
            return FramesDataset(o.num_samples, o.dims, o.seed, o.frames)
        return BlobsDataset(o.num_samples, o.dims, o.seed)


class IrParser(Parser):
    """Reads a network already in snn's HDF5 format."""

    name = "demo_ir"

    def parse(self, path: Path) -> Network:
        return Network.load(path)


class CountCode(SpikeCode):
    """Rate code: analog input current, integrate-and-fire, spike counts."""

    name = "demo_rate"

    def spec(self) -> CodeSpec:
        return CodeSpec(input_encoding="analog", neuron_model="if", readout="spike_count")


class NumpySimulator(Simulator):
    """A small numpy integrate-and-fire simulator (reset by subtraction)."""

    name = "demo_numpy"
    capabilities = frozenset(
        {
            "input:analog",
            "input:frames",
            "neuron:if",
            "readout:spike_count",
            "reset:subtract",
            "cell:v_init",
            "batch",
        }
    )
    layer_kinds = frozenset({"InputLayer", "Dense", "Conv", "Reshape", "ZeroPad"})

    @attrs.frozen
    class Options:
        #: Report the output every this many steps.
        record_every: int = attrs.field(default=1, validator=attrs.validators.ge(1))

    def prepare(self, network: Network, code: Any, cell: Any, simulation: Any) -> None:
        self.network, self.cell, self.sim = network, cell, simulation

    def run_batch(self, x: np.ndarray, sample_indices: np.ndarray) -> BatchOutput:
        from snn_core.ann import layer_forward

        net, thr = self.network, self.cell.v_thresh
        v = {lay.name: self.cell.initial_v for lay in net if lay.spiking}
        counts = np.zeros((len(x), *net.output.shape), np.float32)
        scores, steps = [], []
        frames = x.ndim == len(net.input.shape) + 2  # a temporal data set: frame t at step t
        for t in range(1, self.sim.num_steps + 1):
            out: dict[str, np.ndarray] = {}
            for lay in net:
                if not lay.inputs:
                    if not frames:
                        out[lay.name] = x
                    else:
                        out[lay.name] = x[:, t - 1] if t <= x.shape[1] else np.zeros_like(x[:, 0])
                    continue
                z = layer_forward(lay, [out[i] for i in lay.inputs], pre_activation=True)
                if lay.spiking:
                    v[lay.name] = v[lay.name] + z
                    spikes = (v[lay.name] >= thr).astype(np.float32)
                    v[lay.name] = v[lay.name] - spikes * thr
                    z = spikes
                out[lay.name] = z
            counts += out[net.output.name]
            if t % self.options.record_every == 0:
                scores.append(counts.copy())
                steps.append(t * self.sim.dt)
        return BatchOutput(scores=np.stack(scores, axis=1), timesteps=np.asarray(steps))


@hookimpl
def snn_register_datasets():
    return [BlobsReader]


@hookimpl
def snn_register_parsers():
    return [IrParser]


@hookimpl
def snn_register_codes():
    return [CountCode]


@hookimpl
def snn_register_simulators():
    return [NumpySimulator]


@hookimpl
def snn_guess_parser(model_path: Path):
    return "demo_ir" if Path(model_path).suffix == ".h5" else None
