"""The experiment file: structure, defaults and error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from snn_core.config import Cell, Simulation, experiment_from_dict, load_experiment, structure
from snn_core.errors import ConfigError


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "m.keras"
    path.write_bytes(b"")
    return path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.toml"
    path.write_text('[model]\npath = "m.keras"\n' + text)
    return path


def test_defaults_and_relative_paths(tmp_path, model) -> None:
    exp = load_experiment(write(tmp_path, "[simulation]\nduration = 50\n"))
    assert exp.model.path == model
    assert exp.model.parsed == tmp_path / "m_parsed.h5"
    assert exp.simulation.duration == 50.0 and isinstance(exp.simulation.duration, float)
    assert exp.simulation.num_steps == 50
    assert exp.code.name == "temporal_mean_rate" and exp.simulator.name == "ini"
    assert exp.cell == Cell()


def test_plugin_options_are_kept_for_the_plugin(tmp_path, model) -> None:
    exp = load_experiment(write(tmp_path, '[code]\nname = "x"\npoisson_input = true\n'))
    assert exp.code.name == "x" and dict(exp.code.options) == {"poisson_input": True}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[simulaton]\nduration = 5\n", r"unknown table \[simulaton\]; did you mean 'simulation'"),
        ("[cell]\nv_thres = 1\n", r"\[cell\] unknown key 'v_thres'; did you mean 'v_thresh'"),
        ('[simulation]\nduration = "long"\n', r"\[simulation\] duration: expected a number"),
        ("[simulation]\nbatch_size = 1.5\n", r"batch_size: expected an integer"),
        ("[simulation]\nduration = -1\n", r"\[simulation\] duration: .*must be > 0"),
        ('[cell]\nreset = "sub"\n', r"reset: expected one of 'subtract', 'zero', 'modulo'"),
        ("[stages]\nparse = 1\n", r"\[stages\] parse: expected true or false"),
        ('[output]\nlog_vars = "all"\n', r"log_vars: expected a list of a string"),
        ('[sweep]\nparam = "cell.v_thresh"\n', r"needs a non-empty values list"),
        ("[code]\nname = 3\n", r"\[code\] name: expected a plugin name"),
    ],
)
def test_errors_name_table_key_and_valid_values(tmp_path, model, text, message) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_experiment(path)
    assert str(path) in str(info.value)


def test_missing_files(tmp_path) -> None:
    with pytest.raises(ConfigError, match="no such experiment file"):
        load_experiment(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_experiment(bad)
    with pytest.raises(ConfigError, match=r"\[model\] path: .*missing.keras does not exist"):
        experiment_from_dict({"model": {"path": "missing.keras"}}, source=tmp_path / "e.toml")
    with pytest.raises(ConfigError, match=r"\[model\] path is required"):
        experiment_from_dict({}, source=tmp_path / "e.toml")
    with pytest.raises(ConfigError, match="parse = false, but the parsed network"):
        experiment_from_dict(
            {"model": {"path": "x.keras"}, "stages": {"parse": False}}, source=tmp_path / "e.toml"
        )


def test_a_table_must_be_a_table(tmp_path, model) -> None:
    with pytest.raises(ConfigError, match=r"\[simulation\] must be a table"):
        experiment_from_dict(
            {"model": {"path": "m.keras"}, "simulation": 3}, source=tmp_path / "e.toml"
        )


def test_overrides(tmp_path, model) -> None:
    exp = load_experiment(
        write(tmp_path, ""), overrides={"cell.v_thresh": 0.5, "code.input_rate": 500}
    )
    assert exp.cell.v_thresh == 0.5
    assert exp.code.options["input_rate"] == 500
    with pytest.raises(ConfigError, match="table.key"):
        load_experiment(write(tmp_path, ""), overrides={"v_thresh": 1})


def test_structure_tuples_and_optional_paths(tmp_path) -> None:
    sim = structure(
        Simulation,
        {"sample_idxs_to_test": [3, 1], "clamp_indices": "c.json"},
        where="[simulation]",
        base=tmp_path,
    )
    assert sim.sample_idxs_to_test == (3, 1)
    assert sim.clamp_indices == tmp_path / "c.json"
    with pytest.raises(ConfigError, match=r"sample_idxs_to_test\[1\]: expected an integer"):
        structure(Simulation, {"sample_idxs_to_test": [3, "a"]}, where="[simulation]")
