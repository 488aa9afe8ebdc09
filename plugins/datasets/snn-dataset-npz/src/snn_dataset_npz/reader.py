"""The ``npz`` dataset reader: ``x_test``, ``y_test`` and optional ``x_norm`` numpy files.

The folder named by ``[dataset] path`` holds (the SNN Toolbox's ``dataset_format = npz``):

``x_test.npz``
    The test samples, shape ``(N, *sample_shape)``, channels last (or channels first with
    ``channels_first = true``).
``y_test.npz``
    Their labels: one-hot ``(N, classes)`` or class indices ``(N,)``.
``x_norm.npz`` (optional)
    Samples for data-based normalization (the training set or a subset of it).

Each file holds one array (``np.savez(f, x)`` stores it as ``arr_0``), or several of
which one is named after its role (``x_test``, ``y_test``, ``x_norm``), its file's stem, or
``arr_0``. Plain ``.npy`` files of the same names are accepted too. Nothing is loaded whole:
see :mod:`snn_dataset_npz.arrays` for how each kind of file is streamed.

Example
-------
::

    [dataset]
    reader = "npz"
    path = "data"
    channels_first = false
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import attrs
import numpy as np

from snn_core.errors import DatasetError
from snn_core.interfaces import Dataset, DatasetReader
from snn_dataset_npz.arrays import StoredArray, open_npy, open_npz


def _find(folder: Path, name: str) -> Path | None:
    """``folder/name``, or the same stem with the other suffix (.npz <-> .npy), or None."""
    candidates = [folder / name]
    stem, suffix = Path(name).stem, Path(name).suffix
    if suffix in (".npz", ".npy"):
        candidates.append(folder / (stem + (".npy" if suffix == ".npz" else ".npz")))
    else:
        candidates += [folder / (name + ".npz"), folder / (name + ".npy")]
    return next((c for c in candidates if c.is_file()), None)


def open_array(path: Path, role: str) -> StoredArray:
    """Open ``path`` (.npy, or .npz holding the array of ``role``) without reading its data."""
    with open(path, "rb") as fh:
        magic = fh.read(6)
    if magic == b"\x93NUMPY":
        return open_npy(path)
    return open_npz(path, (role, path.stem, "arr_0"))


class NpzDataset(Dataset):
    """The test and normalization samples of one folder, served in float32 batches.

    Parameters
    ----------
    x_test, y_test
        The opened test arrays.
    x_norm
        The opened normalization array, or None.
    channels_first
        Samples are stored ``(C, *spatial)`` and are transposed to channels last per batch.
    """

    def __init__(
        self,
        x_test: StoredArray,
        y_test: StoredArray,
        x_norm: StoredArray | None = None,
        channels_first: bool = False,
    ) -> None:
        self._x, self._y, self._norm = x_test, y_test, x_norm
        self.channels_first = channels_first
        if len(x_test.shape) < 2:
            raise DatasetError(
                f"{x_test.where}: has shape {x_test.shape}; expected (samples, *sample_shape)"
            )
        if len(y_test.shape) not in (1, 2):
            raise DatasetError(
                f"{y_test.where}: has shape {y_test.shape}; expected labels as class indices "
                "(samples,) or one-hot (samples, classes)"
            )
        if len(x_test) != len(y_test):
            raise DatasetError(
                f"{x_test.where} holds {len(x_test)} samples but {y_test.where} holds "
                f"{len(y_test)} labels; they must match"
            )
        if x_norm is not None and x_norm.row_shape != x_test.row_shape:
            raise DatasetError(
                f"{x_norm.where}: samples have shape {x_norm.row_shape} but the test samples "
                f"({x_test.where}) have shape {x_test.row_shape}; they must match"
            )
        self.num_samples = len(x_test)
        shape = x_test.row_shape
        if channels_first and len(shape) >= 2:
            shape = (*shape[1:], shape[0])
        self.sample_shape = shape
        #: Number of classes if the labels are one-hot, else None (not known from the data).
        self.num_classes: int | None = (
            y_test.shape[1] if len(y_test.shape) == 2 and y_test.shape[1] > 1 else None
        )

    def _samples(self, rows: np.ndarray) -> np.ndarray:
        x = rows.astype(np.float32, copy=False)
        if self.channels_first and x.ndim >= 3:
            x = np.ascontiguousarray(np.moveaxis(x, 1, -1))
        return x

    def _labels(self, rows: np.ndarray, indices: np.ndarray) -> np.ndarray:
        if rows.ndim == 2 and rows.shape[1] > 1:
            return np.argmax(rows, axis=1).astype(np.int64)
        rows = rows.reshape(len(rows))
        labels = rows.astype(np.int64)
        bad = (labels != rows) | (labels < 0)
        if self.num_classes is not None:
            bad |= labels >= self.num_classes
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise DatasetError(
                f"{self._y.where}: label {rows[i].item()!r} of sample {int(indices[i])} is out of "
                "range; labels are class indices 0, 1, 2, ... (or one-hot rows)"
            )
        return labels

    def test_batches(
        self, indices: np.ndarray, batch_size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield float32 ``(x, labels)`` for the samples at ``indices``, in that order."""
        indices = self.checked_indices(indices, self._x.where)
        return self._test_batches(indices, int(batch_size))

    def _test_batches(
        self, indices: np.ndarray, batch_size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            x = self._samples(self._x.read_rows(chunk))
            yield x, self._labels(self._y.read_rows(chunk), chunk)

    def norm_batches(self, batch_size: int) -> Iterator[np.ndarray] | None:
        """Yield float32 batches of ``x_norm`` in order, or return None if there is none."""
        if self._norm is None:
            return None
        return (self._samples(rows) for rows in self._norm.iter_rows(int(batch_size)))

    @property
    def num_norm_samples(self) -> int:
        """Number of normalization samples (0 without ``x_norm``)."""
        return 0 if self._norm is None else len(self._norm)

    def close(self) -> None:
        """Close the files and remove temporary copies."""
        for array in (self._x, self._y, self._norm):
            if array is not None:
                array.close()


class NpzReader(DatasetReader):
    """Test/normalization samples from x_test, y_test, x_norm numpy files (.npz or .npy)."""

    name = "npz"

    @attrs.frozen
    class Options:
        """Options of the ``[dataset]`` table for ``reader = "npz"``."""

        #: Folder holding the files (relative to the experiment file's folder).
        path: Path = attrs.field(converter=Path)
        #: Test samples file in that folder.
        x_test: str = "x_test.npz"
        #: Test labels file (one-hot or class indices).
        y_test: str = "y_test.npz"
        #: Normalization samples file; optional (absent: no normalization data).
        x_norm: str = "x_norm.npz"
        #: Samples are stored channels first (NCHW, NCL); they are served channels last.
        channels_first: bool = False

    def open(self, base: Path) -> NpzDataset:
        """Open the folder's files (reading only their headers).

        Raises
        ------
        DatasetError
            If the folder or a required file is missing, or a file is malformed.
        """
        opt = self.options
        folder = opt.path if opt.path.is_absolute() else Path(base) / opt.path
        expected = (
            f"the npz reader expects {opt.x_test} and {opt.y_test} (and optionally "
            f"{opt.x_norm}; .npy files of the same names also work)"
        )
        if not folder.is_dir():
            raise DatasetError(f"[dataset] path: {folder} is not a folder; {expected} there")
        files = {}
        for role, name in (("x_test", opt.x_test), ("y_test", opt.y_test)):
            found = _find(folder, name)
            if found is None:
                raise DatasetError(
                    f"[dataset] {role}: {folder / name} does not exist; {expected} in {folder}"
                )
            files[role] = found
        norm_file = _find(folder, opt.x_norm)
        arrays: list[StoredArray] = []
        try:
            arrays.append(open_array(files["x_test"], "x_test"))
            arrays.append(open_array(files["y_test"], "y_test"))
            if norm_file is not None:
                arrays.append(open_array(norm_file, "x_norm"))
            return NpzDataset(*arrays, channels_first=opt.channels_first)  # type: ignore[misc]
        except BaseException:
            for array in arrays:
                array.close()
            raise
