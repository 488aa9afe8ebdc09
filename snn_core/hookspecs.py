"""Hook specifications: everything a plugin can implement.

A plugin is a module (named by an entry point in the ``snn_core`` group) with functions
decorated by :data:`hookimpl` and named like the specs below. Registration hooks return
plugin classes (see :mod:`snn_core.interfaces`); the core folds them into name -> class
registries. Hooks are always called with keyword arguments.

Example
-------
::

    from snn_core import hookimpl

    @hookimpl
    def snn_register_codes():
        return [MyCode]
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from snn_core.interfaces import DatasetReader, Normalizer, Parser, Simulator, SpikeCode

PROJECT = "snn_core"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -- registration: called once per process, lazily, when a registry is first needed --


@hookspec
def snn_register_parsers() -> list[type[Parser]]:
    """Return the parser classes this plugin provides.

    Called once, when the parser registry is first needed.

    Returns
    -------
    list of Parser subclasses
        Each with a unique ``name`` (e.g. ``"keras"``), chosen by ``[model] parser``.
    """


@hookspec
def snn_register_codes() -> list[type[SpikeCode]]:
    """Return the spike code classes this plugin provides.

    Called once, when the code registry is first needed.

    Returns
    -------
    list of SpikeCode subclasses
        Each with a unique ``name`` (e.g. ``"temporal_mean_rate"``), chosen by ``[code] name``.
    """


@hookspec
def snn_register_datasets() -> list[type[DatasetReader]]:
    """Return the dataset reader classes this plugin provides.

    Called once, when the dataset registry is first needed.

    Returns
    -------
    list of DatasetReader subclasses
        Each with a unique ``name`` (e.g. ``"npz"``), chosen by ``[dataset] reader``.
    """


@hookspec
def snn_register_normalizers() -> list[type[Normalizer]]:
    """Return the normalizer classes this plugin provides.

    Called once, when the normalizer registry is first needed.

    Returns
    -------
    list of Normalizer subclasses
        Each with a unique ``name`` (e.g. ``"percentile"``), chosen by ``[normalize] method``.
    """


@hookspec
def snn_register_simulators() -> list[type[Simulator]]:
    """Return the simulator backend classes this plugin provides.

    Called once, when the simulator registry is first needed.

    Returns
    -------
    list of Simulator subclasses
        Each with a unique ``name`` (e.g. ``"ini"``), chosen by ``[simulator] name``.
    """


# -- questions: the first plugin with an answer wins --------------------------------


@hookspec(firstresult=True)
def snn_guess_parser(model_path: Path) -> str | None:
    """Name the parser that can read ``model_path``, or return None.

    Called by the pipeline when ``[model] parser`` is not given. Implementations should
    look at the suffix or the first bytes only (no heavy imports). The first non-None
    answer wins.

    Parameters
    ----------
    model_path
        The model file or folder named by ``[model] path``.
    """


# -- notifications: for reporters; return values are ignored -------------------------


@hookspec
def snn_run_started(experiment: Any, run_dir: Path) -> None:
    """Called once before the first stage of a run.

    Parameters
    ----------
    experiment
        The validated :class:`~snn_core.config.Experiment`.
    run_dir
        The run's output folder (already created).
    """


@hookspec
def snn_batch_done(batch_index: int, num_batches: int, samples_done: int, top1: float) -> None:
    """Called after the simulator finished each batch.

    Parameters
    ----------
    batch_index
        0-based index of the finished batch.
    num_batches
        Number of batches in the run.
    samples_done
        Samples simulated so far.
    top1
        Top-1 accuracy at the last time step over the samples done so far.
    """


@hookspec
def snn_run_finished(results: dict[str, Any], run_dir: Path) -> None:
    """Called once after ``results.json`` was written.

    Parameters
    ----------
    results
        The content of ``results.json``.
    run_dir
        The run's output folder.
    """
