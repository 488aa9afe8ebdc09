"""The full MNIST set from ``../shared/data/mnist`` (IDX files, gzipped)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def read_idx(path: Path) -> np.ndarray:
    """Read one gzipped IDX file (big-endian header, then raw uint8 values)."""
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    magic, ndim = struct.unpack(">HxB", data[:4])[0], data[3]
    if magic != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic)")
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist(folder: Path = DEFAULT_DIR) -> tuple[np.ndarray, ...]:
    """Return ``x_train, y_train, x_test, y_test``; images float32 in [0, 1], (N, 28, 28, 1).

    Raises
    ------
    FileNotFoundError
        Naming the folder, if the IDX files are not there.
    """
    names = [
        "train-images.idx3-ubyte.gz",
        "train-labels.idx1-ubyte.gz",
        "t10k-images.idx3-ubyte.gz",
        "t10k-labels.idx1-ubyte.gz",
    ]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: MNIST files missing: {', '.join(missing)}")
    xtr, ytr, xte, yte = (read_idx(folder / n) for n in names)
    scale = np.float32(1 / 255)
    return (
        xtr[..., None].astype(np.float32) * scale,
        ytr.astype(np.int64),
        xte[..., None].astype(np.float32) * scale,
        yte.astype(np.int64),
    )
