"""``snn config import``: SNN Toolbox INI files become experiment files that validate."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import tomli

from snn_core.config import Experiment, experiment_from_dict
from snn_core.errors import ConfigError
from snn_core.ini_import import import_ini

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "snntoolbox-settings.txt"

#: The INI sections of the reference's default settings block, in the order of its groups.
BLOCK_SECTIONS = ("paths", "input", "tools", "normalization", "conversion", "simulation",
                  "loihi", "cell", "parameter_sweep", "output")  # fmt: skip


def write(folder: Path, text: str, name: str = "settings.ini") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def convert(ini: Path, out: Path | None = None) -> tuple[str, dict, Experiment]:
    """Import ``ini``, parse the TOML and validate it as an experiment written at ``out``."""
    out = out or ini.with_suffix(".toml")
    text = import_ini(ini, out)
    doc = tomli.loads(text)
    return text, doc, experiment_from_dict(doc, source=out)


@pytest.fixture
def wd(tmp_path: Path) -> Path:
    """A working folder with an (empty) Keras model file and a data set folder."""
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    (work / "lenet.h5").write_bytes(b"")
    return work


def full_default_ini(tmp_path: Path, wd: Path) -> Path:
    """Every key of the reference's default settings block, in its sections."""
    if not REFERENCE.is_file():
        pytest.skip(f"the SNN Toolbox settings reference is missing: {REFERENCE}")
    text = REFERENCE.read_text(encoding="utf-8")
    block = text[
        text.index("SNN toolbox default settings")
        + len("SNN toolbox default settings") : text.index("# Use the following section")
    ]
    groups = [g for g in re.split(r"\n\s*\n", block) if g.strip()]
    assert len(groups) == len(BLOCK_SECTIONS)
    parts = []
    for section, group in zip(BLOCK_SECTIONS, groups, strict=True):
        group = group.replace("path_wd =", f"path_wd = {wd}")
        group = group.replace("filename_ann =", "filename_ann = lenet")
        group = group.replace("dataset_path =", "dataset_path = data")
        parts.append(f"[{section}]\n{group}\n")
    path = tmp_path / "defaults.ini"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def test_full_default_settings_file_validates(tmp_path, wd):
    ini = full_default_ini(tmp_path, wd)
    text, doc, exp = convert(ini, wd / "exp.toml")
    assert exp.model.path == wd / "lenet.h5"
    assert doc["model"]["parser"] == "keras"
    assert doc["dataset"] == {"reader": "npz", "path": "data"}
    assert exp.cell.reset == "subtract"
    assert exp.simulation.duration == 200.0 and exp.simulation.dt == 1.0
    assert exp.simulation.batch_size == 1 and exp.simulation.num_to_test == 1
    assert exp.simulation.top_k == 1
    assert exp.output.overwrite is True
    assert exp.output.plot_vars == () and exp.output.log_vars == ()
    assert exp.output.plotproperties["figure.figsize"] == [7, 6]
    assert exp.output.dir == "log/gui/{runlabel}"
    assert exp.simulator.name == "ini"
    assert exp.simulator.options == {
        "maxpool_type": "fir_max",
        "average_pool": "neurons",
        "payloads": False,
        "online_normalization": False,
        "diff_to_max_rate": 200.0,
        "diff_to_min_rate": 100.0,
        "timestep_fraction": 10,
        "bias_relaxation": False,
    }
    assert exp.code.name == "temporal_mean_rate"
    assert exp.code.options == {
        "poisson_input": False,
        "input_rate": 1000.0,
        "num_poisson_events_per_sample": -1,
        "readout": "spike_count",
    }
    assert exp.cell.initial_v == exp.cell.v_rest
    assert exp.normalize.options == {"percentile": 99.9, "schedule": False}
    assert exp.sweep.param == ""  # param_values = []: no sweep
    assert "sweep" not in doc
    # Every setting without a counterpart is there as a comment, with its value.
    for line in (
        "# keras_backend = tensorflow: not applicable: ",
        "# use_simple_labels = True: not applicable: ",
        "# number_of_neurons_per_core = 64: not yet implemented: planned as "
        "simulator.neurons_per_core",
        "# num_bits = 32: not applicable: only used when name is 'temporal_pattern'",
        "# chip_size = None: not applicable: only used when reader is 'aedat'",
    ):
        assert line in text, line
    assert "unknown setting" not in text


def test_realistic_settings_file(tmp_path, wd):
    (wd / "83.62.h5").write_bytes(b"")
    ini = write(
        tmp_path,
        f"""\
        [paths]
        path_wd = {wd}
        dataset_path = {wd / "data"}
        filename_ann = 83.62
        runlabel = lenet_ttfs

        [tools]
        evaluate_ann = True
        normalize = False

        [simulation]
        simulator = INI
        duration = 50
        dt = 0.5
        batch_size = 16
        num_to_test = 100
        keras_backend = theano

        [cell]
        reset = 'Reset by modulo'
        v_thresh = 0.5
        tau_refrac = 1

        [input]
        poisson_input = True
        input_rate = 500

        [output]
        plot_vars = {{'spikecounts', 'error_t'}}
        log_vars = {{'spiketrains_n_b_l_t'}}
        verbose = 3
        """,
    )
    text, doc, exp = convert(ini, wd / "lenet.toml")
    assert exp.model.path == wd / "83.62.h5"  # the reference appends .h5 to the name
    assert doc["model"]["path"] == "83.62.h5"
    assert exp.dataset.options == {"path": "data"}
    assert exp.stages.normalize is False and exp.stages.evaluate_ann is True
    assert exp.simulation.duration == 50.0 and exp.simulation.dt == 0.5
    assert exp.simulation.num_steps == 100
    assert exp.simulation.batch_size == 16 and exp.simulation.num_to_test == 100
    assert exp.cell.reset == "modulo" and exp.cell.v_thresh == 0.5
    assert exp.cell.tau_refrac == 1.0
    assert exp.code.options == {
        "poisson_input": True,
        "input_rate": 500.0,
        "readout": "spike_count",
    }
    assert exp.output.plot_vars == ("error_t", "spikecounts")
    assert exp.output.log_vars == ("spiketrains_n_b_l_t",)
    assert exp.output.verbose == 2
    assert exp.output.runlabel == "lenet_ttfs"
    assert exp.output.overwrite is True  # the reference's default, written out
    assert "figure.figsize" in exp.output.plotproperties  # plots are drawn: its look too
    assert "# keras_backend = theano: not applicable" in text


@pytest.mark.parametrize(
    ("written", "ours"),
    [("Reset by subtraction", "subtract"), ("Reset to zero", "zero"),
     ("Reset by modulo", "modulo")],
)  # fmt: skip
def test_reset_modes(tmp_path, wd, written, ours):
    ini = write(
        tmp_path, f"[paths]\npath_wd = {wd}\nfilename_ann = lenet\n[cell]\nreset = {written}\n"
    )
    assert convert(ini)[2].cell.reset == ours


@pytest.mark.parametrize(
    ("written", "ours", "comment"),
    [("INI", "ini", None), ("brian2", "brian2", None), ("nest", "pynn", "select nest"),
     ("spiNNaker", "pynn", "select spiNNaker"), ("loihi", "loihi", None),
     ("MegaSim", "megasim", None)],
)  # fmt: skip
def test_simulators(tmp_path, wd, written, ours, comment):
    ini = write(
        tmp_path,
        f"[paths]\npath_wd = {wd}\nfilename_ann = lenet\n"
        f"[simulation]\nsimulator = {written}\n[conversion]\nmaxpool_type = exp_max\n",
    )
    text, _doc, exp = convert(ini)
    assert exp.simulator.name == ours
    if comment:
        assert comment in text.split("[simulator]")[1].splitlines()[1]
    if ours == "ini":
        assert exp.simulator.options == {"maxpool_type": "exp_max", "average_pool": "neurons"}
    else:
        assert exp.simulator.options == {}
        assert "# maxpool_type = exp_max: not applicable: only used when name is 'ini'" in text


def test_parameter_sweep(tmp_path, wd):
    ini = write(
        tmp_path,
        f"""\
        [paths]
        path_wd = {wd}
        filename_ann = lenet
        [parameter_sweep]
        param_name = v_thresh
        param_values = [0.5, 1, 2]
        param_logscale = True
        """,
    )
    exp = convert(ini)[2]
    assert exp.sweep.param == "cell.v_thresh"
    assert exp.sweep.values == (0.5, 1.0, 2.0)
    assert exp.sweep.logscale is True


@pytest.mark.parametrize(
    ("name", "values", "param", "ours"),
    [("duration", "[10, 20]", "simulation.duration", (10.0, 20.0)),
     ("percentile", "[99, 100]", "normalize.percentile", (99.0, 100.0)),
     ("reset", "['Reset to zero', 'Reset by subtraction']", "cell.reset",
      ("zero", "subtract"))],
)  # fmt: skip
def test_sweep_names_become_dotted_keys(tmp_path, wd, name, values, param, ours):
    ini = write(
        tmp_path,
        f"[paths]\npath_wd = {wd}\nfilename_ann = lenet\n"
        f"[parameter_sweep]\nparam_name = {name}\nparam_values = {values}\n",
    )
    exp = convert(ini)[2]
    assert (exp.sweep.param, exp.sweep.values) == (param, ours)


def test_sweep_of_a_setting_without_counterpart_is_a_comment(tmp_path, wd):
    ini = write(
        tmp_path,
        f"[paths]\npath_wd = {wd}\nfilename_ann = lenet\n"
        "[parameter_sweep]\nparam_name = use_simple_labels\nparam_values = [True, False]\n",
    )
    text, _doc, exp = convert(ini)
    assert exp.sweep.param == ""
    assert "# param_name = use_simple_labels, param_values = [True, False]: not applicable" in text


def test_paths_relative_to_the_output_file(tmp_path, wd):
    (wd / "clamp.json").write_text("{}")
    ini = write(
        tmp_path,
        """\
        [paths]
        path_wd = work
        filename_ann = lenet
        dataset_path = data
        filename_parsed_model = lenet_ir
        log_dir_of_current_run = runs/first
        filename_clamp_indices = clamp.json
        """,
    )
    # Next to the INI file: path_wd is relative to the INI's folder, the rest to path_wd.
    _, doc, exp = convert(ini)
    assert doc["model"]["path"] == "work/lenet.h5"
    assert doc["model"]["parsed"] == "work/lenet_ir.h5"
    assert doc["dataset"]["path"] == "work/data"
    assert doc["output"]["dir"] == "work/runs/first"
    assert doc["simulation"]["clamp_indices"] == "work/clamp.json"
    assert exp.simulation.clamp_indices == tmp_path / "work" / "clamp.json"
    # One folder down: one "..".
    sub = tmp_path / "configs"
    sub.mkdir()
    _, doc, exp = convert(ini, sub / "exp.toml")
    assert doc["model"]["path"] == "../work/lenet.h5"
    assert exp.model.path.resolve() == (wd / "lenet.h5").resolve()
    # Far away: absolute.
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    _, doc, exp = convert(ini, deep / "exp.toml")
    assert doc["model"]["path"] == (wd / "lenet.h5").as_posix()
    assert Path(doc["model"]["path"]).is_absolute()


def test_keras_file_is_preferred_over_h5(tmp_path, wd):
    (wd / "lenet.keras").write_bytes(b"")
    ini = write(tmp_path, f"[paths]\npath_wd = {wd}\nfilename_ann = lenet\n")
    assert convert(ini)[2].model.path == wd / "lenet.keras"


def test_pytorch_becomes_onnx(tmp_path, wd):
    (wd / "net.onnx").write_bytes(b"")
    ini = write(
        tmp_path, f"[paths]\npath_wd = {wd}\nfilename_ann = net\n[input]\nmodel_lib = pytorch\n"
    )
    text, doc, exp = convert(ini)
    assert doc["model"]["parser"] == "onnx" and exp.model.path == wd / "net.onnx"
    assert "torch.onnx.export" in text


def test_caffe_is_not_applicable(tmp_path, wd):
    ini = write(
        tmp_path, f"[paths]\npath_wd = {wd}\nfilename_ann = net\n[input]\nmodel_lib = caffe\n"
    )
    text = import_ini(ini)
    assert "# model_lib = caffe: not applicable: " in text
    assert "path" not in tomli.loads(text).get("model", {})
    with pytest.raises(ConfigError, match=r"\[model\] path is required"):
        experiment_from_dict(tomli.loads(text), source=tmp_path / "x.toml")


def test_other_spike_code_leaves_poisson_options_as_comments(tmp_path, wd):
    ini = write(
        tmp_path,
        f"[paths]\npath_wd = {wd}\nfilename_ann = lenet\n"
        "[conversion]\nspike_code = temporal_pattern\nnum_bits = 16\n"
        "[input]\npoisson_input = True\n",
    )
    text, _doc, exp = convert(ini)
    assert exp.code.name == "temporal_pattern" and exp.code.options == {"num_bits": 16}
    assert "# poisson_input = True: not applicable: only used when name is " in text


def test_aedat_options_go_to_the_dataset_table(tmp_path, wd):
    ini = write(
        tmp_path,
        f"""\
        [paths]
        path_wd = {wd}
        filename_ann = lenet
        dataset_path = data
        [input]
        dataset_format = aedat
        chip_size = (240, 180)
        label_dict = {{'0': 'cat', '1': 'dog'}}
        is_x_first = True
        frame_gen_method = signed_sum
        """,
    )
    exp = convert(ini)[2]
    assert exp.dataset.name == "aedat"
    assert exp.dataset.options == {
        "path": "work/data",
        "chip_size": [240, 180],
        "label_dict": {"0": "cat", "1": "dog"},
        "is_x_first": True,
        "frame_gen_method": "signed_sum",
    }


@pytest.mark.parametrize(
    ("datagen", "options", "comments"),
    [
        (
            "{'featurewise_center': True, 'featurewise_std_normalization': True, "
            "'zca_epsilon': 0.01}",
            {"featurewise_center": True, "featurewise_std_normalization": True,
             "zca_epsilon": 0.01},
            [],
        ),
        (
            "{'featurewise_std_normalization': True}",
            {"featurewise_std_normalization": True, "featurewise_center": True},
            ["featurewise_center = true  # Keras turns it on with featurewise_std_normalization"],
        ),
        (
            "{'zca_whitening': True, 'featurewise_std_normalization': True, "
            "'samplewise_std_normalization': True}",
            {"zca_whitening": True, "featurewise_std_normalization": False,
             "featurewise_center": True, "samplewise_std_normalization": True,
             "samplewise_center": True},
            ["featurewise_std_normalization = false  # datagen_kwargs sets it, but Keras "
             "ignores it with zca_whitening",
             "featurewise_center = true  # Keras turns it on with zca_whitening",
             "samplewise_center = true  # Keras turns it on with samplewise_std_normalization"],
        ),
    ],
)  # fmt: skip
def test_featurewise_generator_kwargs_as_keras_uses_them(tmp_path, wd, datagen, options,
                                                          comments):  # fmt: skip
    ini = write(
        tmp_path,
        f"""\
        [paths]
        path_wd = {wd}
        filename_ann = lenet
        dataset_path = data
        [input]
        dataset_format = jpg
        datagen_kwargs = {datagen}
        """,
    )
    text, _doc, exp = convert(ini)
    assert exp.dataset.name == "images"
    assert exp.dataset.options == {"path": "work/data", **options}
    for comment in comments:
        assert comment in text
    assert "Keras turns" not in text or comments
    assert "not supported by the images reader" not in text
    assert "fitted the feature-wise statistics on one shuffled batch" in text


def test_num_to_test_is_raised_to_batch_size_and_ranges_are_read(tmp_path, wd):
    ini = write(
        tmp_path,
        f"[paths]\npath_wd = {wd}\nfilename_ann = lenet\n[simulation]\nbatch_size = 32\n",
    )
    assert convert(ini)[2].simulation.num_to_test == 32
    ini = write(
        tmp_path,
        f"[paths]\npath_wd = {wd}\nfilename_ann = lenet\n"
        "[simulation]\nsample_idxs_to_test = range(0, 10, 3)\n",
    )
    assert convert(ini)[2].simulation.sample_idxs_to_test == (0, 3, 6, 9)


def test_parse_false_reads_the_parsed_file(tmp_path, wd):
    (wd / "lenet_parsed.h5").write_bytes(b"")
    ini = write(
        tmp_path,
        f"[paths]\npath_wd = {wd}\nfilename_ann = lenet\nfilename_parsed_model = lenet_parsed\n"
        "[tools]\nparse = False\n",
    )
    exp = convert(ini)[2]
    assert exp.stages.parse is False and exp.model.parsed == wd / "lenet_parsed.h5"


def test_unknown_keys_odd_sections_and_restrictions_are_comments(tmp_path, wd):
    ini = write(
        tmp_path,
        f"""\
        [paths]
        path_wd = {wd}
        filename_ann = lenet
        [cell]
        v_tresh = 2
        duration = 30
        [restrictions]
        simulators = {{'INI', 'brian2'}}
        spike_codes = {{'temporal_mean_rate'}}
        """,
    )
    text, _doc, exp = convert(ini)
    assert "# unknown setting v_tresh = 2: ignored (did you mean v_thresh?)" in text
    assert "# duration is set in section [cell]; the SNN Toolbox reads it from [simulation]" in text
    assert exp.simulation.duration == 30.0 and exp.cell.v_thresh == 1.0
    assert text.count("restrictions") == 1


def test_missing_path_wd_uses_the_documented_default(tmp_path):
    ini = write(tmp_path, "[paths]\nfilename_ann = lenet\n")
    text = import_ini(ini)
    expected = Path.home() / ".snntoolbox" / "data" / "lenet" / "INI" / "lenet.h5"
    assert tomli.loads(text)["model"]["path"] == expected.as_posix()
    assert "path_wd is not set" in text


def test_values_are_never_evaluated(tmp_path, wd):
    marker = tmp_path / "pwned"
    ini = write(
        tmp_path,
        f"[paths]\npath_wd = {wd}\nfilename_ann = lenet\n"
        f"[output]\nlog_vars = __import__('pathlib').Path('{marker}').touch()\n",
    )
    with pytest.raises(ConfigError, match=r"\[output\] log_vars: expected a set"):
        import_ini(ini)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("section", "line", "pattern"),
    [("simulation", "duration = fast",
      r"\[simulation\] duration: expected a number, found 'fast'"),
     ("simulation", "batch_size = 2.5",
      r"\[simulation\] batch_size: expected an integer, found '2.5'"),
     ("tools", "parse = maybe", r"\[tools\] parse: expected True or False, found 'maybe'"),
     ("cell", "reset = Reset halfway", r"\[cell\] reset: expected one of 'Reset by subtraction'"),
     ("simulation", "simulator = nengo",
      r"\[simulation\] simulator: expected one of 'INI'.*'nengo'"),
     ("output", "plot_vars = 3", r"\[output\] plot_vars: expected a set of names"),
     ("parameter_sweep", "param_values = ['a']",
      r"\[parameter_sweep\] param_values\[0\]: expected a number, found \"'a'\"")],
)  # fmt: skip
def test_wrong_values_name_file_section_and_key(tmp_path, wd, section, line, pattern):
    ini = write(tmp_path, f"[paths]\npath_wd = {wd}\nfilename_ann = lenet\n[{section}]\n{line}\n")
    with pytest.raises(ConfigError, match=pattern) as err:
        import_ini(ini)
    assert str(ini) in str(err.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="no such SNN Toolbox settings file"):
        import_ini(tmp_path / "nope.ini")
    bad = write(tmp_path, "duration = 10\n")
    with pytest.raises(ConfigError, match="not a valid INI settings file") as err:
        import_ini(bad)
    assert str(bad) in str(err.value)
    twice = write(tmp_path, "[cell]\nv_thresh = 1\nv_thresh = 2\n", "twice.ini")
    with pytest.raises(ConfigError, match="v_thresh"):
        import_ini(twice)


def test_arithmetic_in_values_is_folded_never_evaluated() -> None:
    from snn_core.ini_import import _literal

    assert _literal("{'rescale': 1/255.}") == {"rescale": 1 / 255.0}
    assert _literal("[2*3, -1, 0.5+0.25]") == [6, -1, 0.75]
    assert _literal('__import__("os").getcwd()') == '__import__("os").getcwd()'
    assert _literal("1/0") == "1/0"
