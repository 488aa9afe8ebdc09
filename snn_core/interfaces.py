"""The five kinds of plugin, as small base classes, and the data they exchange.

A plugin distribution contributes *classes* through the registration hooks of
:mod:`snn_core.hookspecs`. Each class carries its user-facing ``name`` and an attrs
``Options`` class; the core structures the plugin's table of the experiment file into
``Options`` and instantiates the class with it. The core then calls the methods below;
it never looks at which plugin it is talking to.

Example
-------
A complete (if useless) spike code::

    import attrs
    from snn_core.interfaces import CodeSpec, SpikeCode

    class Silent(SpikeCode):
        '''Never emits a spike.'''
        name = "silent"

        @attrs.frozen
        class Options:
            pass

        def spec(self) -> CodeSpec:
            return CodeSpec(input_encoding="none", neuron_model="if", readout="spike_count")
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import numpy as np

if TYPE_CHECKING:
    from snn_core.config import Cell, Simulation
    from snn_core.network import Network

#: The plugin kinds, in pipeline order.
KINDS = ("dataset", "parser", "normalizer", "code", "simulator")


@attrs.frozen
class NoOptions:
    """Options of a plugin that takes none."""


class Plugin(ABC):  # noqa: B024 - each kind adds its abstract methods
    """Base of every plugin class.

    Class attributes
    ----------------
    name
        The user-facing name (the value of the selector key in the experiment file).
    kind
        One of :data:`KINDS`; set by the kind's base class.
    Options
        A frozen attrs class; its fields are the keys the plugin accepts in its table.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions

    def __init__(self, options: Any = None) -> None:
        self.options = options if options is not None else self.Options()

    @classmethod
    def describe(cls) -> str:
        """First line of the class docstring (shown by ``snn plugins list``)."""
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""


# -- datasets -------------------------------------------------------------------------


class Dataset(ABC):
    """Test samples (and optionally normalization samples) served in batches.

    ``x`` batches are float32 arrays of shape ``(batch, *sample_shape)``, channels last;
    labels are integer class indices of shape ``(batch,)``.
    """

    #: Number of test samples.
    num_samples: int
    #: Shape of one sample (of one frame, for a temporal data set), channels last.
    sample_shape: tuple[int, ...]
    #: Whether samples are sequences of frames (event-camera data): ``test_batches`` then
    #: yields ``x`` of shape ``(batch, frames, *sample_shape)``, the simulator feeds frame
    #: ``i`` at step ``i`` (the capability ``input:frames``), and the ANN sees
    #: :meth:`accumulate` of the frames. ``norm_batches`` yields accumulated samples.
    temporal: bool = False

    @abstractmethod
    def test_batches(
        self, indices: np.ndarray, batch_size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(x, labels)`` for the test samples at ``indices``, in that order."""

    def checked_indices(self, indices: np.ndarray, where: object) -> np.ndarray:
        """``indices`` as a flat int64 array, or a DatasetError naming ``where`` (the file
        or folder) and the first index outside ``0..num_samples - 1``."""
        indices = np.asarray(indices, np.int64).reshape(-1)
        bad = indices[(indices < 0) | (indices >= self.num_samples)]
        if len(bad):
            from snn_core.errors import DatasetError

            raise DatasetError(
                f"{where}: sample index {int(bad[0])} requested, but it holds samples "
                f"0..{self.num_samples - 1}"
            )
        return indices

    def accumulate(self, x: np.ndarray) -> np.ndarray:
        """The ANN's input for a batch of frame sequences ``(batch, frames, ...)``.

        The default sums the frames; a reader overrides it to match how the ANN was
        trained (e.g. clipping or scaling the sum).
        """
        return np.asarray(x, np.float32).sum(axis=1)

    def norm_batches(self, batch_size: int) -> Iterator[np.ndarray] | None:
        """Yield batches of normalization samples, or return None if there are none.

        May be called more than once (a normalizer can make several passes).
        """
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files the dataset holds open."""


class DatasetReader(Plugin):
    """Opens a data set described by the ``[dataset]`` table."""

    kind: ClassVar[str] = "dataset"

    @abstractmethod
    def open(self, base: Path) -> Dataset:
        """Open the data set; relative paths in the options resolve against ``base``.

        Raises
        ------
        DatasetError
            Naming the file or key that is missing or malformed.
        """


# -- parsers --------------------------------------------------------------------------


class Parser(Plugin):
    """Turns a trained model file into a :class:`~snn_core.network.Network`."""

    kind: ClassVar[str] = "parser"

    @abstractmethod
    def parse(self, path: Path) -> Network:
        """Read the model at ``path`` and return the network IR.

        Raises
        ------
        UnsupportedLayerError
            Naming the layer, its type and the supported types.
        """

    def predictor(self, path: Path) -> Callable[[np.ndarray], np.ndarray] | None:
        """A function running the *input* model in its own framework on a batch, or None.

        The pipeline uses it to report the accuracy of the model as the user gave it.
        """
        return None


# -- normalizers ----------------------------------------------------------------------


class Normalizer(Plugin):
    """Rescales weights so that activations fit the spiking neurons' range."""

    kind: ClassVar[str] = "normalizer"

    @abstractmethod
    def normalize(
        self,
        network: Network,
        batches: Callable[[], Iterator[np.ndarray]],
        *,
        cache_dir: Path | None = None,
    ) -> Network:
        """Return the normalized network.

        Parameters
        ----------
        network
            The parsed network.
        batches
            Called (possibly several times) to stream the normalization samples.
        cache_dir
            Where scale factors may be cached between runs, or None.
        """


# -- spike codes ----------------------------------------------------------------------


@attrs.frozen
class CodeSpec:
    """What a spike code asks of a simulator, as primitives simulators implement.

    The capabilities a simulator must offer are ``input:<input_encoding>``,
    ``neuron:<neuron_model>``, ``readout:<readout>`` and any ``extra`` ones.
    """

    #: How a sample becomes input to the first layer (``analog``, ``poisson``, ...).
    input_encoding: str
    #: The neuron dynamics (``if``: integrate-and-fire with the cell's reset).
    neuron_model: str
    #: How the class is read from the output layer (``spike_count``, ...).
    readout: str
    #: Numbers the primitives need (input rate, bit counts...).
    params: Mapping[str, Any] = attrs.field(factory=dict)
    extra: frozenset[str] = frozenset()

    @property
    def requires(self) -> frozenset[str]:
        """The simulator capabilities this code needs."""
        return frozenset(
            {
                f"input:{self.input_encoding}",
                f"neuron:{self.neuron_model}",
                f"readout:{self.readout}",
                *self.extra,
            }
        )


class SpikeCode(Plugin):
    """How activations are carried by spikes: encoding, neuron dynamics and readout."""

    kind: ClassVar[str] = "code"

    @abstractmethod
    def spec(self) -> CodeSpec:
        """The code's requirements and parameters for the simulator."""


# -- simulators -----------------------------------------------------------------------


@attrs.frozen
class BatchOutput:
    """What a simulator returns for one batch.

    Attributes
    ----------
    scores
        ``(batch, len(timesteps), num_classes)``: the readout of the output layer at
        each reported step (e.g. cumulative spike counts); argmax is the prediction.
    timesteps
        Simulated time (ms) of each reported step.
    synaptic_ops
        Optional ``(len(timesteps),)`` cumulative synaptic operations per sample (the
        batch's mean).
    neuron_ops
        Optional ``(batch, len(timesteps))`` cumulative neuron state updates per sample.
    steps_used
        Optional ``(batch,)`` steps each sample ran until its readout settled (early
        stopping); all steps where absent.
    synaptic_ops_per_layer
        Optional layer name -> ``(batch,)`` synaptic operations its spikes caused.
    records
        Optional extra arrays requested through ``log_vars``, by name.
    """

    scores: np.ndarray
    timesteps: np.ndarray
    synaptic_ops: np.ndarray | None = None
    neuron_ops: np.ndarray | None = None
    steps_used: np.ndarray | None = None
    synaptic_ops_per_layer: Mapping[str, np.ndarray] = attrs.field(factory=dict)
    records: Mapping[str, np.ndarray] = attrs.field(factory=dict)


class Simulator(Plugin):
    """Runs a converted network, one batch at a time.

    Class attributes
    ----------------
    capabilities
        What the simulator offers: ``input:*``, ``neuron:*``, ``readout:*``, ``reset:*``,
        ``cell:*`` and ``batch`` (more than one sample at once).
    layer_kinds
        The :class:`~snn_core.network.Layer` kinds it can simulate.
    """

    kind: ClassVar[str] = "simulator"
    capabilities: ClassVar[frozenset[str]] = frozenset()
    layer_kinds: ClassVar[frozenset[str]] = frozenset()

    def configure_process(self, simulation: Simulation) -> None:
        """Set process-wide runtime options (thread pools, devices) for a run.

        The pipeline calls this once, after the plugins are bound and before any stage
        runs, while no framework has started yet (e.g. TensorFlow's thread pools can
        only be sized then). The default does nothing.
        """

    @abstractmethod
    def prepare(
        self, network: Network, code: SpikeCode, cell: Cell, simulation: Simulation
    ) -> None:
        """Build the spiking network (the "convert" stage for this backend)."""

    @abstractmethod
    def run_batch(self, x: np.ndarray, sample_indices: np.ndarray) -> BatchOutput:
        """Simulate one batch of samples and return the output readout over time."""

    def runtime(self) -> dict[str, Any]:
        """How the prepared backend runs (devices, threads...): JSON-able facts that
        explain its speed, stored in ``results.json`` under ``simulator_runtime``.
        The default says nothing."""
        return {}

    def export(self, folder: Path) -> list[Path]:
        """Write the converted network in the backend's own format; return the files."""
        return []

    def close(self) -> None:
        """Free the backend's resources."""
