"""Metrics of a run and the files that hold them (``results.json`` and plots).

``results.json`` is a versioned contract (DESIGN.md section 5): fields are added, never
renamed. :data:`SCHEMA` is bumped only for a change that breaks readers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA = 1


def topk_hits(scores: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Whether each label is among the ``k`` highest scores.

    Parameters
    ----------
    scores
        ``(..., num_classes)`` scores; any leading axes (e.g. batch, time).
    labels
        Integer labels broadcastable to ``scores.shape[:-1]``.

    Returns
    -------
    Boolean array of shape ``scores.shape[:-1]``. Ties are broken as ``argmax`` breaks
    them (the lower class index ranks first), so an output with no information (all
    scores equal, e.g. before the first spike) is a hit only for the first k classes.
    """
    labels = np.broadcast_to(np.asarray(labels), scores.shape[:-1])
    label_score = np.take_along_axis(scores, labels[..., None], axis=-1)
    classes = np.arange(scores.shape[-1])
    ahead = (scores > label_score) | ((scores == label_score) & (classes < labels[..., None]))
    return ahead.sum(axis=-1) < k


class AccuracyCounter:
    """Accumulates top-1 and top-k hits per time step over batches.

    Parameters
    ----------
    k
        The k of top-k.
    """

    def __init__(self, k: int) -> None:
        self.k = k
        self.samples = 0
        self.top1: np.ndarray | None = None
        self.topk: np.ndarray | None = None
        self.timesteps: np.ndarray | None = None
        self.predictions: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []

    def add(self, scores: np.ndarray, labels: np.ndarray, timesteps: np.ndarray) -> None:
        """Count one batch: ``scores`` is ``(batch, steps, classes)``."""
        labels = np.asarray(labels).astype(np.int64)
        hits1 = topk_hits(scores, labels[:, None], 1).sum(axis=0)
        hitsk = topk_hits(scores, labels[:, None], self.k).sum(axis=0)
        if self.top1 is None:
            self.top1, self.topk, self.timesteps = hits1, hitsk, np.asarray(timesteps)
        else:
            self.top1 = self.top1 + hits1
            self.topk = self.topk + hitsk
        self.samples += len(labels)
        self.predictions.append(np.argmax(scores[:, -1], axis=-1))
        self.labels.append(labels)

    @property
    def final_top1(self) -> float:
        """Top-1 accuracy at the last step over the samples counted so far."""
        if not self.samples or self.top1 is None:
            return float("nan")
        return float(self.top1[-1] / self.samples)

    def as_dict(self) -> dict[str, Any]:
        """The ``snn`` block of ``results.json``."""
        if self.top1 is None or self.topk is None or self.timesteps is None:
            return {"timesteps": [], "top1": [], "topk": [], "k": self.k}
        return {
            "timesteps": [float(t) for t in self.timesteps],
            "top1": [float(h / self.samples) for h in self.top1],
            "topk": [float(h / self.samples) for h in self.topk],
            "k": self.k,
        }


def ann_accuracy(outputs: np.ndarray, labels: np.ndarray, k: int) -> dict[str, float]:
    """Top-1 and top-k accuracy of ANN outputs ``(samples, classes)``."""
    labels = np.asarray(labels).astype(np.int64)
    return {
        "top1": float(topk_hits(outputs, labels, 1).mean()),
        "topk": float(topk_hits(outputs, labels, k).mean()),
        "k": k,
    }


def write_json(path: Path, data: Mapping[str, Any]) -> Path:
    """Write ``data`` as JSON atomically (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_default) + "\n")
    os.replace(tmp, path)
    return path


def _default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def plot_error_t(
    results: Mapping[str, Any], path: Path, title: str = "", rc: Mapping[str, Any] | None = None
) -> Path:
    """Plot the SNN's top-1 (and top-k) error against simulated time, with the ANN's
    error as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    snn = results["snn"]
    with plt.rc_context(dict(rc or {})):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        t = np.asarray(snn["timesteps"])
        ax.plot(t, 100 * (1 - np.asarray(snn["top1"])), label="SNN top-1 error", color="C0")
        if snn["k"] > 1:
            ax.plot(
                t,
                100 * (1 - np.asarray(snn["topk"])),
                label=f"SNN top-{snn['k']} error",
                color="C1",
            )
        ann = results.get("ann") or {}
        if "top1" in ann:
            ax.axhline(100 * (1 - ann["top1"]), color="C0", ls="--", label="ANN top-1 error")
            if snn["k"] > 1:
                ax.axhline(
                    100 * (1 - ann["topk"]), color="C1", ls="--", label=f"ANN top-{snn['k']} error"
                )
        ax.set_xlabel("simulated time (ms)")
        ax.set_ylabel("error (%)")
        ax.set_ylim(0, min(100, max(5, 100 * (1 - min(snn["top1"] or [0])) * 1.05)))
        ax.set_title(title or f"{results.get('samples', '?')} samples")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return path


def plot_operations(
    results: Mapping[str, Any], path: Path, rc: Mapping[str, Any] | None = None
) -> Path | None:
    """Plot accuracy against synaptic operations per sample, with the ANN's MACs."""
    ops = results.get("operations", {}).get("snn_synaptic_ops_per_sample")
    if not ops:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context(dict(rc or {})):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        ax.plot(ops, 100 * np.asarray(results["snn"]["top1"]), label="SNN top-1")
        macs = results["operations"].get("ann_macs_per_sample")
        if macs and "top1" in results.get("ann", {}):
            ax.scatter([macs], [100 * results["ann"]["top1"]], color="C3", label="ANN (MACs)")
        ax.set_xscale("log")
        ax.set_xlabel("operations per sample")
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return path


def plot_sweep(
    param: str, values: list[Any], top1: list[float], path: Path, logscale: bool
) -> Path:
    """Plot final SNN accuracy against the swept parameter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(values, [100 * a for a in top1], marker="o")
    if logscale:
        ax.set_xscale("log")
    ax.set_xlabel(param)
    ax.set_ylabel("SNN top-1 accuracy (%)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
