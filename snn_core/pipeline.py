"""The orchestration: dataset -> parse -> (evaluate ANN) -> normalize -> convert -> simulate
-> report.

The pipeline knows the plugin kinds, never a particular plugin: every step calls the
class the registry returns for the name in the experiment file.
"""

from __future__ import annotations

import datetime as _dt
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from snn_core import __version__
from snn_core.config import (
    Experiment,
    PluginTable,
    experiment_from_dict,
    structure,
    to_toml,
)
from snn_core.errors import CapabilityError, ConfigError, DatasetError
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
from snn_core.network import Network
from snn_core.operations import ann_macs, energy
from snn_core.plugins import Registry, Source, get_registry
from snn_core.results import (
    SCHEMA,
    AccuracyCounter,
    ann_accuracy,
    plot_error_t,
    plot_operations,
    plot_sweep,
    write_json,
)
from snn_core.transforms import apply_conversion


@attrs.define
class Plugins:
    """The plugin instances an experiment uses (None where its stage is off)."""

    dataset: DatasetReader | None = None
    parser: Parser | None = None
    normalizer: Normalizer | None = None
    code: SpikeCode | None = None
    simulator: Simulator | None = None
    sources: dict[str, Source] = attrs.field(factory=dict)

    def versions(self) -> dict[str, str]:
        """Distribution -> version of every plugin in use, plus snn-core."""
        found = {"snn-core": __version__}
        found.update({s.distribution: s.version for s in self.sources.values()})
        return found


def _where(exp: Experiment, table: str) -> str:
    return f"{exp.source}: [{table}]" if exp.source else f"[{table}]"


def _instantiate(
    registry: Registry, exp: Experiment, table: PluginTable, kind: str, plugins: Plugins
) -> Plugin:
    if table.name is None:
        raise ConfigError(f"{_where(exp, table.table)} names no {kind}")
    cls = registry.get(kind, table.name)
    base = exp.source.parent if exp.source else Path.cwd()
    options = structure(
        cls.Options,
        table.options,
        where=f"{_where(exp, table.table)} ({kind} {table.name!r})",
        base=base,
    )
    plugins.sources[kind] = registry.source(kind, table.name)
    return cls(options)


def bind(experiment: Experiment, registry: Registry | None = None) -> Plugins:
    """Find and configure the plugins the experiment's enabled stages need.

    Checks, before any work is done, that each plugin exists and loads, that its options
    are valid, and that the simulator offers every capability the code and the cell
    settings need.

    Raises
    ------
    ConfigError, UnknownPluginError, BrokenPluginError, CapabilityError
    """
    registry = registry or get_registry()
    exp, st = experiment, experiment.stages
    plugins = Plugins()
    needs_data = st.evaluate_ann or st.normalize or (st.simulate and not st.serialise_only)
    if needs_data:
        plugins.dataset = _instantiate(registry, exp, exp.dataset, "dataset", plugins)  # type: ignore[assignment]
    if st.parse or (st.evaluate_ann and exp.model.path is not None):
        table = exp.model.parser
        if table.name is None:
            guess = registry.hook.snn_guess_parser(model_path=exp.model.path)
            if guess is None:
                names = ", ".join(sorted(registry.classes("parser"))) or "none installed"
                raise ConfigError(
                    f"{_where(exp, 'model')} no installed parser recognises {exp.model.path}; "
                    f"set parser = one of: {names}"
                )
            table = attrs.evolve(table, name=guess)
        plugins.parser = _instantiate(registry, exp, table, "parser", plugins)  # type: ignore[assignment]
    if st.normalize:
        plugins.normalizer = _instantiate(registry, exp, exp.normalize, "normalizer", plugins)  # type: ignore[assignment]
    if st.convert or st.simulate:
        plugins.code = _instantiate(registry, exp, exp.code, "code", plugins)  # type: ignore[assignment]
        plugins.simulator = _instantiate(registry, exp, exp.simulator, "simulator", plugins)  # type: ignore[assignment]
        check_capabilities(exp, plugins.code, plugins.simulator)  # type: ignore[arg-type]
    return plugins


class FrameFedCode(SpikeCode):
    """The experiment's code with its input replaced by a temporal data set's frames.

    A temporal data set (event-camera recordings) decides the input spikes itself, so
    the simulator must offer ``input:frames`` instead of the code's own input encoding;
    the code still decides the neurons and the readout.
    """

    def __init__(self, code: SpikeCode) -> None:
        super().__init__(code.options)
        self.code = code
        self.name = code.name  # type: ignore[misc]

    def spec(self) -> CodeSpec:
        return attrs.evolve(self.code.spec(), input_encoding="frames")


def check_capabilities(exp: Experiment, code: SpikeCode, simulator: Simulator) -> None:
    """Raise :class:`CapabilityError` naming what ``simulator`` lacks for this experiment."""
    wanted = {cap: f"code {code.name!r}" for cap in code.spec().requires}
    wanted.update({cap: "[cell] settings" for cap in exp.cell.requirements()})
    if exp.simulation.batch_size > 1:
        wanted["batch"] = "[simulation] batch_size > 1"
    missing = sorted(cap for cap in wanted if cap not in simulator.capabilities)
    if missing:
        detail = "; ".join(f"{cap} (needed by {wanted[cap]})" for cap in missing)
        raise CapabilityError(
            f"{_where(exp, 'simulator')} simulator {simulator.name!r} cannot run this "
            f"experiment: it lacks {detail}. It offers: "
            f"{', '.join(sorted(simulator.capabilities))}"
        )


def check_layers(network: Network, simulator: Simulator, exp: Experiment) -> None:
    """Raise :class:`CapabilityError` if the network has layers the simulator cannot run."""
    bad = [lay for lay in network if lay.kind not in simulator.layer_kinds]
    if bad:
        names = ", ".join(f"{lay.name} ({lay.kind})" for lay in bad)
        raise CapabilityError(
            f"{_where(exp, 'simulator')} simulator {simulator.name!r} cannot simulate layers "
            f"{names}; it supports {', '.join(sorted(simulator.layer_kinds))}"
        )


# -- output folder ------------------------------------------------------------------


def make_run_dir(exp: Experiment) -> tuple[Path, str | None]:
    """Create the run's output folder; return it and a note if it differs from the one
    asked for. An existing non-empty folder is replaced only with ``overwrite = true``;
    otherwise the next free ``<dir>-N`` is used, so no earlier result is lost."""
    out = exp.output
    try:
        name = out.dir.format(runlabel=out.runlabel)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"{_where(exp, 'output')} dir {out.dir!r}: only {{runlabel}} may be substituted ({exc})"
        ) from None
    base = Path(name).expanduser()
    if not base.is_absolute():
        base = (exp.source.parent if exp.source else Path.cwd()) / base
    if not base.exists() or (base.is_dir() and not any(base.iterdir())):
        base.mkdir(parents=True, exist_ok=True)
        return base, None
    if out.overwrite:
        if base.is_dir():
            shutil.rmtree(base)
        else:
            base.unlink()
        base.mkdir(parents=True)
        return base, f"replaced the earlier results in {base} ([output] overwrite = true)"
    for i in count(2):
        candidate = base.with_name(f"{base.name}-{i}")
        if not candidate.exists():
            candidate.mkdir(parents=True)
            return candidate, f"{base} holds an earlier run; writing to {candidate} instead"
    raise AssertionError("unreachable")


def resolved_document(exp: Experiment, plugins: Plugins) -> dict[str, Any]:
    """The experiment with every default filled in, as TOML tables."""

    def clean(d: dict[str, Any]) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items() if v is not None}

    doc: dict[str, Any] = {}
    model: dict[str, Any] = {"path": exp.model.path, "parsed": exp.model.parsed}
    if plugins.parser is not None:
        model["parser"] = plugins.parser.name
        model.update(attrs.asdict(plugins.parser.options))
    doc["model"] = clean(model)
    for table, kind, key in (
        ("dataset", "dataset", "reader"),
        ("normalize", "normalizer", "method"),
        ("code", "code", "name"),
        ("simulator", "simulator", "name"),
    ):
        plugin = getattr(plugins, kind)
        if plugin is not None:
            doc[table] = clean({key: plugin.name, **attrs.asdict(plugin.options)})
    for table in ("stages", "simulation", "cell", "convert", "output", "sweep"):
        doc[table] = clean(attrs.asdict(getattr(exp, table)))
    return doc


# -- the run --------------------------------------------------------------------------


class _Progress:
    """tqdm over samples, honouring ``[output] verbose``."""

    def __init__(self, total: int, verbose: int, desc: str) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=total,
            desc=desc,
            unit="sample",
            disable=verbose == 0,
            file=sys.stderr,
            dynamic_ncols=True,
        )

    def update(self, n: int, **postfix: Any) -> None:
        self.bar.update(n)
        if postfix:
            self.bar.set_postfix(postfix, refresh=False)

    def close(self) -> None:
        self.bar.close()


def _log(exp: Experiment, message: str) -> None:
    if exp.output.verbose:
        print(message, file=sys.stderr)


def _test_indices(exp: Experiment, dataset: Dataset) -> np.ndarray:
    sim, n = exp.simulation, dataset.num_samples
    if sim.sample_idxs_to_test:
        idx = np.asarray(sim.sample_idxs_to_test, dtype=np.int64)
        bad = idx[(idx < 0) | (idx >= n)]
        if bad.size:
            raise ConfigError(
                f"{_where(exp, 'simulation')} sample_idxs_to_test: index {int(bad[0])} is out "
                f"of range; the test set has {n} samples (0..{n - 1})"
            )
        return idx
    if sim.num_to_test > n:
        raise ConfigError(
            f"{_where(exp, 'simulation')} num_to_test = {sim.num_to_test}, but the test set "
            f"has only {n} samples; use 0 for all of them"
        )
    return np.arange(sim.num_to_test or n, dtype=np.int64)


def _check_shape(exp: Experiment, dataset: Dataset, network: Network) -> None:
    if tuple(dataset.sample_shape) != tuple(network.input.shape):
        raise DatasetError(
            f"{_where(exp, 'dataset')} samples have shape {tuple(dataset.sample_shape)} but the "
            f"network's input {network.input.name!r} expects {tuple(network.input.shape)} "
            "(channels last; set channels_first = true for NCHW data if the reader has it)"
        )


def _ann_input(
    dataset: Dataset, predict: Callable[[np.ndarray], np.ndarray]
) -> Callable[[np.ndarray], np.ndarray]:
    """``predict`` on what the ANN sees: accumulated frames for a temporal data set."""
    if not dataset.temporal:
        return predict
    return lambda x: predict(dataset.accumulate(x))


def _predict_all(
    predict: Callable[[np.ndarray], np.ndarray],
    batches: Iterator[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    outs, labels = [], []
    for x, y in batches:
        outs.append(np.asarray(predict(x)))
        labels.append(np.asarray(y))
    return np.concatenate(outs), np.concatenate(labels)


class Run:
    """One run of an experiment into one output folder; :meth:`execute` does the work.

    Results are saved after every stage, so a failure late in the run keeps what the
    earlier stages measured (``status`` tells how far it got).
    """

    def __init__(self, exp: Experiment, run_dir: Path, registry: Registry) -> None:
        self.exp = exp
        self.run_dir = run_dir
        self.registry = registry
        self.results: dict[str, Any] = {
            "schema": SCHEMA,
            "status": "running",
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "experiment": str(exp.source) if exp.source else None,
            "runlabel": exp.output.runlabel,
            "run_dir": str(run_dir),
            "timing": {},
        }

    def save(self) -> None:
        write_json(self.run_dir / "results.json", self.results)

    def execute(self) -> dict[str, Any]:
        """Run every enabled stage; return the content of ``results.json``."""
        try:
            self._execute()
        except BaseException as exc:
            self.results["status"] = "failed"
            self.results["error"] = f"{type(exc).__name__}: {exc}"
            self.save()
            raise
        self.results["status"] = "finished"
        self.save()
        self._plots()
        self.registry.hook.snn_run_finished(results=self.results, run_dir=self.run_dir)
        return self.results

    def _timed(self, key: str, start: float) -> None:
        self.results["timing"][key] = round(time.perf_counter() - start, 4)

    def _execute(self) -> None:
        exp, st, reg = self.exp, self.exp.stages, self.registry
        plugins = bind(exp, reg)
        self.results["plugins"] = plugins.versions()
        (self.run_dir / "experiment.toml").write_text(
            f"# resolved experiment (every default filled in) of {exp.source}\n"
            + to_toml(resolved_document(exp, plugins))
        )
        if plugins.simulator is not None:  # before any stage starts a framework
            plugins.simulator.configure_process(exp.simulation)
        reg.hook.snn_run_started(experiment=exp, run_dir=self.run_dir)
        self.save()

        dataset = None
        if plugins.dataset is not None:
            t0 = time.perf_counter()
            dataset = plugins.dataset.open(exp.source.parent if exp.source else Path.cwd())
            self._timed("dataset_s", t0)

        t0 = time.perf_counter()
        if st.parse:
            assert plugins.parser is not None and exp.model.path is not None
            _log(exp, f"parsing {exp.model.path} with the {plugins.parser.name} parser")
            network = plugins.parser.parse(exp.model.path)
            assert exp.model.parsed is not None
            network.save(exp.model.parsed)
        else:
            assert exp.model.parsed is not None
            _log(exp, f"loading the parsed network {exp.model.parsed}")
            network = Network.load(exp.model.parsed)
        self._timed("parse_s", t0)
        self.results["network"] = {
            "layers": len(network),
            "neurons": int(sum(lay.num_neurons for lay in network if lay.spiking)),
            "parsed_file": str(exp.model.parsed),
        }
        macs = ann_macs(network)
        self.results["operations"] = {
            "ann_macs_per_sample": int(sum(macs.values())),
            "ann_macs_per_layer": macs,
        }
        if dataset is not None:
            _check_shape(exp, dataset, network)
        indices = _test_indices(exp, dataset) if dataset is not None else np.arange(0)
        self.results["samples"] = len(indices)
        bs = exp.simulation.batch_size
        k = exp.simulation.top_k

        if st.evaluate_ann and dataset is not None and plugins.parser is not None and st.parse:
            predictor = plugins.parser.predictor(exp.model.path)  # type: ignore[arg-type]
            if predictor is not None:
                t0 = time.perf_counter()
                out, y = _predict_all(
                    _ann_input(dataset, predictor), dataset.test_batches(indices, max(bs, 64))
                )
                self.results["ann_input_model"] = ann_accuracy(out, y, k)
                self._timed("evaluate_input_model_s", t0)
                _log(exp, f"input model: top-1 {self.results['ann_input_model']['top1']:.4f}")
                self.save()

        if st.normalize:
            assert plugins.normalizer is not None and dataset is not None
            if dataset.norm_batches(bs) is None:
                raise DatasetError(
                    f"{_where(exp, 'dataset')} normalization is on ([stages] normalize = true) "
                    "but the data set has no normalization samples (for npz: x_norm.npz); add "
                    "them or set normalize = false"
                )
            t0 = time.perf_counter()
            nbs = max(bs, 128)
            network = plugins.normalizer.normalize(
                network,
                lambda: dataset.norm_batches(nbs),  # type: ignore[arg-type, return-value, union-attr]
                cache_dir=(exp.model.parsed or self.run_dir).parent / ".snn-cache",
            )
            self._timed("normalize_s", t0)

        network = apply_conversion(network, exp.convert)
        network.save(self.run_dir / "network.h5")

        if st.evaluate_ann and dataset is not None:
            from snn_core.ann import predict

            t0 = time.perf_counter()
            out, y = _predict_all(
                _ann_input(dataset, lambda x: predict(network, x)),
                dataset.test_batches(indices, max(bs, 64)),
            )
            self.results["ann"] = ann_accuracy(out, y, k)
            self._timed("evaluate_ann_s", t0)
            _log(exp, f"parsed ANN (as converted): top-1 {self.results['ann']['top1']:.4f}")
            self.save()

        if not (st.convert or st.simulate):
            return
        sim, code = plugins.simulator, plugins.code
        assert sim is not None and code is not None
        check_layers(network, sim, exp)
        if dataset is not None and dataset.temporal:
            code = FrameFedCode(code)
            check_capabilities(exp, code, sim)
        t0 = time.perf_counter()
        sim.prepare(network, code, exp.cell, exp.simulation)
        self._timed("convert_s", t0)
        runtime = sim.runtime()
        if runtime:
            self.results["simulator_runtime"] = runtime
            _log(exp, f"{sim.name} simulator: " + ", ".join(f"{k} {v}" for k, v in runtime.items()))
        if st.serialise_only:
            files = sim.export(self.run_dir)
            self.results["exported"] = [str(f) for f in files]
            return
        if not st.simulate:
            return
        assert dataset is not None
        self._simulate(sim, dataset, indices)
        sim.close()
        dataset.close()

    def _simulate(self, sim: Simulator, dataset: Dataset, indices: np.ndarray) -> None:
        exp, reg = self.exp, self.registry
        bs = exp.simulation.batch_size
        counter = AccuracyCounter(exp.simulation.top_k)
        ops_total: np.ndarray | None = None
        stats: dict[str, Any] = {}
        records: dict[str, list[np.ndarray]] = {}
        num_batches = -(-len(indices) // bs)
        progress = _Progress(len(indices), exp.output.verbose, f"simulating ({sim.name})")
        t0 = time.perf_counter()
        done = 0
        try:
            for b, (x, y) in enumerate(dataset.test_batches(indices, bs)):
                out = sim.run_batch(np.asarray(x, np.float32), indices[done : done + len(x)])
                counter.add(np.asarray(out.scores), y, np.asarray(out.timesteps))
                if out.synaptic_ops is not None:
                    ops = np.asarray(out.synaptic_ops, np.float64) * len(x)
                    ops_total = ops if ops_total is None else ops_total + ops
                _add_op_stats(stats, out)
                for name, arr in out.records.items():
                    if name in exp.output.log_vars or "all" in exp.output.log_vars:
                        records.setdefault(name, []).append(np.asarray(arr))
                done += len(x)
                progress.update(len(x), top1=f"{counter.final_top1:.4f}")
                reg.hook.snn_batch_done(
                    batch_index=b,
                    num_batches=num_batches,
                    samples_done=done,
                    top1=counter.final_top1,
                )
        finally:
            progress.close()
        self.results["timing"]["simulate_s"] = round(time.perf_counter() - t0, 4)
        self.results["snn"] = counter.as_dict()
        if ops_total is not None and done:
            self.results["operations"]["snn_synaptic_ops_per_sample"] = (ops_total / done).tolist()
        if done:
            self.results["operations"].update(
                operations_block(self.results, stats, done, exp.simulation.dt)
            )
        if records:
            np.savez_compressed(
                self.run_dir / "log_vars.npz",
                **{k: np.concatenate(v) for k, v in records.items()},
            )
        snn = self.results["snn"]
        if snn["top1"]:
            msg = f"SNN top-1 {snn['top1'][-1]:.4f} at t = {snn['timesteps'][-1]:g} ms"
            if "ann" in self.results:
                msg += f" (ANN {self.results['ann']['top1']:.4f})"
            _log(exp, msg + f" on {done} samples")

    def _plots(self) -> None:
        out = self.exp.output
        rc = out.plotproperties
        wanted = set(out.plot_vars)
        every = "all" in wanted
        if (every or "error_t" in wanted) and self.results.get("snn", {}).get("top1"):
            plot_error_t(self.results, self.run_dir / "error_t.png", out.runlabel, rc)
        if every or "operations" in wanted:
            plot_operations(self.results, self.run_dir / "operations.png", rc)


def _add_op_stats(stats: dict[str, Any], out: BatchOutput) -> None:
    """Sum a batch's per-sample operation counts (see :func:`operations_block`)."""
    found = {"neuron_ops": out.neuron_ops, "steps_used": out.steps_used}
    found.update({f"synaptic_ops_layer:{k}": v for k, v in out.synaptic_ops_per_layer.items()})
    for name, arr in found.items():
        if arr is not None:
            total = np.asarray(arr, np.float64).sum(axis=0)
            stats[name] = total if name not in stats else stats[name] + total


def operations_block(
    results: dict[str, Any], stats: dict[str, Any], samples: int, dt: float
) -> dict[str, Any]:
    """The SNN's part of the ``operations`` block of ``results.json``.

    ``snn_neuron_ops_per_sample`` (cumulative per reported step, where the simulator
    counts them), ``snn_synaptic_ops_per_layer`` (whole sample, by the layer whose
    spikes cause them), ``steps_used_per_sample`` (mean steps until the readout settled),
    and ``energy``: joules per sample of the ANN and, per reported step, of the SNN,
    with the constants and their source (:func:`snn_core.operations.energy`), plus
    ``top1_per_uj`` of both, so the step where the SNN's accuracy per energy falls below
    the ANN's can be read off.
    """
    ops = results["operations"]
    out: dict[str, Any] = {}
    neuron = stats.get("neuron_ops")
    if neuron is not None:
        out["snn_neuron_ops_per_sample"] = (neuron / samples).tolist()
    layers = {
        k.split(":", 1)[1]: float(v) / samples
        for k, v in stats.items()
        if k.startswith("synaptic_ops_layer:")
    }
    if layers:
        out["snn_synaptic_ops_per_layer"] = layers
    if "steps_used" in stats:
        out["steps_used_per_sample"] = float(stats["steps_used"]) / samples
        out["time_used_ms_per_sample"] = out["steps_used_per_sample"] * dt
    syn = ops.get("snn_synaptic_ops_per_sample")
    if syn is not None:
        e = energy(ops["ann_macs_per_sample"], syn, out.get("snn_neuron_ops_per_sample"))
        ann_top1 = results.get("ann", {}).get("top1")
        snn_top1 = results.get("snn", {}).get("top1") or []
        if ann_top1 is not None and e["ann_j_per_sample"] > 0:
            e["ann_top1_per_uj"] = ann_top1 / (e["ann_j_per_sample"] * 1e6)
        if len(snn_top1) == len(e["snn_j_per_sample"]):
            e["snn_top1_per_uj"] = [
                a / (j * 1e6) if j > 0 else None
                for a, j in zip(snn_top1, e["snn_j_per_sample"], strict=True)
            ]
        out["energy"] = e
    return out


def run_experiment(experiment: Experiment, registry: Registry | None = None) -> dict[str, Any]:
    """Run an experiment (every value of its sweep, if any) and return its results.

    A sweep writes one sub-folder per value and a ``sweep.json`` with the final accuracy
    of each.
    """
    registry = registry or get_registry()
    sweep = experiment.sweep
    # Validate every variant and its plugins before creating any folder.
    subs = (
        [
            experiment_from_dict(
                experiment.raw, source=experiment.source, overrides={sweep.param: value}
            )
            for value in sweep.values
        ]
        if sweep.param
        else [experiment]
    )
    for sub in subs:
        bind(sub, registry)
    run_dir, note = make_run_dir(experiment)
    if note:
        _log(experiment, note)
    if not sweep.param:
        results = Run(experiment, run_dir, registry).execute()
        _log(experiment, f"results: {run_dir / 'results.json'}")
        return results
    rows = []
    summary: dict[str, Any] = {}
    for value, sub in zip(sweep.values, subs, strict=True):
        sub_dir = run_dir / f"{sweep.param}={value}"
        sub_dir.mkdir()
        _log(experiment, f"sweep: {sweep.param} = {value}")
        res = Run(sub, sub_dir, registry).execute()
        top1 = res.get("snn", {}).get("top1") or [float("nan")]
        rows.append({"value": value, "top1": top1[-1], "run_dir": str(sub_dir)})
        summary = {"schema": SCHEMA, "param": sweep.param, "runs": rows}
        write_json(run_dir / "sweep.json", summary)
    plot_sweep(
        sweep.param,
        [r["value"] for r in rows],
        [r["top1"] for r in rows],
        run_dir / "sweep.png",
        sweep.logscale,
    )
    _log(experiment, f"results: {run_dir / 'sweep.json'}")
    return summary
