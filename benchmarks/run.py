"""Accuracy, speed and memory benchmarks on the full MNIST set (``make bench``).

Trains (once, cached) the two benchmark models of :mod:`models`, converts each with the
rate code on the INI simulator and reports, in ``benchmarks/results/report.{json,md}``:

- SNN top-1 accuracy at T = 25, 50, 100, 200 beside the ANN's, on the 10,000 test images;
- simulated sample-time-steps per second at batch 100, and the cost of one SNN step as a
  ratio of one forward pass of the same parsed ANN on the same batch (one process);
- peak memory of each run (its own process), and of normalization with 60,000 against
  6,000 normalization samples.

Usage: ``python benchmarks/run.py [--samples N] [--models avgpool bn_maxpool]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DATA = RESULTS / "data"
CHECKPOINTS = (25, 50, 100, 200)


def peak_rss_mb() -> float:
    """Peak resident memory of this process, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare_data(norm_samples: int = 10_000) -> None:
    """Write the npz files the experiments read (once)."""
    from mnist_data import load_mnist

    if (DATA / "x_norm_60000.npy").is_file():
        return
    DATA.mkdir(parents=True, exist_ok=True)
    xtr, _, xte, yte = load_mnist()
    np.savez(DATA / "x_test.npz", xte)
    np.savez(DATA / "y_test.npz", yte)
    np.savez(DATA / "x_norm.npz", xtr[:norm_samples])
    for n in (6_000, 60_000):
        np.save(DATA / f"x_norm_{n}.npy", xtr[:n])


def toml_value(v: object) -> str:
    """``v`` written as a TOML value (strings quoted, booleans lower case)."""
    return str(v).lower() if isinstance(v, bool) else json.dumps(v)


def toml_table(name: str, values: dict) -> str:
    """A TOML table ``[name]`` holding ``values``."""
    return f"[{name}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in values.items())


def run_tables(duration: int, samples: int, label: str) -> str:
    """The TOML tables every benchmark experiment shares: percentile normalization, rate
    code on INI, batch 100, results in ``results/runs/<label>`` (replaced on a rerun)."""
    return f"""
[normalize]
method = "percentile"
percentile = 99.9

[code]
name = "temporal_mean_rate"

[simulator]
name = "ini"

[simulation]
duration = {duration}
dt = 1
batch_size = 100
num_to_test = {samples}
top_k = 1

[output]
dir = "{RESULTS / "runs" / label}"
runlabel = "{label}"
overwrite = true
plot_vars = ["error_t"]
"""


def experiment_file(model: Path, samples: int, duration: int, label: str) -> Path:
    """An experiment TOML for ``model`` on the benchmark data."""
    path = RESULTS / f"{label}.toml"
    path.write_text(
        f"""
[model]
path = "{model}"
parsed = "{RESULTS / (label + "_parsed.h5")}"

[dataset]
reader = "npz"
path = "{DATA}"
"""
        + run_tables(duration, samples, label)
    )
    return path


def train(name: str) -> Path:
    """Train model ``name`` if its cached file is missing (called in its own process, so
    that the benchmark's run starts TensorFlow with the simulator's thread pools)."""
    from mnist_data import load_mnist
    from models import trained

    xtr, ytr, _, _ = load_mnist()
    return trained(name, xtr, ytr)


def bench_model(name: str, samples: int, duration: int) -> dict:
    """Accuracy and speed of one model (called in its own process)."""
    from mnist_data import load_mnist
    from models import trained
    from snn_sim_ini.bench import step_vs_forward

    from snn_core.config import load_experiment
    from snn_core.network import Network
    from snn_core.pipeline import run_experiment

    xtr, ytr, xte, _ = load_mnist()
    model = trained(name, xtr, ytr)
    exp = load_experiment(experiment_file(model, samples, duration, name))
    results = run_experiment(exp)
    snn = results["snn"]
    times = np.asarray(snn["timesteps"])
    acc = {
        int(t): snn["top1"][int(np.searchsorted(times, t))] for t in CHECKPOINTS if t <= times[-1]
    }
    network = Network.load(Path(results["run_dir"]) / "network.h5")
    speed = step_vs_forward(network, xte[:100], steps=100, repeats=7)
    steps_per_s = results["samples"] * len(times) / results["timing"]["simulate_s"]
    return {
        "model": name,
        "samples": results["samples"],
        "ann_input_top1": results.get("ann_input_model", {}).get("top1"),
        "ann_top1": results["ann"]["top1"],
        "snn_top1_at": acc,
        "gap_points_at": {t: 100 * (results["ann"]["top1"] - a) for t, a in acc.items()},
        "sample_steps_per_s": steps_per_s,
        "snn_step_s": speed["snn_step_s"],
        "ann_forward_s": speed["ann_forward_s"],
        "step_over_forward": speed["ratio"],
        "lane_groups": speed["groups"],
        "simulator_runtime": results.get("simulator_runtime"),
        "simulate_s": results["timing"]["simulate_s"],
        "normalize_s": results["timing"].get("normalize_s"),
        "peak_rss_mb": peak_rss_mb(),
        "run_dir": results["run_dir"],
    }


def bench_normalization(samples: int) -> dict:
    """Peak memory of percentile normalization over ``samples`` images (own process),
    streamed from disk by the npz reader as a run would."""
    from snn_dataset_npz.reader import NpzReader
    from snn_normalizer_percentile import PercentileNormalizer

    from snn_core.config import structure
    from snn_core.network import Network

    network = Network.load(RESULTS / "bn_maxpool_parsed.h5")
    options = structure(
        NpzReader.Options, {"path": str(DATA), "x_norm": f"x_norm_{samples}.npy"}, where="[bench]"
    )
    dataset = NpzReader(options).open(DATA)
    base = peak_rss_mb()
    t0 = time.perf_counter()
    PercentileNormalizer().normalize(network, lambda: dataset.norm_batches(256), cache_dir=None)
    return {
        "samples": samples,
        "peak_rss_mb": peak_rss_mb(),
        "baseline_rss_mb": base,
        "seconds": time.perf_counter() - t0,
    }


def in_subprocess(*args: str) -> dict:
    """Run this script's ``--one`` mode in a fresh process and return its JSON line."""
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"benchmark step {args} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(rows: list[dict], norm: list[dict]) -> str:
    lines = [
        "| model | ANN top-1 | "
        + " | ".join(f"SNN T={t}" for t in CHECKPOINTS)
        + " | gap T=50 (pts) | gap T=100 (pts) | sample-steps/s | step/forward | peak MiB |",
        "|---" * (9 + len(CHECKPOINTS) - 4) + "|",
    ]
    for r in rows:
        acc = {int(t): a for t, a in r["snn_top1_at"].items()}
        gap = {int(t): g for t, g in r["gap_points_at"].items()}
        nan = float("nan")
        accs = " | ".join(f"{100 * acc.get(t, nan):.2f}" for t in CHECKPOINTS)
        lines.append(
            f"| {r['model']} | {100 * r['ann_top1']:.2f} | {accs} | "
            f"{gap.get(50, nan):.2f} | {gap.get(100, nan):.2f} | "
            f"{r['sample_steps_per_s']:.0f} | {r['step_over_forward']:.2f} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
    if len(norm) == 2:
        small, big = sorted(norm, key=lambda n: n["samples"])
        lines += [
            "",
            f"Normalization peak memory: {small['peak_rss_mb']:.0f} MiB with {small['samples']} "
            f"samples, {big['peak_rss_mb']:.0f} MiB with {big['samples']} "
            f"(ratio {big['peak_rss_mb'] / small['peak_rss_mb']:.3f}).",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000, help="test samples per model")
    parser.add_argument("--duration", type=int, default=200)
    parser.add_argument("--models", nargs="+", default=["avgpool", "bn_maxpool"])
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    if args.one:
        kind, value = args.one
        if kind == "train":
            out = {"model": str(train(value))}
        elif kind == "model":
            out = bench_model(value, args.samples, args.duration)
        else:
            out = bench_normalization(int(value))
        print(json.dumps(out))
        return
    prepare_data()
    rows = []
    for name in args.models:
        print(f"benchmarking {name} on {args.samples} samples, T = {args.duration} ...", flush=True)
        in_subprocess("--one", "train", name)  # so that the run starts without TensorFlow
        rows.append(
            in_subprocess(
                "--samples",
                str(args.samples),
                "--duration",
                str(args.duration),
                "--one",
                "model",
                name,
            )
        )
    norm = []
    if "bn_maxpool" in args.models:
        norm = [in_subprocess("--one", "norm", str(n)) for n in (6_000, 60_000)]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "report.json").write_text(
        json.dumps({"models": rows, "normalization": norm}, indent=2)
    )
    text = report(rows, norm)
    (RESULTS / "report.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
