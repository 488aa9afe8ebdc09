"""``snn config import``: turn an SNN Toolbox settings file (INI) into an experiment TOML.

The translation is driven by one table of data, :data:`SETTINGS`: for every setting the
SNN Toolbox knows (its documented settings and every key of its default settings file),
the INI section it lives in, the type of its value, its default there, and either our
dotted key (``"simulation.duration"``) or the reason it has no counterpart. The few
settings that combine into one of ours (``path_wd`` + ``filename_ann`` -> ``[model]
path``; the parameter sweep) are handled by name in :func:`import_ini`.

Values are read as Python literals with :func:`ast.literal_eval` (never ``eval``),
falling back to the raw string. Keys the INI does not set are left out, so that our
defaults apply, except where the SNN Toolbox's default behaves differently from ours:
then its value is written explicitly, with a comment saying so.
"""

from __future__ import annotations

import ast
import configparser
import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from snn_core.config import Output, Simulation, toml_value
from snn_core.errors import ConfigError

# -- the mapping table -------------------------------------------------------------------


@attrs.frozen
class Setting:
    """One SNN Toolbox setting and where it goes in an experiment file."""

    #: The SNN Toolbox's name (the INI key).
    name: str
    #: The INI section the SNN Toolbox reads it from.
    section: str
    #: Expected value: bool, int, float, str, path, list, set, dict, tuple.
    kind: str
    #: The SNN Toolbox's default, as written in its default settings file.
    default: str
    #: Our dotted key (``table.key``), or None when there is no counterpart.
    target: str | None = None
    #: Without a target: ``"not applicable: <why>"`` or ``"not yet implemented: planned
    #: as <key>"``. With one: a remark for the documentation.
    note: str = ""
    #: Only meaningful when the plugin selected by this table has this name, e.g.
    #: ``("code", "temporal_mean_rate")``; otherwise a not-applicable comment.
    when: tuple[str, str] | None = None
    #: Name of the value map in :data:`VALUE_MAPS` that translates the value.
    values: str | None = None
    #: Why the SNN Toolbox's default must be written out when the INI does not set it
    #: (it behaves differently from ours); empty: our default is equivalent.
    explicit: str = ""
    #: Translated by dedicated code in :func:`import_ini` (paths, sweep, model library).
    special: bool = False


_NA_PLANNED = "not yet implemented: planned as "

# fmt: off
_SETTINGS_LIST: tuple[Setting, ...] = (
    # [paths]
    Setting("path_wd", "paths", "path", "", special=True,
            note="base folder of the relative paths below; folded into [model] path etc."),
    Setting("dataset_path", "paths", "path", "", "dataset.path", special=True),
    Setting("log_dir_of_current_run", "paths", "path", "", "output.dir", special=True,
            explicit="the SNN Toolbox writes to <path_wd>/log/gui/<runlabel>"),
    Setting("runlabel", "paths", "str", "test", "output.runlabel"),
    Setting("filename_ann", "paths", "str", "", "model.path", special=True),
    Setting("filename_parsed_model", "paths", "str", "", "model.parsed", special=True),
    Setting("filename_snn", "paths", "str", "",
            note="not applicable: each simulator plugin names the network it exports "
                 "inside the run folder"),
    Setting("filename_clamp_indices", "paths", "path", "", "simulation.clamp_indices"),
    Setting("filepath_custom_objects", "paths", "path", "", "model.custom_objects",
            when=("model", "keras")),
    Setting("class_idx_path", "paths", "path", "", "dataset.class_idx_path",
            when=("dataset", "images")),
    # [input]
    Setting("model_lib", "input", "str", "keras", "model.parser", values="model_lib",
            special=True),
    Setting("dataset_format", "input", "str", "npz", "dataset.reader", values="dataset_format"),
    Setting("datagen_kwargs", "input", "dict", "{}", "dataset.rescale", special=True,
            note="its keys rescale, samplewise_center, samplewise_std_normalization, "
                 "featurewise_center, featurewise_std_normalization, zca_whitening, "
                 "zca_epsilon become [dataset] options of the same names (as Keras uses "
                 "them: featurewise_std_normalization and zca_whitening turn "
                 "featurewise_center on, zca_whitening turns featurewise_std_normalization "
                 "off, samplewise_std_normalization turns samplewise_center on); other keys "
                 "are reported",
            when=("dataset", "images")),
    Setting("dataflow_kwargs", "input", "dict", "{}", "dataset.target_size", special=True,
            note="its keys target_size, color_mode, interpolation become [dataset] options "
                 "of the same names; batch_size is [simulation] batch_size; other keys are "
                 "reported",
            when=("dataset", "images")),
    Setting("poisson_input", "input", "bool", "False", "code.poisson_input",
            when=("code", "temporal_mean_rate")),
    Setting("input_rate", "input", "float", "1000", "code.input_rate",
            when=("code", "temporal_mean_rate")),
    Setting("num_poisson_events_per_sample", "input", "int", "-1",
            "code.num_poisson_events_per_sample", when=("code", "temporal_mean_rate")),
    Setting("num_dvs_events_per_sample", "input", "int", "2000",
            "dataset.num_dvs_events_per_sample", when=("dataset", "aedat")),
    Setting("eventframe_width", "input", "int", "10", "dataset.eventframe_width",
            when=("dataset", "aedat")),
    Setting("label_dict", "input", "dict", "{}", "dataset.label_dict",
            when=("dataset", "aedat")),
    Setting("chip_size", "input", "tuple", "None", "dataset.chip_size",
            when=("dataset", "aedat")),
    Setting("frame_gen_method", "input", "str", "", "dataset.frame_gen_method",
            when=("dataset", "aedat")),
    Setting("is_x_first", "input", "bool", "", "dataset.is_x_first", when=("dataset", "aedat")),
    Setting("is_x_flipped", "input", "bool", "", "dataset.is_x_flipped",
            when=("dataset", "aedat")),
    Setting("is_y_flipped", "input", "bool", "", "dataset.is_y_flipped",
            when=("dataset", "aedat")),
    Setting("maxpool_subsampling", "input", "bool", "True", "dataset.maxpool_subsampling",
            when=("dataset", "aedat")),
    Setting("do_clip_three_sigma", "input", "bool", "True", "dataset.do_clip_three_sigma",
            when=("dataset", "aedat")),
    Setting("keras_dataset", "input", "str", "",
            note="not applicable: snn reads no data sets from the network; save the Keras "
                 "data set as x_test.npz/y_test.npz/x_norm.npz and use the npz reader"),
    # [tools]
    Setting("evaluate_ann", "tools", "bool", "True", "stages.evaluate_ann"),
    Setting("evaluateANN", "tools", "bool", "True", "stages.evaluate_ann",
            note="old spelling of evaluate_ann"),
    Setting("parse", "tools", "bool", "True", "stages.parse"),
    Setting("normalize", "tools", "bool", "True", "stages.normalize"),
    Setting("convert", "tools", "bool", "True", "stages.convert"),
    Setting("simulate", "tools", "bool", "True", "stages.simulate"),
    Setting("serialise_only", "tools", "bool", "False", "stages.serialise_only"),
    # [normalization]
    Setting("percentile", "normalization", "float", "99.9", "normalize.percentile",
            when=("normalize", "percentile")),
    Setting("normalization_schedule", "normalization", "bool", "False", "normalize.schedule",
            when=("normalize", "percentile")),
    Setting("online_normalization", "normalization", "bool", "False",
            "simulator.online_normalization", when=("simulator", "ini")),
    Setting("diff_to_max_rate", "normalization", "float", "200", "simulator.diff_to_max_rate",
            when=("simulator", "ini")),
    Setting("diff_to_min_rate", "normalization", "float", "100", "simulator.diff_to_min_rate",
            when=("simulator", "ini")),
    Setting("timestep_fraction", "normalization", "int", "10", "simulator.timestep_fraction",
            when=("simulator", "ini")),
    # [conversion]
    Setting("softmax_to_relu", "conversion", "bool", "False", "convert.softmax_to_relu"),
    Setting("maxpool_type", "conversion", "str", "fir_max", "simulator.maxpool_type",
            when=("simulator", "ini")),
    Setting("max2avg_pool", "conversion", "bool", "False", "convert.max2avg_pool"),
    Setting("spike_code", "conversion", "str", "temporal_mean_rate", "code.name"),
    Setting("num_bits", "conversion", "int", "32", "code.num_bits",
            when=("code", "temporal_pattern")),
    # [simulation]
    Setting("simulator", "simulation", "str", "INI", "simulator.name", values="simulator",
            special=True),
    Setting("duration", "simulation", "float", "200", "simulation.duration"),
    Setting("dt", "simulation", "float", "1", "simulation.dt"),
    Setting("batch_size", "simulation", "int", "1", "simulation.batch_size"),
    Setting("num_to_test", "simulation", "int", "1", "simulation.num_to_test",
            explicit="the SNN Toolbox tests 1 sample by default; ours, 0, tests all"),
    Setting("sample_idxs_to_test", "simulation", "list", "[]",
            "simulation.sample_idxs_to_test"),
    Setting("reset_between_nth_sample", "simulation", "int", "1",
            "simulation.reset_between_nth_sample",
            note="a negative value turns the reset off (as the reference text says)"),
    Setting("top_k", "simulation", "int", "1", "simulation.top_k",
            note="the reference text says 'Default: 5', its default settings file sets 1; "
                 "an INI without top_k ran with 1"),
    Setting("keras_backend", "simulation", "str", "tensorflow",
            note="not applicable: the INI simulator runs on TensorFlow only (Theano is gone)"),
    Setting("early_stopping", "simulation", "bool", "False", "simulation.early_stopping"),
    # [loihi]
    Setting("number_of_neurons_per_core", "loihi", "int", "64",
            note=_NA_PLANNED + "simulator.neurons_per_core (loihi simulator)"),
    # [cell]
    Setting("v_thresh", "cell", "float", "1", "cell.v_thresh"),
    Setting("tau_refrac", "cell", "float", "0", "cell.tau_refrac"),
    Setting("v_reset", "cell", "float", "0", "cell.v_reset"),
    Setting("v_rest", "cell", "float", "0", "cell.v_rest"),
    Setting("cm", "cell", "float", "1", "cell.cm"),
    Setting("tau_m", "cell", "float", "1000", "cell.tau_m"),
    Setting("tau_syn_E", "cell", "float", "0.01", "cell.tau_syn_E"),
    Setting("tau_syn_I", "cell", "float", "0.01", "cell.tau_syn_I"),
    Setting("delay", "cell", "float", "0", "cell.delay"),
    Setting("i_offset", "cell", "float", "0", "cell.i_offset",
            note="documented, but not in the reference's default settings file"),
    Setting("binarize_weights", "cell", "bool", "False", "convert.binarize_weights",
            note="sign(w) times the layer's mean absolute weight"),
    Setting("quantize_weights", "cell", "bool", "False", "convert.quantize_weights",
            note="ours takes a fixed-point format, \"Qm.f\" or [m, f]; the reference "
                 "documents none, so true is an error"),
    Setting("scaling_factor", "cell", "int", "10000000",
            note=_NA_PLANNED + "simulator.scaling_factor (megasim simulator)"),
    Setting("payloads", "cell", "bool", "False", "simulator.payloads",
            when=("simulator", "ini")),
    Setting("reset", "cell", "str", "Reset by subtraction", "cell.reset", values="reset"),
    Setting("leak", "cell", "bool", "False", "cell.leak"),
    Setting("bias_relaxation", "cell", "bool", "False", "simulator.bias_relaxation",
            when=("simulator", "ini")),
    # [parameter_sweep]
    Setting("param_values", "parameter_sweep", "list", "[]", "sweep.values", special=True),
    Setting("param_name", "parameter_sweep", "str", "v_thresh", "sweep.param", special=True,
            note="translated to our dotted key, e.g. v_thresh -> cell.v_thresh"),
    Setting("param_logscale", "parameter_sweep", "bool", "False", "sweep.logscale",
            special=True),
    # [output]
    Setting("log_vars", "output", "set", "{}", "output.log_vars"),
    Setting("plot_vars", "output", "set", "{}", "output.plot_vars",
            explicit="the SNN Toolbox draws no plots by default; ours draws error_t"),
    Setting("verbose", "output", "int", "1", "output.verbose",
            note="values above 2 are written as 2"),
    Setting("overwrite", "output", "bool", "True", "output.overwrite",
            explicit="the SNN Toolbox overwrites by default; ours makes a new folder"),
    Setting("use_simple_labels", "output", "bool", "True",
            note="not applicable: our plots always label layers by their names"),
    Setting("plotproperties", "output", "dict", "{'font.size': 13, ...}", "output.plotproperties",
            explicit="the SNN Toolbox sets its own matplotlib properties (written only when "
                     "plots are drawn)"),
)

# fmt: on

#: Every SNN Toolbox setting, by name.
SETTINGS: dict[str, Setting] = {s.name: s for s in _SETTINGS_LIST}

#: The reference's default plotting properties (its default settings file).
REFERENCE_PLOTPROPERTIES: dict[str, Any] = {
    "font.size": 13,
    "axes.titlesize": "xx-large",
    "axes.labelsize": "xx-large",
    "xtick.labelsize": "xx-large",
    "xtick.major.size": 7,
    "xtick.minor.size": 5,
    "ytick.labelsize": "xx-large",
    "ytick.major.size": 7,
    "ytick.minor.size": 5,
    "legend.fontsize": "xx-large",
    "figure.figsize": [7, 6],
    "savefig.format": "png",
}

#: Translations of enumerated values: map name -> {reference value: (our value, comment)}.
#: A value of None means no counterpart; the comment then says why.
VALUE_MAPS: dict[str, dict[str, tuple[str | None, str]]] = {
    "reset": {
        "Reset by subtraction": ("subtract", ""),
        "Reset to zero": ("zero", ""),
        "Reset by modulo": ("modulo", ""),
    },
    "simulator": {
        "INI": ("ini", ""),
        "brian2": ("brian2", ""),
        "nest": ("pynn", "runs through PyNN: the pynn simulator's backend option will select nest"),
        "brian": (
            "pynn",
            "runs through PyNN: the pynn simulator's backend option will select brian",
        ),
        "neuron": (
            "pynn",
            "runs through PyNN: the pynn simulator's backend option will select neuron",
        ),
        "spiNNaker": (
            "pynn",
            "runs through PyNN: the pynn simulator's backend option will select spiNNaker",
        ),
        "loihi": ("loihi", ""),
        "MegaSim": ("megasim", ""),
    },
    "model_lib": {
        "keras": ("keras", ""),
        "pytorch": (
            "onnx",
            "export the PyTorch model to ONNX (torch.onnx.export) and convert that file",
        ),
        "lasagne": (
            None,
            "not applicable: Lasagne is unmaintained; export the model to ONNX "
            "or Keras and set [model] path",
        ),
        "caffe": (
            None,
            "not applicable: Caffe is unmaintained; export the model to ONNX and set [model] path",
        ),
    },
    "dataset_format": {
        "npz": ("npz", ""),
        "jpg": ("images", ""),
        "aedat": ("aedat", ""),
    },
}

#: Sections of an SNN Toolbox settings file; keys are accepted in any of them.
SECTIONS = frozenset(
    {
        "paths",
        "input",
        "tools",
        "normalization",
        "conversion",
        "simulation",
        "cell",
        "parameter_sweep",
        "output",
        "loihi",
    }
)
#: Sections that hold no settings (sets of valid values) and are skipped.
IGNORED_SECTIONS = frozenset({"restrictions"})

#: Order of tables in the written file.
TABLE_ORDER = (
    "stages",
    "model",
    "dataset",
    "normalize",
    "code",
    "simulator",
    "simulation",
    "cell",
    "convert",
    "output",
    "sweep",
)

#: Our default plugin per selector (what an absent selector key means).
_SELECTOR_DEFAULTS = {
    "model": "keras",
    "dataset": "npz",
    "normalize": "percentile",
    "code": "temporal_mean_rate",
    "simulator": "ini",
}
_SELECTOR_KEYS = {
    "model": "parser",
    "dataset": "reader",
    "normalize": "method",
    "code": "name",
    "simulator": "name",
}

_BOOLEAN_STATES = configparser.ConfigParser.BOOLEAN_STATES
_RANGE = re.compile(r"^\s*range\(\s*(-?\d+)\s*(?:,\s*(-?\d+)\s*)?(?:,\s*(-?\d+)\s*)?\)\s*$")


# -- reading the INI -----------------------------------------------------------------------


@attrs.frozen
class _Entry:
    section: str
    key: str  # as spelled in the file
    raw: str


def _read_ini(path: Path) -> list[_Entry]:
    if not path.is_file():
        raise ConfigError(f"{path}: no such SNN Toolbox settings file")
    parser = configparser.ConfigParser(interpolation=None, default_section="\x00none", strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        text = path.read_text(encoding="utf-8")
        parser.read_string(text, source=str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the settings file: {exc}") from None
    except configparser.Error as exc:
        raise ConfigError(f"{path}: not a valid INI settings file: {exc}") from None
    return [
        _Entry(section, key, raw)
        for section in parser.sections()
        for key, raw in parser.items(section, raw=True)
    ]


_ARITHMETIC = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}


def _number_arithmetic(node: ast.AST) -> ast.AST:
    """Fold ``1/255.``-style arithmetic on number literals into constants (settings
    files write such values); anything else is left for ``literal_eval`` to judge."""
    for child in ast.iter_child_nodes(node):
        _number_arithmetic(child)
    for field, value in ast.iter_fields(node):
        if isinstance(value, list):
            setattr(node, field, [_fold(v) if isinstance(v, ast.AST) else v for v in value])
        elif isinstance(value, ast.AST):
            setattr(node, field, _fold(value))
    return node


def _fold(node: ast.AST) -> ast.AST:
    if (
        isinstance(node, ast.BinOp)
        and type(node.op) in _ARITHMETIC
        and all(
            isinstance(side, ast.Constant) and type(side.value) in (int, float)
            for side in (node.left, node.right)
        )
    ):
        try:
            value = _ARITHMETIC[type(node.op)](node.left.value, node.right.value)  # type: ignore[attr-defined]
        except ZeroDivisionError:
            return node
        return ast.copy_location(ast.Constant(value), node)
    return node


def _literal(raw: str) -> Any:
    """``raw`` as a Python literal (numbers may be written as arithmetic, e.g. ``1/255.``);
    never evaluates code. Not a literal: the raw string."""
    try:
        tree = _number_arithmetic(ast.parse(raw.strip(), mode="eval"))
        return ast.literal_eval(tree.body)  # type: ignore[attr-defined]
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return raw


_EXPECTED = {
    "bool": "True or False",
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "path": "a path",
    "list": "a list, e.g. [0, 1, 2]",
    "set": "a set of names, e.g. {'error_t'}",
    "dict": "a dictionary, e.g. {'key': 1}",
    "tuple": "a tuple, e.g. (240, 180), or None",
}


def _convert(raw: str, kind: str, where: str) -> Any:
    """The value of ``raw`` as ``kind`` (see :attr:`Setting.kind`), or a ConfigError."""
    text = raw.strip()
    if kind in ("str", "path"):
        value = _literal(text)
        return value if isinstance(value, str) else text
    value = _literal(text)
    ok = True
    if kind == "bool":
        if isinstance(value, str) and value.lower() in _BOOLEAN_STATES:
            value = _BOOLEAN_STATES[value.lower()]
        elif isinstance(value, int) and value in (0, 1):
            value = bool(value)
        ok = isinstance(value, bool)
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif kind == "list":
        match = _RANGE.match(text) if isinstance(value, str) else None
        if match:
            value = list(range(*(int(g) for g in match.groups() if g is not None)))
        ok = isinstance(value, list | tuple | set)
        value = list(value) if ok else value
    elif kind == "set":
        if value == {}:
            value = []
        ok = isinstance(value, set | list | tuple) and all(isinstance(x, str) for x in value)
        value = sorted(value) if ok else value
    elif kind == "dict":
        ok = isinstance(value, dict)
    elif kind == "tuple":
        ok = value is None or isinstance(value, tuple | list)
        value = list(value) if isinstance(value, tuple) else value
    if not ok:
        raise ConfigError(f"{where}: expected {_EXPECTED[kind]}, found {raw!r}")
    return value


def _plain(value: Any) -> Any:
    """Make a literal writable as TOML: tuples -> lists, dict keys -> strings."""
    if isinstance(value, dict):
        return {str(k): _plain(x) for k, x in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(x) for x in value]
    return value


# -- writing -------------------------------------------------------------------------------


@attrs.define
class _Doc:
    """The experiment being written: per table, lines of (key, value, comment)."""

    header: list[str] = attrs.field(factory=list)
    tables: dict[str, list[tuple[str | None, Any, str]]] = attrs.field(
        factory=lambda: {t: [] for t in TABLE_ORDER}
    )

    def set(self, dotted: str, value: Any, comment: str = "") -> None:
        table, key = dotted.split(".", 1)
        rows = self.tables[table]
        rows[:] = [r for r in rows if r[0] != key]
        rows.append((key, value, comment))

    def get(self, dotted: str, default: Any = None) -> Any:
        table, key = dotted.split(".", 1)
        for k, value, _ in self.tables[table]:
            if k == key:
                return value
        return default

    def comment(self, table: str | None, text: str) -> None:
        line = "# " + " ".join(text.split())
        if table is None:
            self.header.append(line)
        else:
            self.tables[table].append((None, line, ""))

    def render(self) -> str:
        out = list(self.header)
        for table in TABLE_ORDER:
            rows = self.tables[table]
            if not rows:
                continue
            out.append("")
            out.append(f"[{table}]")
            for key, value, comment in rows:
                if key is None:
                    out.append(value)
                    continue
                line = f"{key} = {toml_value(value)}"
                out.append(f"{line}  # {comment}" if comment else line)
        return "\n".join(out) + "\n"


def _show(raw: str) -> str:
    return " ".join(raw.split())


# -- the import ----------------------------------------------------------------------------


#: Keras ImageDataGenerator / flow_from_directory keys -> images reader options.
_IMAGE_KWARGS = {
    "datagen_kwargs": (
        "rescale",
        "samplewise_center",
        "samplewise_std_normalization",
        "featurewise_center",
        "featurewise_std_normalization",
        "zca_whitening",
        "zca_epsilon",
    ),
    "dataflow_kwargs": ("target_size", "color_mode", "interpolation"),
}


def _image_kwargs(doc: Any, name: str, kwargs: dict, reader: str) -> None:
    """Translate ``datagen_kwargs`` / ``dataflow_kwargs`` into images reader options."""
    if not kwargs:
        return
    if reader != "images":
        doc.comment(
            "dataset",
            f"{name} = {kwargs!r}: not applicable: only used when reader is 'images' "
            f"(here {reader or 'none'!r})",
        )
        return
    for key, value in kwargs.items():
        if key in _IMAGE_KWARGS[name]:
            doc.set(f"dataset.{key}", list(value) if isinstance(value, tuple) else value)
        elif key == "batch_size":
            doc.comment("dataset", f"{name}: batch_size = {value!r}: use [simulation] batch_size")
        elif key in ("class_mode", "shuffle", "seed", "classes", "directory"):
            doc.comment(
                "dataset",
                f"{name}: {key} = {value!r}: not applicable: the images reader serves class "
                "indices in file order; classes come from the folders or class_idx_path",
            )
        else:
            doc.comment(
                "dataset",
                f"{name}: {key} = {value!r}: not supported by the images reader (it offers "
                "rescale, samplewise_center, samplewise_std_normalization, "
                "featurewise_center, featurewise_std_normalization, zca_whitening, "
                "zca_epsilon, target_size, color_mode, interpolation); preprocess the "
                "images beforehand",
            )
    if name == "datagen_kwargs":
        _keras_generator_overrides(doc, kwargs)


def _keras_generator_overrides(doc: Any, kwargs: dict) -> None:
    """Write the options Keras' ImageDataGenerator (2.1.3 and later) effectively used.

    Its constructor turns ``featurewise_center`` on with ``featurewise_std_normalization``
    or ``zca_whitening``, ``featurewise_std_normalization`` off with ``zca_whitening``, and
    ``samplewise_center`` on with ``samplewise_std_normalization``; the images reader
    switches nothing by itself.
    """
    if kwargs.get("zca_whitening") and kwargs.get("featurewise_std_normalization"):
        doc.set(
            "dataset.featurewise_std_normalization",
            False,
            "datagen_kwargs sets it, but Keras ignores it with zca_whitening",
        )
    for std, center in (
        ("zca_whitening", "featurewise_center"),
        ("featurewise_std_normalization", "featurewise_center"),
        ("samplewise_std_normalization", "samplewise_center"),
    ):
        if kwargs.get(std) and not kwargs.get(center) and not doc.get(f"dataset.{center}"):
            doc.set(f"dataset.{center}", True, f"Keras turns it on with {std}")
    featurewise = ("featurewise_center", "featurewise_std_normalization", "zca_whitening")
    if any(kwargs.get(k) for k in featurewise):
        doc.comment(
            "dataset",
            "the SNN Toolbox fitted the feature-wise statistics on one shuffled batch of "
            "dataset_path images; here they come from fit_samples (default 1000) images of "
            "norm_folder, or else of the test set, spread evenly",
        )


def import_ini(path: Path, out: Path | None = None) -> str:
    """Translate an SNN Toolbox settings file into the text of an experiment TOML file.

    Parameters
    ----------
    path
        The SNN Toolbox INI settings file.
    out
        Where the TOML file will be written; paths in it are made relative to its folder
        where they can be (else absolute). Default: next to ``path``, same name, ``.toml``.

    Returns
    -------
    str
        The experiment file, with a comment for every setting that has no counterpart,
        every unknown setting and every default written out because it differs from ours.

    Raises
    ------
    ConfigError
        If the file is missing, unreadable or not INI, or a value has the wrong type or
        an unknown enumerated value (the message names file, section and key).
    """
    path = Path(path)
    out = Path(out) if out is not None else path.with_suffix(".toml")
    out_dir = Path(os.path.abspath(out)).parent
    entries = _read_ini(path)
    lower = {name.lower(): s for name, s in SETTINGS.items()}
    doc = _Doc()
    doc.comment(
        None,
        f"Experiment imported from the SNN Toolbox settings file {path.name} "
        "by `snn config import`.",
    )
    doc.comment(
        None,
        "Settings it did not set are left to our defaults, except where the "
        "SNN Toolbox's default behaves differently (written out and marked).",
    )

    # Pick one value per setting; note odd sections, unknown keys, skipped sections.
    values: dict[str, tuple[Any, _Entry]] = {}
    skipped: set[str] = set()
    for entry in entries:
        where = f"{path}: [{entry.section}] {entry.key}"
        if entry.section.lower() in IGNORED_SECTIONS:
            skipped.add(entry.section)
            continue
        setting = lower.get(entry.key.lower())
        if setting is None:
            match = difflib.get_close_matches(entry.key, list(SETTINGS), n=1)
            hint = f" (did you mean {match[0]}?)" if match else ""
            doc.comment(None, f"unknown setting {entry.key} = {_show(entry.raw)}: ignored{hint}")
            continue
        if entry.section.lower() != setting.section:
            doc.comment(
                None,
                f"{entry.key} is set in section [{entry.section}]; the SNN "
                f"Toolbox reads it from [{setting.section}]: used anyway",
            )
        name = "evaluate_ann" if setting.name == "evaluateANN" else setting.name
        if entry.raw.strip() == "":
            continue  # the SNN Toolbox's "not set"
        values[name] = (_convert(entry.raw, setting.kind, where), entry)
    if skipped:
        doc.comment(
            None,
            f"section(s) {', '.join(sorted(skipped))}: sets of valid values, not settings; ignored",
        )

    def where(name: str) -> str:
        entry = values[name][1]
        return f"{path}: [{entry.section}] {entry.key}"

    def translate(name: str, value: Any) -> tuple[str | None, str]:
        table = VALUE_MAPS[SETTINGS[name].values]  # type: ignore[index]
        if value not in table:
            raise ConfigError(
                f"{where(name)}: expected one of {', '.join(map(repr, table))}, found {value!r}"
            )
        return table[value]

    # Selectors first: the other settings depend on which plugins are chosen.
    selectors = dict(_SELECTOR_DEFAULTS)
    if "model_lib" in values:
        parser, why = translate("model_lib", values["model_lib"][0])
        if parser is None:
            doc.comment("model", f"model_lib = {values['model_lib'][0]}: {why}")
            selectors["model"] = ""
        else:
            doc.set("model.parser", parser, why)
            selectors["model"] = parser
    if "dataset_format" in values:
        reader, why = translate("dataset_format", values["dataset_format"][0])
        doc.set("dataset.reader", reader, why)
        selectors["dataset"] = reader  # type: ignore[assignment]
    if "spike_code" in values:
        doc.set("code.name", values["spike_code"][0])
        selectors["code"] = values["spike_code"][0]
    if "simulator" in values:
        sim, why = translate("simulator", values["simulator"][0])
        doc.set("simulator.name", sim, why)
        selectors["simulator"] = sim  # type: ignore[assignment]

    # Paths: relative ones are relative to path_wd (itself relative to the INI's folder).
    ini_dir = Path(os.path.abspath(path)).parent
    if "path_wd" in values:
        path_wd = ini_dir / Path(values["path_wd"][0]).expanduser()
    else:
        ann = values.get("filename_ann", ("",))[0]
        sim = values.get("simulator", ("INI",))[0]
        path_wd = Path.home() / ".snntoolbox" / "data" / ann / sim
        doc.comment(
            None,
            "path_wd is not set: the SNN Toolbox documents "
            "~/.snntoolbox/data/<filename_ann>/<simulator>/ as its default, "
            f"so paths are resolved against {path_wd}",
        )

    def place(p: str | Path) -> str:
        full = Path(os.path.abspath(path_wd / Path(p).expanduser()))
        rel = Path(os.path.relpath(full, out_dir))
        return rel.as_posix() if rel.parts[:2].count("..") < 2 else full.as_posix()

    if "filename_ann" in values and selectors["model"] != "":
        name = values["filename_ann"][0]
        model = path_wd / name
        if selectors["model"] == "keras" and model.suffix not in (".h5", ".keras", ".hdf5"):
            keras_file = model.with_name(model.name + ".keras")
            model = keras_file if keras_file.exists() else model.with_name(model.name + ".h5")
        elif selectors["model"] == "onnx" and model.suffix != ".onnx":
            model = model.with_name(model.name + ".onnx")
        doc.set("model.path", place(model))
    elif "filename_ann" in values:
        doc.comment(
            "model",
            f"filename_ann = {values['filename_ann'][0]}: set [model] path to the exported model",
        )
    if "filename_parsed_model" in values:
        parsed = path_wd / values["filename_parsed_model"][0]
        if not parsed.suffix:
            parsed = parsed.with_name(parsed.name + ".h5")
        doc.set(
            "model.parsed",
            place(parsed),
            "our parsed-network format, not the SNN Toolbox's parsed Keras model",
        )
    if "dataset_path" in values:
        doc.set("dataset.path", place(values["dataset_path"][0]))
    for name in ("datagen_kwargs", "dataflow_kwargs"):
        if name in values:
            _image_kwargs(doc, name, values[name][0], selectors["dataset"])
    if "log_dir_of_current_run" in values:
        doc.set("output.dir", place(values["log_dir_of_current_run"][0]))
    else:
        doc.set(
            "output.dir",
            place(path_wd / "log" / "gui") + "/{runlabel}",
            SETTINGS["log_dir_of_current_run"].explicit,
        )

    # Everything else, straight from the table.
    for name, (value, entry) in values.items():
        setting = SETTINGS[name]
        if setting.special or name in ("dataset_format", "spike_code"):
            continue
        shown = _show(entry.raw)
        if setting.target is None:
            doc.comment(_comment_table(setting), f"{entry.key} = {shown}: {setting.note}")
            continue
        table = setting.target.split(".")[0]
        if setting.when is not None:
            sel_table, wanted = setting.when
            if selectors[sel_table] != wanted:
                doc.comment(
                    table,
                    f"{entry.key} = {shown}: not applicable: only used when "
                    f"{_SELECTOR_KEYS[sel_table]} is {wanted!r} (here "
                    f"{selectors[sel_table] or 'none'!r})",
                )
                continue
        if setting.kind == "path":
            value = place(value)
        if setting.values is not None:
            value = translate(name, value)[0]
        comment = ""
        if name == "verbose" and not 0 <= value <= 2:
            comment = f"SNN Toolbox value {value}"
            value = min(max(value, 0), 2)
        if setting.when == ("code", "temporal_pattern"):
            comment = "option of a planned plugin"
        doc.set(setting.target, _plain(value), comment)

    # Defaults of the SNN Toolbox that behave differently from ours.
    if "num_to_test" not in values and "sample_idxs_to_test" not in values:
        doc.set("simulation.num_to_test", 1, SETTINGS["num_to_test"].explicit)
    batch = doc.get("simulation.batch_size", Simulation().batch_size)
    num = doc.get("simulation.num_to_test", 1)
    if "sample_idxs_to_test" not in values and 0 < num < batch:
        doc.set(
            "simulation.num_to_test",
            batch,
            f"the SNN Toolbox raises num_to_test = {num} to batch_size",
        )
    if "overwrite" not in values:
        doc.set("output.overwrite", True, SETTINGS["overwrite"].explicit)
    # The SNN Toolbox starts membranes at rest and counts output spikes; snn's defaults
    # (half-threshold start, membrane readout) are more accurate at short durations.
    doc.set(
        "cell.v_init",
        doc.get("cell.v_rest", 0.0),
        "the SNN Toolbox starts every membrane at v_rest; remove for snn's half-threshold "
        "start (more accurate at short durations)",
    )
    if selectors["simulator"] == "ini" and "maxpool_type" not in values:
        doc.set(
            "simulator.maxpool_type",
            "fir_max",
            "the SNN Toolbox's default; remove for snn's membrane_max (ranks inputs by "
            "their input current, more accurate)",
        )
    if selectors["simulator"] == "ini":
        doc.set(
            "simulator.average_pool",
            "neurons",
            "the SNN Toolbox drives a layer of IF neurons with each average pool; remove "
            "for snn's default, which passes the mean of the spikes on (more accurate, "
            "faster, more synaptic events)",
        )
    if selectors["code"] == "temporal_mean_rate":
        doc.set(
            "code.readout",
            "spike_count",
            "the SNN Toolbox counts output spikes; remove for snn's membrane readout",
        )
    if "plot_vars" not in values:
        doc.set("output.plot_vars", [], SETTINGS["plot_vars"].explicit)
    plots = doc.get("output.plot_vars", list(Output().plot_vars))
    if "plotproperties" not in values and plots:
        doc.set(
            "output.plotproperties",
            REFERENCE_PLOTPROPERTIES,
            "the SNN Toolbox's default plot properties",
        )

    _sweep(doc, values, where)
    return doc.render()


def _comment_table(setting: Setting) -> str | None:
    """The table a setting without counterpart is commented in (None: the header)."""
    match = re.search(r"planned as (\w+)\.", setting.note)
    if match:
        return match.group(1)
    return {
        "paths": None,
        "input": "dataset",
        "simulation": "simulator",
        "output": "output",
        "loihi": "simulator",
        "cell": "cell",
        "normalization": "normalize",
        "conversion": "convert",
    }.get(setting.section)


def _sweep(doc: _Doc, values: Mapping[str, tuple[Any, _Entry]], where: Any) -> None:
    """Write ``[sweep]`` from param_name / param_values / param_logscale."""
    if "param_values" not in values or not values["param_values"][0]:
        return
    raw_values = values["param_values"][0]
    name = values.get("param_name", (SETTINGS["param_name"].default,))[0]
    setting = {n.lower(): s for n, s in SETTINGS.items()}.get(name.lower())
    if setting is None or setting.target is None or setting.special:
        why = setting.note if setting is not None else "not a setting of the SNN Toolbox"
        doc.comment(
            "sweep",
            f"param_name = {name}, param_values = {raw_values}: not "
            f"applicable: {why or 'cannot be swept'}",
        )
        return
    swept = []
    for i, value in enumerate(raw_values):
        item = _convert(repr(value), setting.kind, f"{where('param_values')}[{i}]")
        if setting.values is not None:
            mapped = VALUE_MAPS[setting.values].get(item, (None, ""))[0]
            if mapped is None:
                raise ConfigError(
                    f"{where('param_values')}[{i}]: expected one of "
                    f"{', '.join(map(repr, VALUE_MAPS[setting.values]))}, found {item!r}"
                )
            item = mapped
        swept.append(_plain(item))
    doc.set("sweep.param", setting.target, f"SNN Toolbox name {name}")
    doc.set("sweep.values", swept)
    if "param_logscale" in values:
        doc.set("sweep.logscale", values["param_logscale"][0])


def mapping_rows() -> list[tuple[str, str, str, str]]:
    """Rows for the documentation: (setting, section, default, our key or reason)."""
    rows = []
    for s in _SETTINGS_LIST:
        if s.target is None:
            home = s.note
        else:
            home = f"`{s.target}`"
            if s.when is not None:
                home += f" (when {_SELECTOR_KEYS[s.when[0]]} = {s.when[1]!r})"
            extra = "; ".join(
                x for x in (s.note, s.explicit and "written explicitly: " + s.explicit) if x
            )
            if extra:
                home += f"; {extra}"
        rows.append((s.name, s.section, s.default, home))
    return rows
