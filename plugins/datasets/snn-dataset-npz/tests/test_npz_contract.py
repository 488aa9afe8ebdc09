"""The core's dataset contract, run on the npz reader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from snn_dataset_npz.reader import NpzReader

from snn_core.testing.contracts import DatasetContract


class TestNpzReaderContract(DatasetContract):
    plugin_class = NpzReader
    hooks_module = "snn_dataset_npz.hooks"

    def make_options(self, tmp_path: Path) -> dict[str, Any]:
        rng = np.random.default_rng(0)
        data = tmp_path / "data"
        data.mkdir(exist_ok=True)
        np.savez(data / "x_test.npz", rng.uniform(size=(5, 4, 4, 1)).astype(np.float32))
        np.savez(data / "y_test.npz", np.array([0, 1, 2, 1, 0]))
        return {"path": "data"}
