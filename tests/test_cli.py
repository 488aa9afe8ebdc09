"""The ``snn`` command: exit codes, messages and output formats."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from snn_core.cli import main


def test_run_prints_a_summary(demo_registry, demo_experiment, capsys) -> None:
    assert main(["run", str(demo_experiment), "--set", "simulation.duration=20"]) == 0
    out = capsys.readouterr().out
    assert "SNN top-1" in out and "after 20 ms (40 samples)" in out


def test_run_json(demo_registry, demo_experiment, capsys) -> None:
    assert main(["run", str(demo_experiment), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["schema"] == 1


def test_config_check(demo_registry, demo_experiment, capsys) -> None:
    assert main(["config", "check", str(demo_experiment)]) == 0
    assert "valid" in capsys.readouterr().out
    assert not (demo_experiment.parent / "runs").exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("simulator.name=ghost", "no simulator named 'ghost'"),
        ('cell.reset="modulo"', "lacks reset:modulo"),
        ('cell.v_thresh="high"', "v_thresh: expected a number"),
    ],
)
def test_user_errors_exit_2_with_one_message(
    demo_registry, demo_experiment, capsys, override, message
) -> None:
    assert main(["config", "check", str(demo_experiment), "--set", override]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snn: error: ") and message in err and "Traceback" not in err


def test_debug_raises(demo_registry, demo_experiment) -> None:
    from snn_core.errors import UnknownPluginError

    with pytest.raises(UnknownPluginError):
        main(["--debug", "config", "check", str(demo_experiment), "--set", "code.name=x"])


def test_plugins_list_table_json_and_kind(demo_registry, capsys) -> None:
    assert main(["plugins", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["kind", "name", "distribution", "version", "module", "status"]
    assert any(
        line.split()[:3] == ["simulator", "demo_numpy", "snn-demo-plugins"] for line in lines
    )
    assert main(["plugins", "list", "--json", "--kind", "code"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["kind"], r["name"], r["status"]) for r in rows] == [("code", "demo_rate", "ok")]
    assert main(["plugins", "list", "--kind", "bogus"]) == 2


def test_missing_experiment_file_in_a_real_process(tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "snn_core.cli", "run", str(tmp_path / "nope.toml")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "no such experiment file" in proc.stderr and "Traceback" not in proc.stderr


def test_config_import_writes_a_valid_experiment(tmp_path, capsys) -> None:
    from snn_core.config import load_experiment

    (tmp_path / "lenet.h5").write_bytes(b"")
    ini = tmp_path / "settings.ini"
    ini.write_text(
        f"[paths]\npath_wd = {tmp_path}\nfilename_ann = lenet\n"
        "[simulation]\nduration = 50\nbatch_size = 32\n"
        "[cell]\nreset = Reset to zero\n"
    )
    out = tmp_path / "exp.toml"
    assert main(["config", "import", str(ini), "-o", str(out)]) == 0
    exp = load_experiment(out)
    assert exp.simulation.duration == 50.0 and exp.simulation.batch_size == 32
    assert exp.cell.reset == "zero" and exp.model.path == tmp_path / "lenet.h5"
    assert main(["config", "import", str(ini), "-o", str(out)]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert main(["config", "import", str(ini)]) == 0
    assert "[simulation]" in capsys.readouterr().out
