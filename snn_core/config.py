"""The experiment file: TOML tables structured into frozen attrs classes.

The core owns the tables that steer the run (``[stages]``, ``[simulation]``, ``[cell]``,
``[convert]``, ``[output]``, ``[sweep]``). The plugin tables (``[model]``, ``[dataset]``,
``[normalize]``, ``[code]``, ``[simulator]``) hold one selector key (``parser``,
``reader``, ``method``, ``name``, ``name``) and, besides it, the chosen plugin's own
options, which the core structures into that plugin's ``Options`` class
(:func:`structure`) and hands to it alone.

Every value is checked against its field's type annotation and attrs validators, and an
error names the file, the table and the key, what was found and what is valid.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs
from attrs import validators as v

from snn_core.errors import ConfigError

#: Stage tables whose plugin is chosen by a selector key: table -> (plugin kind, key).
PLUGIN_TABLES: dict[str, tuple[str, str]] = {
    "model": ("parser", "parser"),
    "dataset": ("dataset", "reader"),
    "normalize": ("normalizer", "method"),
    "code": ("code", "name"),
    "simulator": ("simulator", "name"),
}

#: Keys of a plugin table that belong to the core, not to the plugin's options.
CORE_PLUGIN_KEYS: dict[str, frozenset[str]] = {
    "model": frozenset({"parser", "path", "parsed"}),
    "dataset": frozenset({"reader"}),
    "normalize": frozenset({"method"}),
    "code": frozenset({"name"}),
    "simulator": frozenset({"name"}),
}


@attrs.frozen
class Stages:
    """Which stages of the pipeline run (the reference's ``[tools]`` section)."""

    #: Test the input model and the parsed (and normalized) ANN on the test set.
    evaluate_ann: bool = True
    #: Parse the input model; when false, load the parsed network saved by an earlier run.
    parse: bool = True
    #: Scale weights by the activations on the normalization set.
    normalize: bool = True
    #: Build the spiking network for the simulator.
    convert: bool = True
    #: Run the spiking network on the test samples.
    simulate: bool = True
    #: Only write the converted network in the simulator's format and stop.
    serialise_only: bool = False


@attrs.frozen
class Simulation:
    """How the test samples are simulated; the same for every simulator."""

    #: Simulated time per sample, in ms.
    duration: float = attrs.field(default=200.0, validator=v.gt(0))
    #: Time step, in ms.
    dt: float = attrs.field(default=1.0, validator=v.gt(0))
    #: Samples simulated in parallel (where the simulator can).
    batch_size: int = attrs.field(default=1, validator=v.ge(1))
    #: How many test samples to run; 0 means all of them.
    num_to_test: int = attrs.field(default=0, validator=v.ge(0))
    #: Run exactly these sample indices (overrides ``num_to_test``).
    sample_idxs_to_test: tuple[int, ...] = ()
    #: Report top-k accuracy besides top-1.
    top_k: int = attrs.field(default=1, validator=v.ge(1))
    #: Reset the network state every n-th sample; 0 or a negative value: never reset.
    reset_between_nth_sample: int = 1
    #: Stop a batch early once every sample's output has settled (code-dependent).
    early_stopping: bool = False
    #: JSON file mapping layer index -> number of steps its membrane is clamped to zero.
    clamp_indices: Path | None = None
    #: Seed for every random number the run draws (Poisson input, sampling).
    seed: int = 0

    @property
    def num_steps(self) -> int:
        """Number of time steps: ``round(duration / dt)``."""
        return max(1, round(self.duration / self.dt))


#: Reset modes of integrate-and-fire neurons.
RESETS = ("subtract", "zero", "modulo")


@attrs.frozen
class Cell:
    """Standard neuron parameters (PyNN names and units); backends translate them.

    The INI simulator works in normalised units (``v_thresh`` = 1 by default); the
    physical ones (``cm``, ``tau_*``) matter for conductance- or current-based backends.
    """

    #: Firing threshold (mV).
    v_thresh: float = attrs.field(default=1.0, validator=v.gt(0))
    #: Potential after a spike with ``reset = "zero"`` (mV).
    v_reset: float = 0.0
    #: Resting potential (mV).
    v_rest: float = 0.0
    #: Membrane potential at the start of a sample (mV; PyNN's initial value of ``v``).
    #: Empty means half-way from ``v_rest`` to ``v_thresh``: a neuron's spike count then
    #: rounds its activation times the duration instead of truncating it, which halves the
    #: rate code's quantisation error (Bu et al. 2022). Set it to ``v_rest`` for the SNN
    #: Toolbox's behaviour.
    v_init: float | None = None
    #: Refractory period (ms).
    tau_refrac: float = attrs.field(default=0.0, validator=v.ge(0))
    #: What a spike does to the membrane: subtract the threshold, reset to v_reset, or modulo.
    reset: Literal["subtract", "zero", "modulo"] = "subtract"
    #: Membrane capacitance (nF).
    cm: float = attrs.field(default=1.0, validator=v.gt(0))
    #: Membrane time constant (ms).
    tau_m: float = attrs.field(default=1000.0, validator=v.gt(0))
    #: Excitatory synaptic time constant (ms).
    tau_syn_E: float = attrs.field(default=0.01, validator=v.gt(0))
    #: Inhibitory synaptic time constant (ms).
    tau_syn_I: float = attrs.field(default=0.01, validator=v.gt(0))
    #: Synaptic delay (ms).
    delay: float = attrs.field(default=0.0, validator=v.ge(0))
    #: Constant offset current (nA).
    i_offset: float = 0.0
    #: Leaky integration (with ``tau_m``) instead of perfect integration.
    leak: bool = False

    @property
    def initial_v(self) -> float:
        """The membrane potential at the start of a sample (``v_init`` resolved)."""
        if self.v_init is None:
            return self.v_rest + 0.5 * (self.v_thresh - self.v_rest)
        return self.v_init

    def requirements(self) -> frozenset[str]:
        """Simulator capabilities these settings need, e.g. ``reset:modulo``."""
        needs = {f"reset:{self.reset}"}
        if self.initial_v != self.v_rest:
            needs.add("cell:v_init")
        if self.tau_refrac > 0:
            needs.add("cell:refractory")
        if self.leak:
            needs.add("cell:leak")
        return frozenset(needs)


def fixed_point_format(value: bool | str | tuple[int, ...] | list[int]) -> tuple[int, int] | None:
    """``(m, f)`` of a ``[convert] quantize_weights`` value, or None when it is off.

    Raises
    ------
    ValueError
        For ``true`` or a malformed format (the message says what is valid).
    """
    import re

    if value is False:
        return None
    if isinstance(value, str):
        match = re.fullmatch(r"Q(\d+)\.(\d+)", value.strip())
        if match:
            return int(match.group(1)), int(match.group(2))
    elif isinstance(value, tuple | list) and len(value) == 2:
        m, f = value
        if isinstance(m, int) and isinstance(f, int) and m >= 0 and f >= 0:
            return m, f
    raise ValueError(
        f'quantize_weights must be false, a fixed-point format "Qm.f" (e.g. "Q2.6") or '
        f"[m, f] with non-negative integers; found {value!r}"
    )


@attrs.frozen
class Convert:
    """Changes made to the ANN when it becomes a spiking network."""

    #: Replace a softmax output by ReLU (the spiking softmax is an approximation).
    softmax_to_relu: bool = False
    #: Replace max pooling by average pooling.
    max2avg_pool: bool = False
    #: Replace each layer's weights by ``sign(w) * mean(|w|)`` of that layer (one
    #: magnitude per layer, so the normalisation stays valid); biases are kept.
    binarize_weights: bool = False
    #: Round weights and biases to signed fixed point ``Qm.f`` (``m`` integer bits, ``f``
    #: fraction bits: steps of ``2**-f`` in ``[-2**m, 2**m - 2**-f]``), given as
    #: ``"Qm.f"`` or ``[m, f]``; ``false``: keep float32.
    quantize_weights: bool | str | tuple[int, ...] = attrs.field(
        default=False, validator=lambda inst, att, val: fixed_point_format(val)
    )


@attrs.frozen
class Output:
    """Where and what a run writes."""

    #: Output folder; ``{runlabel}`` is replaced. Relative to the experiment file.
    dir: str = "runs/{runlabel}"
    #: Label of this experiment, used in ``dir`` and plot titles.
    runlabel: str = "test"
    #: Replace an existing output folder; if false a new numbered folder is made instead.
    overwrite: bool = False
    #: Variables to record and save (reference names, e.g. ``spiketrains_n_b_l_t``).
    log_vars: tuple[str, ...] = ()
    #: Plots to draw (``error_t``, ``operations``, ...).
    plot_vars: tuple[str, ...] = ("error_t",)
    #: 0: quiet; 1: progress and summary; 2: also per-step accuracy.
    verbose: int = attrs.field(default=1, validator=v.in_((0, 1, 2)))
    #: matplotlib rcParams applied to every plot.
    plotproperties: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Sweep:
    """Repeat the run for each value of one setting."""

    #: Dotted key of the setting to vary, e.g. ``cell.v_thresh``; empty: no sweep.
    param: str = ""
    values: tuple[Any, ...] = ()
    #: Plot accuracy against the values on a log scale.
    logscale: bool = False


@attrs.frozen
class PluginTable:
    """A plugin table as written: the chosen plugin's name and its raw options."""

    table: str
    name: str | None
    options: Mapping[str, Any]


@attrs.frozen
class Model:
    """The ``[model]`` table: the input model, the parser and where the parsed IR goes."""

    path: Path | None
    parser: PluginTable
    #: The parsed network file; written when parsing, read when ``parse = false``.
    parsed: Path | None


@attrs.frozen
class Experiment:
    """A whole experiment file, validated."""

    source: Path | None
    model: Model
    dataset: PluginTable
    normalize: PluginTable
    code: PluginTable
    simulator: PluginTable
    stages: Stages = Stages()
    simulation: Simulation = Simulation()
    cell: Cell = Cell()
    convert: Convert = Convert()
    output: Output = Output()
    sweep: Sweep = Sweep()
    #: The document as read (with sweep values applied), for the run folder.
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False)

    def plugin_tables(self) -> dict[str, PluginTable]:
        """The plugin tables by table name."""
        return {
            "model": self.model.parser,
            "dataset": self.dataset,
            "normalize": self.normalize,
            "code": self.code,
            "simulator": self.simulator,
        }


CORE_TABLES: dict[str, type] = {
    "stages": Stages,
    "simulation": Simulation,
    "cell": Cell,
    "convert": Convert,
    "output": Output,
    "sweep": Sweep,
}

#: Default plugin of each plugin table.
DEFAULT_PLUGINS = {
    "dataset": "npz",
    "normalize": "percentile",
    "code": "temporal_mean_rate",
    "simulator": "ini",
}


# -- loading -----------------------------------------------------------------------------


def load_experiment(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Experiment:
    """Read and validate an experiment file.

    Parameters
    ----------
    path
        The TOML file. Relative paths inside it are resolved against its folder.
    overrides
        Dotted keys to set after reading, e.g. ``{"cell.v_thresh": 0.5}`` (used by sweeps
        and by ``snn run --set``).

    Raises
    ------
    ConfigError
        If the file is missing, not TOML, or any table, key or value is invalid.
    """
    import tomli

    path = Path(path).absolute()  # so that paths inside resolve the same from any cwd
    if not path.is_file():
        raise ConfigError(f"{path}: no such experiment file")
    try:
        with path.open("rb") as fh:
            doc = tomli.load(fh)
    except tomli.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return experiment_from_dict(doc, source=path, overrides=overrides)


def set_dotted(doc: dict[str, Any], key: str, value: Any, where: str = "") -> dict[str, Any]:
    """Return a copy of ``doc`` with ``table.key`` set to ``value``."""
    table, _, name = key.partition(".")
    if not name:
        raise ConfigError(f"{where}{key!r} must be written as table.key, e.g. cell.v_thresh")
    new = {k: dict(t) if isinstance(t, dict) else t for k, t in doc.items()}
    new.setdefault(table, {})[name] = value
    return new


def experiment_from_dict(
    doc: Mapping[str, Any],
    source: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Experiment:
    """Validate a parsed TOML document (see :func:`load_experiment`)."""
    where = f"{source}: " if source else ""
    doc = dict(doc)
    for key, value in (overrides or {}).items():
        doc = set_dotted(doc, key, value, where)
    known = set(CORE_TABLES) | set(PLUGIN_TABLES)
    for table, body in doc.items():
        if table not in known:
            raise ConfigError(f"{where}unknown table [{table}]{_suggest(table, known)}")
        if not isinstance(body, dict):
            raise ConfigError(f"{where}[{table}] must be a table, found {body!r}")
    base = source.parent if source else Path.cwd()
    core = {
        name: structure(cls, doc.get(name, {}), where=f"{where}[{name}]", base=base)
        for name, cls in CORE_TABLES.items()
    }
    tables = {}
    for table, (_kind, key) in PLUGIN_TABLES.items():
        body = dict(doc.get(table, {}))
        selector = body.pop(key, DEFAULT_PLUGINS.get(table))
        if selector is not None and not isinstance(selector, str):
            raise ConfigError(
                f"{where}[{table}] {key}: expected a plugin name (string), found {selector!r}"
            )
        for core_key in CORE_PLUGIN_KEYS[table] - {key}:
            body.pop(core_key, None)
        tables[table] = PluginTable(table=table, name=selector, options=body)
    model_doc = doc.get("model", {})
    model_path = _path(model_doc.get("path"), base, f"{where}[model] path")
    parsed = _path(model_doc.get("parsed"), base, f"{where}[model] parsed")
    if parsed is None and model_path is not None:
        parsed = model_path.with_name(model_path.stem + "_parsed.h5")
    stages: Stages = core["stages"]
    if model_path is None and (stages.parse or parsed is None):
        raise ConfigError(
            f"{where}[model] path is required (the trained ANN to convert, e.g. "
            '"lenet.keras"), unless parse = false and [model] parsed names a parsed network'
        )
    if model_path is not None and stages.parse and not model_path.exists():
        raise ConfigError(f"{where}[model] path: {model_path} does not exist")
    if not stages.parse and not parsed.is_file():  # type: ignore[union-attr]
        raise ConfigError(
            f"{where}[stages] parse = false, but the parsed network {parsed} does not exist; "
            "run once with parse = true or set [model] parsed"
        )
    sweep: Sweep = core["sweep"]
    if sweep.param and not sweep.values:
        raise ConfigError(f"{where}[sweep] param = {sweep.param!r} needs a non-empty values list")
    return Experiment(
        source=source,
        model=Model(path=model_path, parser=tables["model"], parsed=parsed),
        dataset=tables["dataset"],
        normalize=tables["normalize"],
        code=tables["code"],
        simulator=tables["simulator"],
        raw=doc,
        **core,
    )


def _path(value: Any, base: Path, where: str) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a path (string), found {value!r}")
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def _suggest(word: str, choices: Any) -> str:
    match = difflib.get_close_matches(word, sorted(choices), n=1)
    return f"; did you mean {match[0]!r}?" if match else f"; valid: {', '.join(sorted(choices))}"


# -- structuring -------------------------------------------------------------------------


def structure(cls: type, table: Mapping[str, Any], where: str, base: Path | None = None) -> Any:
    """Build the attrs class ``cls`` from a TOML table, checking every key and value.

    Parameters
    ----------
    cls
        A (frozen) attrs class whose fields carry type annotations and validators.
    table
        The TOML table.
    where
        Prefix for error messages, e.g. ``"exp.toml: [simulator]"``.
    base
        Folder against which relative ``Path`` values are resolved.

    Raises
    ------
    ConfigError
        For an unknown key (with the closest valid one), a value of the wrong type, or
        one a field validator rejects.
    """
    attrs.resolve_types(cls)
    fields = {f.name: f for f in attrs.fields(cls) if f.init}
    unknown = set(table) - set(fields)
    if unknown:
        key = sorted(unknown)[0]
        valid = sorted(fields) or ["(this table takes no keys)"]
        raise ConfigError(f"{where} unknown key {key!r}{_suggest(key, valid)}")
    kwargs = {}
    for name, value in table.items():
        field = fields[name]
        value = _coerce(value, field.type, f"{where} {name}", base)
        if field.converter is not None:
            value = field.converter(value)
        if field.validator is not None:
            try:
                field.validator(None, field, value)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{where} {name}: {_validator_message(exc, value)}") from None
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _validator_message(exc: Exception, value: Any) -> str:
    msg = str(exc.args[0]) if exc.args else str(exc)
    return msg if str(value) in msg else f"{msg} (found {value!r})"


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp) if a is not type(None))
    if origin is tuple:
        return f"a list of {_describe(typing.get_args(tp)[0])}"
    if origin in (dict, Mapping):
        return "a table"
    return {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        Path: "a path (string)",
    }.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(value: Any, tp: Any, where: str, base: Path | None) -> Any:
    """Check ``value`` against annotation ``tp``; return it converted (list->tuple, str->Path)."""
    origin = typing.get_origin(tp)
    bad = ConfigError(f"{where}: expected {_describe(tp)}, found {value!r}")
    if tp is Any:
        return value
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{where}: expected {_describe(tp)}, found {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where, base)
            except ConfigError:
                continue
        raise bad
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise bad
        args = typing.get_args(tp)
        item = args[0] if args else Any
        return tuple(_coerce(x, item, f"{where}[{i}]", base) for i, x in enumerate(value))
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, dict):
            raise bad
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    if tp is Path:
        if not isinstance(value, str):
            raise bad
        p = Path(value).expanduser()
        return p if p.is_absolute() or base is None else base / p
    return value


def to_toml(doc: Mapping[str, Any]) -> str:
    """Write a document of tables as TOML (the subset we produce: scalars, lists, tables)."""
    lines: list[str] = []
    for table, body in doc.items():
        lines.append(f"[{table}]")
        for key, value in body.items():
            lines.append(f"{key} = {toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def toml_value(value: Any) -> str:
    """One value in TOML syntax."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        s = str(value).replace("\\", "\\\\").replace('"', '\\"')
        return f'"{s}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {toml_value(x)}" for k, x in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else toml_value(key)
