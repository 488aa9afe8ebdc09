"""The npz reader on real files written in every supported variant."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from snn_dataset_npz import NpzReader

from snn_core.config import structure
from snn_core.errors import ConfigError, DatasetError
from snn_core.plugins import Registry

RNG = np.random.default_rng(0)
X = RNG.random((23, 5, 4, 3), dtype=np.float32)
LABELS = RNG.integers(0, 4, size=23)
ONE_HOT = np.eye(4, dtype=np.float32)[LABELS]


def _open(folder: Path, **options):
    return NpzReader(NpzReader.Options(path=folder, **options)).open(folder)


def _write(folder: Path, name: str, array: np.ndarray, how: str) -> None:
    if how == "savez":
        np.savez(folder / f"{name}.npz", array)
    elif how == "compressed":
        np.savez_compressed(folder / f"{name}.npz", array)
    elif how == "npy":
        np.save(folder / f"{name}.npy", array)
    elif how == "named":
        np.savez(folder / f"{name}.npz", **{name: array})
    else:
        raise AssertionError(how)


def _all_test(ds, indices, batch_size=7):
    xs, ys = zip(*ds.test_batches(np.asarray(indices), batch_size), strict=True)
    return np.concatenate(xs), np.concatenate(ys)


@pytest.mark.parametrize("how", ["savez", "compressed", "npy", "named"])
@pytest.mark.parametrize("labels", ["int", "onehot"])
def test_round_trip(tmp_path, how, labels):
    _write(tmp_path, "x_test", X, how)
    _write(tmp_path, "y_test", LABELS if labels == "int" else ONE_HOT, how)
    _write(tmp_path, "x_norm", X[:11], how)
    ds = _open(tmp_path)
    try:
        assert ds.num_samples == 23 and ds.sample_shape == (5, 4, 3)
        x, y = _all_test(ds, np.arange(23))
        assert x.dtype == np.float32 and y.dtype == np.int64
        np.testing.assert_array_equal(x, X)
        np.testing.assert_array_equal(y, LABELS)
        norm = list(ds.norm_batches(4))
        assert [len(b) for b in norm] == [4, 4, 3]
        np.testing.assert_array_equal(np.concatenate(norm), X[:11])
        # norm_batches can be called again (normalizers make several passes)
        np.testing.assert_array_equal(np.concatenate(list(ds.norm_batches(5))), X[:11])
    finally:
        ds.close()


@pytest.mark.parametrize("how", ["savez", "compressed", "npy"])
def test_arbitrary_indices(tmp_path, how):
    _write(tmp_path, "x_test", X, how)
    _write(tmp_path, "y_test", LABELS, how)
    ds = _open(tmp_path)
    try:
        for indices in ([3, 4, 5, 9, 9, 20], [20, 1, 7, 7, 0, 22, 2], [0, 1, 2]):
            x, y = _all_test(ds, indices, batch_size=3)
            np.testing.assert_array_equal(x, X[indices])
            np.testing.assert_array_equal(y, LABELS[indices])
    finally:
        ds.close()


def test_compressed_out_of_order_spills_once_and_cleans_up(tmp_path):
    _write(tmp_path, "x_test", X, "compressed")
    _write(tmp_path, "y_test", LABELS, "npy")
    ds = _open(tmp_path)
    _all_test(ds, [5, 2])
    spill_dir = ds._x._spill_dir
    assert spill_dir is not None and any(spill_dir.iterdir())
    ds.close()
    assert not spill_dir.exists()


def test_no_norm_file(tmp_path):
    _write(tmp_path, "x_test", X, "savez")
    _write(tmp_path, "y_test", LABELS, "savez")
    ds = _open(tmp_path)
    assert ds.norm_batches(8) is None
    ds.close()


@pytest.mark.parametrize("how", ["savez", "compressed", "npy"])
def test_channels_first(tmp_path, how):
    nchw = np.ascontiguousarray(np.moveaxis(X, -1, 1))  # (N, 3, 5, 4)
    _write(tmp_path, "x_test", nchw, how)
    _write(tmp_path, "y_test", LABELS, how)
    _write(tmp_path, "x_norm", nchw[:6], how)
    ds = _open(tmp_path, channels_first=True)
    try:
        assert ds.sample_shape == (5, 4, 3)
        x, _ = _all_test(ds, [0, 8, 22])
        np.testing.assert_array_equal(x, X[[0, 8, 22]])
        assert x.flags.c_contiguous
        np.testing.assert_array_equal(np.concatenate(list(ds.norm_batches(4))), X[:6])
    finally:
        ds.close()


def test_channels_first_1d(tmp_path):
    ncl = RNG.random((6, 2, 9), dtype=np.float32)
    np.savez(tmp_path / "x_test.npz", ncl)
    np.savez(tmp_path / "y_test.npz", np.zeros(6, int))
    ds = _open(tmp_path, channels_first=True)
    assert ds.sample_shape == (9, 2)
    np.testing.assert_array_equal(_all_test(ds, range(6))[0], ncl.transpose(0, 2, 1))
    ds.close()


def test_fortran_ordered_arrays(tmp_path):
    fortran = np.asfortranarray(X)
    np.save(tmp_path / "x_test.npy", fortran)
    np.savez_compressed(tmp_path / "y_test.npz", LABELS)
    np.savez_compressed(tmp_path / "x_norm.npz", fortran)
    ds = _open(tmp_path)
    np.testing.assert_array_equal(_all_test(ds, [4, 0, 9])[0], X[[4, 0, 9]])
    np.testing.assert_array_equal(np.concatenate(list(ds.norm_batches(10))), X)
    ds.close()


def test_integer_and_bool_samples_become_float32(tmp_path):
    np.savez(tmp_path / "x_test.npz", (X * 255).astype(np.uint8))
    np.savez(tmp_path / "y_test.npz", LABELS.astype(np.float64))  # float but integral labels
    ds = _open(tmp_path)
    x, y = _all_test(ds, range(23))
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, (X * 255).astype(np.uint8).astype(np.float32))
    np.testing.assert_array_equal(y, LABELS)
    ds.close()


def test_one_file_with_named_arrays_for_every_role(tmp_path):
    np.savez(tmp_path / "all.npz", x_test=X, y_test=LABELS, x_norm=X[:3])
    ds = _open(tmp_path, x_test="all.npz", y_test="all.npz", x_norm="all.npz")
    x, y = _all_test(ds, range(23))
    np.testing.assert_array_equal(x, X)
    np.testing.assert_array_equal(y, LABELS)
    assert ds.num_norm_samples == 3
    ds.close()


def test_relative_path_resolves_against_base(tmp_path):
    (tmp_path / "data").mkdir()
    np.save(tmp_path / "data" / "x_test.npy", X)
    np.save(tmp_path / "data" / "y_test.npy", LABELS)
    ds = NpzReader(NpzReader.Options(path=Path("data"))).open(tmp_path)
    assert ds.num_samples == 23
    ds.close()


def test_options_from_toml_table(tmp_path):
    opts = structure(
        NpzReader.Options, {"path": "data", "channels_first": True}, "[dataset]", base=tmp_path
    )
    assert opts.path == tmp_path / "data" and opts.channels_first
    with pytest.raises(ConfigError, match="chanels_first"):
        structure(NpzReader.Options, {"path": "d", "chanels_first": True}, "[dataset]")


def test_registered_through_entry_point():
    registry = Registry()
    assert registry.get("dataset", "npz") is NpzReader


# -- errors ------------------------------------------------------------------------------


def test_missing_folder(tmp_path):
    with pytest.raises(DatasetError, match=r"nope is not a folder.*x_test\.npz and y_test\.npz"):
        _open(tmp_path / "nope")


def test_missing_labels_file(tmp_path):
    np.savez(tmp_path / "x_test.npz", X)
    with pytest.raises(DatasetError, match=r"y_test\.npz does not exist.*expects"):
        _open(tmp_path)


def test_length_mismatch(tmp_path):
    np.savez(tmp_path / "x_test.npz", X)
    np.savez(tmp_path / "y_test.npz", LABELS[:20])
    with pytest.raises(DatasetError, match=r"x_test\.npz.*23 samples.*y_test\.npz.*20 labels"):
        _open(tmp_path)


def test_non_numeric(tmp_path):
    np.savez(tmp_path / "x_test.npz", np.array(["a", "b"]))
    np.savez(tmp_path / "y_test.npz", np.array([0, 1]))
    with pytest.raises(DatasetError, match=r"x_test\.npz.*non-numeric data \(dtype <U1\)"):
        _open(tmp_path)


def test_object_array(tmp_path):
    np.save(tmp_path / "x_test.npy", np.array([{"a": 1}, None], dtype=object))
    np.save(tmp_path / "y_test.npy", np.array([0, 1]))
    with pytest.raises(DatasetError, match=r"x_test\.npy.*non-numeric"):
        _open(tmp_path)


@pytest.mark.parametrize("labels", [np.array([0, 1, -1]), np.array([0, 1, 1.5])])
def test_labels_out_of_range(tmp_path, labels):
    np.savez(tmp_path / "x_test.npz", X[:3])
    np.savez(tmp_path / "y_test.npz", labels)
    ds = _open(tmp_path)
    with pytest.raises(DatasetError, match=r"y_test\.npz.*of sample 2 is out of range"):
        _all_test(ds, range(3))
    ds.close()


def test_several_arrays(tmp_path):
    np.savez(tmp_path / "y_test.npz", LABELS)
    # positional arrays: arr_0 is taken
    np.savez(tmp_path / "x_test.npz", X, X[:, ::-1])
    ds = _open(tmp_path)
    np.testing.assert_array_equal(_all_test(ds, range(23))[0], X)
    ds.close()
    # no name that fits the role: the error lists the names found
    np.savez(tmp_path / "x_test.npz", a=X, b=X)
    with pytest.raises(DatasetError, match=r"x_test\.npz: holds several arrays \['a', 'b'\]"):
        _open(tmp_path)


def test_not_numpy_files(tmp_path):
    (tmp_path / "x_test.npz").write_text("hello")
    np.savez(tmp_path / "y_test.npz", LABELS)
    with pytest.raises(DatasetError, match=r"x_test\.npz: not an \.npz file"):
        _open(tmp_path)
    with zipfile.ZipFile(tmp_path / "x_test.npz", "w") as zf:
        zf.writestr("readme.txt", "no arrays")
    with pytest.raises(DatasetError, match="holds no arrays"):
        _open(tmp_path)


def test_truncated_file(tmp_path):
    np.save(tmp_path / "x_test.npy", X)
    data = (tmp_path / "x_test.npy").read_bytes()
    (tmp_path / "x_test.npy").write_bytes(data[: len(data) // 2])
    np.save(tmp_path / "y_test.npy", LABELS)
    with pytest.raises(DatasetError, match=r"x_test\.npy.*truncated"):
        _open(tmp_path)


def test_index_out_of_range(tmp_path):
    np.save(tmp_path / "x_test.npy", X)
    np.save(tmp_path / "y_test.npy", LABELS)
    ds = _open(tmp_path)
    with pytest.raises(DatasetError, match=r"sample index 23 requested.*0\.\.22"):
        ds.test_batches(np.array([0, 23]), 4)
    ds.close()


def test_norm_shape_mismatch(tmp_path):
    np.save(tmp_path / "x_test.npy", X)
    np.save(tmp_path / "y_test.npy", LABELS)
    np.save(tmp_path / "x_norm.npy", X[:, :2])
    with pytest.raises(DatasetError, match=r"x_norm\.npy.*\(2, 4, 3\).*\(5, 4, 3\)"):
        _open(tmp_path)
