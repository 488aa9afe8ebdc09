"""Event-camera benchmark: N-MNIST made from the full MNIST set with a simulated DVS.

1. ``examples/dvs/make_dataset.py --mnist ../shared/data/mnist``: every digit moved in
   three saccades in front of a simulated DVS, one AEDAT 3.1 recording per digit, into
   ``benchmarks/results/dvs_<train>_<test>/{train,test}/<class>/`` (once; reused).
2. ``examples/dvs/train.py --data``: the example's CNN trained on the accumulated frames
   of the training recordings (once, cached beside them).
3. The example's experiment (its ``[dataset]`` and ``[cell]`` tables: 3 ms frames,
   ``rectified_sum``, one frame per 1 ms step, membranes starting at rest) on the test
   recordings: percentile normalization on training recordings, rate code, INI
   simulator, batch 100; the 100 frames of a recording take 100 steps, and
   ``--duration`` (150) runs on without input so that the charge the last frames left
   in the network comes out.

Writes ``benchmarks/results/dvs.{json,md}``: ANN top-1 on the accumulated frames of the
same test samples, SNN top-1 at 25, 50, 75, 100 and 150 steps, simulated sample-steps per
second, and the seconds of each stage.

Usage: ``python benchmarks/dvs.py [--num-train N] [--num-test N] [--norm-samples N]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import run_tables, toml_table  # noqa: E402

ROOT = HERE.parent
EXAMPLE = ROOT / "examples" / "dvs"
RESULTS = HERE / "results"
CHECKPOINTS = (25, 50, 75, 100, 150)


def run_script(*args: str) -> None:
    """Run an example script with this interpreter; stop with its exit status if it fails."""
    proc = subprocess.run([sys.executable, *args], check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed with exit status {proc.returncode}")


def norm_subset(data: Path, count: int) -> Path:
    """A folder of links to ``count`` training recordings spread evenly over the classes
    (normalization needs a few thousand samples, not all 60,000)."""
    target = data / f"norm_{count}"
    if target.is_dir():
        return target
    files = sorted((data / "train").glob("*/*.aedat"))
    pick = np.linspace(0, len(files) - 1, min(count, len(files))).round().astype(int)
    for i in np.unique(pick):
        src = files[i]
        link = target / src.parent.name / src.name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(src)
    return target


def experiment_file(data: Path, norm: Path, samples: int, duration: int) -> Path:
    """The example's experiment with this benchmark's paths."""
    example = tomllib.loads((EXAMPLE / "experiment.toml").read_text())
    dataset = {**example["dataset"], "path": str(data / "test"), "norm_path": str(norm)}

    path = RESULTS / "dvs.toml"
    path.write_text(
        toml_table("model", {"path": str(data / "model.keras")})
        + toml_table("dataset", dataset)
        + toml_table("cell", example.get("cell", {}))
        + run_tables(duration, samples, "dvs")
    )
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", type=Path, default=ROOT.parent / "shared" / "data" / "mnist")
    parser.add_argument("--num-train", type=int, default=60_000)
    parser.add_argument("--num-test", type=int, default=10_000)
    parser.add_argument("--norm-samples", type=int, default=5_000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--duration", type=int, default=150, help="steps (ms) per sample")
    args = parser.parse_args(argv)
    if not (args.mnist / "t10k-images.idx3-ubyte.gz").is_file():
        raise SystemExit(f"{args.mnist}: the MNIST IDX files are not there (see its README)")
    data = RESULTS / f"dvs_{args.num_train}_{args.num_test}"
    timing: dict[str, float] = {}

    t0 = time.perf_counter()
    if not (data / "test").is_dir():
        run_script(
            str(EXAMPLE / "make_dataset.py"),
            "--mnist",
            str(args.mnist),
            "--num-train",
            str(args.num_train),
            "--num-test",
            str(args.num_test),
            "--out",
            str(data),
        )
        timing["make_dataset_s"] = time.perf_counter() - t0  # (absent when reused)
    t0 = time.perf_counter()
    run_script(str(EXAMPLE / "train.py"), "--data", str(data), "--epochs", str(args.epochs))
    timing["train_s"] = time.perf_counter() - t0

    from snn_core.config import load_experiment
    from snn_core.pipeline import run_experiment

    norm = norm_subset(data, args.norm_samples)
    exp = load_experiment(experiment_file(data, norm, args.num_test, args.duration))
    t0 = time.perf_counter()
    results = run_experiment(exp)
    timing["snn_run_s"] = time.perf_counter() - t0
    snn = results["snn"]
    times = np.asarray(snn["timesteps"])
    acc = {t: snn["top1"][int(np.searchsorted(times, t))] for t in CHECKPOINTS if t <= times[-1]}
    report = {
        "num_train": args.num_train,
        "num_test": results["samples"],
        "ann_input_top1": results.get("ann_input_model", {}).get("top1"),
        "ann_top1": results["ann"]["top1"],
        "snn_top1_at": acc,
        "sample_steps_per_s": results["samples"] * len(times) / results["timing"]["simulate_s"],
        "timing": {**timing, **results["timing"]},
        "run_dir": results["run_dir"],
    }
    (RESULTS / "dvs.json").write_text(json.dumps(report, indent=2))
    nan = float("nan")
    lines = [
        "| recordings (train / test) | ANN top-1 | "
        + " | ".join(f"SNN T={t}" for t in CHECKPOINTS)
        + " | sample-steps/s |",
        "|---" * (3 + len(CHECKPOINTS)) + "|",
        f"| {args.num_train} / {results['samples']} | {100 * results['ann']['top1']:.2f} | "
        + " | ".join(f"{100 * acc.get(t, nan):.2f}" for t in CHECKPOINTS)
        + f" | {report['sample_steps_per_s']:.0f} |",
    ]
    (RESULTS / "dvs.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
