"""Every spike code on the benchmark MNIST models: accuracy, time steps, operations.

For each model of :mod:`models` and each code, runs the experiment of :mod:`run` with
that code on the INI simulator and writes one table - top-1 accuracy, steps used per
sample, synaptic operations and energy per sample beside the ANN's MACs - to
``benchmarks/results/codes.{json,md}``.

Usage: ``python benchmarks/codes.py [--samples N] [--models avgpool bn_maxpool]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

#: (label, [code] table, [simulation] duration, early_stopping)
CODES = (
    ("temporal_mean_rate, T=200", {"name": "temporal_mean_rate"}, 200, False),
    ("temporal_mean_rate, T=50", {"name": "temporal_mean_rate"}, 50, False),
    ("temporal_pattern, 8 bits", {"name": "temporal_pattern", "num_bits": 8}, 200, True),
    ("temporal_pattern, 4 bits", {"name": "temporal_pattern", "num_bits": 4}, 200, True),
    ("ttfs, T=200", {"name": "ttfs"}, 200, True),
    ("ttfs_dyn_thresh, T=200", {"name": "ttfs_dyn_thresh"}, 200, True),
    ("ttfs_corrective, T=200 (no max pooling)", {"name": "ttfs_corrective"}, 200, True),
)


def run_code(
    name: str, model: Path, samples: int, label: str, code: dict, duration: int, early: bool
) -> dict:
    from run import experiment_file, toml_value

    from snn_core.config import load_experiment
    from snn_core.pipeline import run_experiment

    tag = f"codes-{name}-{label.replace(' ', '').replace(',', '-').replace('=', '')}"
    path = experiment_file(model, samples, duration, tag)
    text = path.read_text().replace(
        '[code]\nname = "temporal_mean_rate"\n',
        "[code]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in code.items()),
    )
    text = text.replace("top_k = 1\n", f"top_k = 1\nearly_stopping = {toml_value(early)}\n")
    path.write_text(text)
    res = run_experiment(load_experiment(path))
    ops = res["operations"]
    return {
        "model": name,
        "code": label,
        "samples": res["samples"],
        "ann_top1": res["ann"]["top1"],
        "snn_top1": res["snn"]["top1"][-1],
        "steps_used": ops.get("steps_used_per_sample"),
        "duration_steps": duration,
        "snn_synaptic_ops": ops["snn_synaptic_ops_per_sample"][-1],
        "snn_neuron_ops": (ops.get("snn_neuron_ops_per_sample") or [None])[-1],
        "ann_macs": ops["ann_macs_per_sample"],
        "snn_j": ops["energy"]["snn_j_per_sample"][-1],
        "ann_j": ops["energy"]["ann_j_per_sample"],
        "simulate_s": res["timing"]["simulate_s"],
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| model | code | samples | ANN top-1 | SNN top-1 | steps used (of) | synaptic ops "
        "| ANN MACs | SNN/ANN energy | simulate s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['code']} | {r['samples']} | {100 * r['ann_top1']:.2f}% "
            f"| {100 * r['snn_top1']:.2f}% | {r['steps_used']:.1f} ({r['duration_steps']}) "
            f"| {r['snn_synaptic_ops']:.3g} | {r['ann_macs']:.3g} | {r['snn_j'] / r['ann_j']:.2f} "
            f"| {r['simulate_s']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--models", nargs="+", default=["avgpool", "bn_maxpool"])
    parser.add_argument("--codes", nargs="+", type=int, help="indices into CODES")
    parser.add_argument("--out", default="codes", help="name of the results files")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from run import in_subprocess, prepare_data

    from snn_core.errors import SnnError

    prepare_data()
    rows: list[dict] = []
    refused: list[str] = []
    for name in args.models:
        # trained in its own process, so that this one starts TensorFlow with the
        # simulator's thread pools (snn_sim_ini.threads)
        model = Path(in_subprocess("--one", "train", name)["model"])
        for i, (label, code, duration, early) in enumerate(CODES):
            if args.codes and i not in args.codes:
                continue
            print(f"{name}: {label} on {args.samples} samples ...", flush=True)
            try:
                rows.append(run_code(name, model, args.samples, label, code, duration, early))
            except SnnError as exc:  # e.g. a code that cannot run this model's layers
                refused.append(f"{name}, {label}: {exc}")
                print(f"refused: {exc}", flush=True)
                continue
            print(table(rows[-1:]), flush=True)
            write(rows, refused, args.samples, args.out)  # each row lands as it is done
    print(write(rows, refused, args.samples, args.out))


def write(rows: list[dict], refused: list[str], samples: int, out: str) -> str:
    """Write ``results/<out>.{json,md}``; return the table."""
    (RESULTS / f"{out}.json").write_text(json.dumps({"rows": rows, "refused": refused}, indent=2))
    text = table(rows)
    notes = "".join(f"\n- {r}" for r in refused)
    (RESULTS / f"{out}.md").write_text(
        f"# Spike codes on the benchmark models ({samples} test samples)\n\n{text}\n"
        "\nEnergy: synaptic + neuron operations x 0.9 pJ against MACs x 4.6 pJ "
        "(Horowitz 2014, 45 nm; see docs/operations.md).\n"
        + (f"\nRefused:{notes}\n" if refused else "")
    )
    return text


if __name__ == "__main__":
    main()
