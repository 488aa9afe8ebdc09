"""The pipeline, run end to end with the demo plugins (registered in process)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from snn_core.config import load_experiment
from snn_core.errors import CapabilityError, ConfigError, UnknownPluginError
from snn_core.pipeline import bind, run_experiment


def test_a_run_writes_results_plots_and_the_resolved_experiment(
    demo_registry, demo_experiment
) -> None:
    results = run_experiment(load_experiment(demo_experiment))
    run_dir = demo_experiment.parent / "runs" / "demo"
    on_disk = json.loads((run_dir / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results))
    assert on_disk["schema"] == 1 and on_disk["status"] == "finished"
    assert on_disk["samples"] == 40
    assert on_disk["snn"]["timesteps"] == [float(t) for t in range(1, 31)]
    assert len(on_disk["snn"]["top1"]) == 30
    # blobs are easy: the spiking network must end up as good as the ANN
    assert on_disk["ann"]["top1"] > 0.9
    assert on_disk["snn"]["top1"][-1] >= on_disk["ann"]["top1"] - 0.05
    assert on_disk["snn"]["top1"][0] <= on_disk["snn"]["top1"][-1]
    assert on_disk["timing"]["simulate_s"] > 0
    assert on_disk["plugins"]["snn-demo-plugins"] == "1.2.3"
    assert on_disk["operations"]["ann_macs_per_sample"] == 12
    assert (run_dir / "error_t.png").stat().st_size > 1000
    resolved = (run_dir / "experiment.toml").read_text()
    assert 'name = "demo_numpy"' in resolved and "record_every = 1" in resolved
    assert "v_thresh = 1.0" in resolved
    assert (demo_experiment.parent / "tiny_parsed.h5").is_file()


def test_a_second_run_never_overwrites_the_first(demo_registry, demo_experiment) -> None:
    run_experiment(load_experiment(demo_experiment))
    first = demo_experiment.parent / "runs" / "demo" / "results.json"
    before = first.read_bytes()
    second = run_experiment(load_experiment(demo_experiment))
    assert second["run_dir"].endswith("demo-2")
    assert first.read_bytes() == before
    third = run_experiment(load_experiment(demo_experiment, {"output.overwrite": True}))
    assert third["run_dir"].endswith("demo")


def test_parse_off_reuses_the_parsed_network(demo_registry, demo_experiment) -> None:
    run_experiment(load_experiment(demo_experiment))
    (demo_experiment.parent / "tiny.h5").unlink()
    exp = load_experiment(demo_experiment, {"stages.parse": False})
    results = run_experiment(exp)
    assert results["snn"]["top1"][-1] > 0.9


def test_sweep_writes_one_folder_per_value(demo_registry, demo_experiment) -> None:
    exp = load_experiment(
        demo_experiment, {"sweep.param": "cell.v_thresh", "sweep.values": [0.5, 40.0]}
    )
    summary = run_experiment(exp)
    assert [r["value"] for r in summary["runs"]] == [0.5, 40.0]
    for row in summary["runs"]:
        assert (Path(row["run_dir"]) / "results.json").is_file()
    assert (demo_experiment.parent / "runs" / "demo" / "sweep.png").is_file()
    # a high threshold needs more time: fewer correct answers after 30 steps
    assert summary["runs"][0]["top1"] > summary["runs"][1]["top1"]


def test_bad_sweep_key_fails_before_any_folder_is_made(demo_registry, demo_experiment) -> None:
    exp = load_experiment(demo_experiment, {"sweep.param": "cell.v_thres", "sweep.values": [1]})
    with pytest.raises(ConfigError, match="v_thres"):
        run_experiment(exp)
    assert not (demo_experiment.parent / "runs").exists()


def test_capability_mismatch_is_named_before_work_starts(demo_registry, demo_experiment) -> None:
    exp = load_experiment(demo_experiment, {"cell.reset": "modulo"})
    with pytest.raises(CapabilityError, match=r"lacks reset:modulo \(needed by \[cell\]"):
        run_experiment(exp)
    assert not (demo_experiment.parent / "runs").exists()


def test_unknown_plugin_and_bad_plugin_option(demo_registry, demo_experiment) -> None:
    with pytest.raises(UnknownPluginError, match="no simulator named 'ini'"):
        bind(load_experiment(demo_experiment, {"simulator.name": "ini"}))
    with pytest.raises(ConfigError, match=r"\[simulator\] \(simulator 'demo_numpy'\) unknown key"):
        bind(load_experiment(demo_experiment, {"simulator.record_evry": 2}))


def test_sample_selection(demo_registry, demo_experiment) -> None:
    res = run_experiment(
        load_experiment(demo_experiment, {"simulation.sample_idxs_to_test": [5, 3, 39]})
    )
    assert res["samples"] == 3
    with pytest.raises(ConfigError, match="index 40 is out of range"):
        run_experiment(
            load_experiment(
                demo_experiment, {"simulation.sample_idxs_to_test": [40], "output.overwrite": True}
            )
        )


def test_a_failing_stage_keeps_what_was_measured(demo_registry, demo_experiment) -> None:
    from snn_demo_plugins.hooks import NumpySimulator

    original = NumpySimulator.run_batch

    def fail(self, x, idx):
        raise RuntimeError("simulator crashed")

    NumpySimulator.run_batch = fail
    try:
        with pytest.raises(RuntimeError):
            run_experiment(load_experiment(demo_experiment))
    finally:
        NumpySimulator.run_batch = original
    saved = json.loads((demo_experiment.parent / "runs/demo/results.json").read_text())
    assert saved["status"] == "failed" and "simulator crashed" in saved["error"]
    assert saved["ann"]["top1"] > 0.9


def test_the_simulator_configures_the_process_before_any_stage(
    demo_registry, demo_experiment, monkeypatch
) -> None:
    """``configure_process`` runs before the data set is opened (while no framework has
    started), and ``runtime`` facts land in results.json."""
    from snn_demo_plugins.hooks import BlobsReader, NumpySimulator

    calls = []
    opened = BlobsReader.open
    monkeypatch.setattr(
        NumpySimulator,
        "configure_process",
        lambda self, simulation: calls.append(("configure", simulation.batch_size)),
    )
    monkeypatch.setattr(
        BlobsReader, "open", lambda self, base: calls.append("open") or opened(self, base)
    )
    monkeypatch.setattr(NumpySimulator, "runtime", lambda self: {"threads": 3})
    results = run_experiment(load_experiment(demo_experiment))
    assert calls == [("configure", 16), "open"]
    assert results["simulator_runtime"] == {"threads": 3}


def test_hooks_report_progress(demo_registry, demo_experiment) -> None:
    import types

    from snn_core import hookimpl

    seen = []
    reporter = types.ModuleType("reporter")
    reporter.snn_batch_done = hookimpl(
        lambda batch_index, num_batches, samples_done, top1: seen.append(
            (batch_index, num_batches, samples_done)
        )
    )
    reporter.snn_run_finished = hookimpl(lambda results, run_dir: seen.append("done"))
    demo_registry.register(reporter, name="reporter")
    run_experiment(load_experiment(demo_experiment))
    assert seen == [(0, 3, 16), (1, 3, 32), (2, 3, 40), "done"]


def test_serialise_only_stops_after_convert(demo_registry, demo_experiment) -> None:
    res = run_experiment(load_experiment(demo_experiment, {"stages.serialise_only": True}))
    assert "snn" not in res and res["exported"] == []
    assert res["status"] == "finished"


def test_topk_breaks_ties_like_argmax() -> None:
    from snn_core.results import topk_hits

    scores = np.array([[3.0, 3.0, 1.0], [0.0, 2.0, 1.0], [0.0, 0.0, 0.0]])
    labels = np.array([1, 2, 2])
    assert topk_hits(scores, labels, 1).tolist() == [False, False, False]
    assert topk_hits(scores, labels, 2).tolist() == [True, True, False]
    assert topk_hits(scores, labels, 3).tolist() == [True, True, True]
    assert (topk_hits(scores, labels, 1) == (scores.argmax(-1) == labels)).all()


def test_a_temporal_data_set_feeds_frames(demo_registry, demo_experiment) -> None:
    """The ANN sees the accumulated frames; the simulator gets input:frames instead of
    the code's own input encoding."""
    exp = load_experiment(demo_experiment, {"dataset.frames": 10, "simulation.duration": 40})
    res = run_experiment(exp)
    assert res["ann"]["top1"] > 0.9  # the sum of the frames is the static sample
    assert res["snn"]["top1"][-1] > 0.9


def test_a_simulator_without_frames_input_is_refused(demo_registry, demo_experiment) -> None:
    from snn_demo_plugins.hooks import NumpySimulator

    original = NumpySimulator.capabilities
    NumpySimulator.capabilities = original - {"input:frames"}
    try:
        exp = load_experiment(demo_experiment, {"dataset.frames": 10})
        with pytest.raises(CapabilityError, match=r"input:frames \(needed by code"):
            run_experiment(exp)
    finally:
        NumpySimulator.capabilities = original
