"""Feature-wise preprocessing of the images reader (Keras' ImageDataGenerator ``fit`` +
``standardize``) on real PNG files, against a direct numpy version of Keras' algorithm."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from snn_dataset_images import ImagesReader

from snn_core.config import structure
from snn_core.errors import ConfigError, DatasetError
from snn_core.testing.contracts import DatasetContract

RESCALE = 1 / 255


def write_pngs(
    root: Path, n: int, shape: tuple[int, ...], seed: int, low: int = 0, high: int = 256
) -> dict[Path, np.ndarray]:
    """``n`` random uint8 PNGs of ``shape`` ((rows, cols) or (rows, cols, 3)) in two class
    folders; returns each file's pixels as (rows, cols, channels)."""
    rng = np.random.default_rng(seed)
    pixels = {}
    for i in range(n):
        folder = root / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        img = rng.integers(low, high, shape, dtype=np.uint8)
        # per-channel offsets so that the channels' statistics differ
        if img.ndim == 3:
            img = np.clip(img.astype(int) * [1.0, 0.5, 0.25] + [0, 60, 120], 0, 255)
            img = img.astype(np.uint8)
        path = folder / f"{i:03d}.png"
        Image.fromarray(img).save(path)
        pixels[path] = img.reshape(img.shape[0], img.shape[1], -1)
    return pixels


def _open(root: Path, **options):
    opts = structure(ImagesReader.Options, {"path": str(root), **options}, "[dataset]", root)
    return ImagesReader(opts).open(root)


def _all(ds, batch_size=7):
    xs, _ = zip(*ds.test_batches(np.arange(ds.num_samples), batch_size), strict=True)
    return np.concatenate(xs)


def _in_order(ds, pixels: dict[Path, np.ndarray]) -> np.ndarray:
    """The rescaled pixels of the test images in the reader's sample order."""
    return np.stack([pixels[p] for p in ds.files()]).astype(np.float32) * np.float32(RESCALE)


def keras_fit(x, center=False, std_norm=False, zca=False, eps=1e-6):
    """Keras' ``ImageDataGenerator.fit`` on rescaled images ``x`` (channels last), in
    float64: Keras' float32 means are off by about 1e-6, which a channel's small standard
    deviation magnifies to 1e-5 in the output."""
    x = np.array(x, np.float64)
    mean = std = pcs = None
    if center:
        mean = np.mean(x, axis=(0, 1, 2)).reshape(1, 1, -1)
        x -= mean
    if std_norm:
        std = np.std(x, axis=(0, 1, 2)).reshape(1, 1, -1)
        x /= std + 1e-6
    if zca:
        flat = x.reshape(x.shape[0], -1)
        sigma = flat.T @ flat / flat.shape[0]
        u, s, _ = np.linalg.svd(sigma)
        pcs = (u * (1.0 / np.sqrt(s[np.newaxis] + eps))) @ u.T
    return mean, std, pcs


def keras_standardize(x, mean, std, pcs, samplewise_center=False):
    """Keras' ``ImageDataGenerator.standardize`` after rescaling, image by image."""
    out = []
    for img in np.array(x, np.float64):
        if samplewise_center:
            img = img - img.mean()
        if mean is not None:
            img = img - mean
        if std is not None:
            img = img / (std + 1e-6)
        if pcs is not None:
            img = (img.reshape(1, -1) @ pcs).reshape(img.shape)
        out.append(img)
    return np.stack(out)


@pytest.mark.parametrize("samplewise_center", [False, True])
def test_featurewise_center_and_std_match_keras(tmp_path, samplewise_center):
    pixels = write_pngs(tmp_path, 12, (6, 5, 3), seed=0)
    ds = _open(
        tmp_path,
        rescale=RESCALE,
        samplewise_center=samplewise_center,
        featurewise_center=True,
        featurewise_std_normalization=True,
    )
    assert ds.featurewise_mean is None  # opening does not fit
    x = _all(ds)
    raw = _in_order(ds, pixels)
    mean, std, _ = keras_fit(raw, center=True, std_norm=True)
    assert not np.allclose(mean.ravel(), mean.ravel()[0], atol=0.05)  # channels differ
    np.testing.assert_allclose(ds.featurewise_mean, mean.ravel(), rtol=1e-5)
    np.testing.assert_allclose(ds.featurewise_std, std.ravel(), rtol=1e-5)
    expected = keras_standardize(raw, mean, std, None, samplewise_center=samplewise_center)
    np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-5)
    assert x.dtype == np.float32
    if not samplewise_center:  # Keras fits on the images before the samplewise options
        np.testing.assert_allclose(x.mean(axis=(0, 1, 2)), 0, atol=1e-5)
        np.testing.assert_allclose(x.std(axis=(0, 1, 2)), 1, atol=1e-4)


def test_each_option_alone(tmp_path):
    pixels = write_pngs(tmp_path, 9, (4, 4, 3), seed=1)
    centred = _all(_open(tmp_path, rescale=RESCALE, featurewise_center=True))
    scaled = _all(_open(tmp_path, rescale=RESCALE, featurewise_std_normalization=True))
    ds = _open(tmp_path, rescale=RESCALE)
    raw = _in_order(ds, pixels)
    mean = raw.mean(axis=(0, 1, 2))
    std = raw.std(axis=(0, 1, 2))
    np.testing.assert_allclose(centred, raw - mean, atol=1e-6)
    np.testing.assert_allclose(scaled, raw / (std + 1e-6), rtol=1e-5)  # not centred


@pytest.mark.parametrize(("center", "std_norm"), [(True, False), (True, True), (False, False)])
def test_zca_whitens_the_fit_set_as_keras_does(tmp_path, center, std_norm):
    pixels = write_pngs(tmp_path, 48, (4, 4), seed=2)  # 16 features, 48 images
    ds = _open(
        tmp_path,
        color_mode="grayscale",
        rescale=RESCALE,
        featurewise_center=center,
        featurewise_std_normalization=std_norm,
        zca_whitening=True,
        zca_epsilon=1e-5,
    )
    x = _all(ds, batch_size=5)
    assert x.shape == (48, 4, 4, 1)
    flat = x.reshape(48, -1).astype(np.float64)
    np.testing.assert_allclose(flat.T @ flat / 48, np.eye(16), atol=2e-3)
    raw = _in_order(ds, pixels)
    mean, std, pcs = keras_fit(raw, center=center, std_norm=std_norm, zca=True, eps=1e-5)
    np.testing.assert_allclose(ds.principal_components, pcs, rtol=1e-4, atol=1e-4)
    expected = keras_standardize(raw, mean, std, pcs)
    np.testing.assert_allclose(x, expected, atol=1e-4)


def test_fit_samples_limits_the_fit_images(tmp_path):
    pixels = write_pngs(tmp_path, 10, (5, 5, 3), seed=3)
    one = _open(tmp_path, rescale=RESCALE, featurewise_center=True, fit_samples=1)
    x = _all(one)
    raw = _in_order(one, pixels)
    np.testing.assert_allclose(one.featurewise_mean, raw[0].mean(axis=(0, 1)), rtol=1e-5)
    np.testing.assert_allclose(x[0].mean(axis=(0, 1)), 0, atol=1e-5)
    three = _open(tmp_path, rescale=RESCALE, featurewise_center=True, fit_samples=3)
    next(three.test_batches(np.array([0]), 1))
    np.testing.assert_allclose(
        three.featurewise_mean, raw[[0, 4, 9]].mean(axis=(0, 1, 2)), rtol=1e-5
    )  # spread evenly over the set
    every = _open(tmp_path, rescale=RESCALE, featurewise_center=True)
    next(every.test_batches(np.array([0]), 1))
    np.testing.assert_allclose(every.featurewise_mean, raw.mean(axis=(0, 1, 2)), rtol=1e-5)
    assert not np.allclose(one.featurewise_mean, every.featurewise_mean, rtol=1e-3)


def test_norm_folder_is_the_fit_source(tmp_path):
    test = write_pngs(tmp_path / "test", 6, (4, 4), seed=4, high=60)
    train = write_pngs(tmp_path / "train", 8, (4, 4), seed=5, low=180)
    ds = _open(
        tmp_path / "test",
        color_mode="grayscale",
        rescale=RESCALE,
        featurewise_center=True,
        featurewise_std_normalization=True,
        norm_folder=str(tmp_path / "train"),
    )
    norm = np.concatenate(list(ds.norm_batches(3)))
    fit = np.stack(list(train.values())).astype(np.float32) * np.float32(RESCALE)
    np.testing.assert_allclose(ds.featurewise_mean, fit.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(ds.featurewise_std, fit.std(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(norm.mean(), 0, atol=1e-5)
    x = _all(ds)
    raw = _in_order(ds, test)
    mean, std = ds.featurewise_mean, ds.featurewise_std
    np.testing.assert_allclose(x, (raw - mean) / (std + 1e-6), rtol=1e-5, atol=1e-5)
    assert x.mean() < -3  # dark test images against bright fit images


def test_statistics_are_fitted_once(tmp_path, caplog):
    write_pngs(tmp_path, 6, (4, 4), seed=6)
    ds = _open(tmp_path, color_mode="grayscale", featurewise_center=True, zca_whitening=True)
    assert ds.principal_components is None
    with caplog.at_level(logging.INFO, logger="snn_dataset_images.reader"):
        first = _all(ds)
        pcs = ds.principal_components
        again = _all(ds, batch_size=2)
        list(ds.norm_batches(4))
    assert ds.principal_components is pcs
    assert caplog.text.count("feature-wise statistics fitted on 6 images") == 1
    np.testing.assert_array_equal(first, again)


def test_zca_refuses_large_images(tmp_path):
    write_pngs(tmp_path, 2, (4, 4), seed=7)
    with pytest.raises(
        DatasetError,
        match=r"zca_whitening: images of 64 x 65 x 1 have 4160 features.*"
        r"4160 x 4160 matrix",
    ):
        _open(tmp_path, color_mode="grayscale", target_size=[64, 65], zca_whitening=True)
    with pytest.raises(DatasetError, match=r"zca_whitening: images of 40 x 40 x 3"):
        _open(tmp_path, target_size=[40, 40], zca_whitening=True)
    ds = _open(tmp_path, color_mode="grayscale", target_size=[64, 64], zca_whitening=True)
    assert ds.sample_shape == (64, 64, 1)  # 4096 values: accepted (fitted on first use)
    _open(tmp_path, target_size=[64, 65], featurewise_center=True)  # no ZCA: no limit


def test_unreadable_images_skipped_before_fitting(tmp_path):
    pixels = write_pngs(tmp_path, 5, (4, 4), seed=8)
    (tmp_path / "a" / "junk.png").write_bytes(b"not an image")
    ds = _open(
        tmp_path, color_mode="grayscale", on_error="skip", featurewise_center=True, rescale=1
    )
    x = _all(ds)
    assert ds.num_samples == 5
    raw = np.stack([pixels[p] for p in ds.files()]).astype(np.float32)
    np.testing.assert_allclose(x, raw - raw.mean(), rtol=1e-5, atol=1e-4)


def test_bad_featurewise_options():
    with pytest.raises(ConfigError, match="fit_samples"):
        structure(ImagesReader.Options, {"path": "x", "fit_samples": 0}, "[dataset]")
    with pytest.raises(ConfigError, match="zca_epsilon"):
        structure(ImagesReader.Options, {"path": "x", "zca_epsilon": -1.0}, "[dataset]")


class TestImagesFeaturewiseContract(DatasetContract):
    """A sample is the same whatever batch it comes in, ZCA included."""

    plugin_class = ImagesReader
    hooks_module = "snn_dataset_images.hooks"

    def make_options(self, tmp_path):
        write_pngs(tmp_path / "img", 20, (4, 4, 3), seed=9)
        return {
            "path": str(tmp_path / "img"),
            "rescale": RESCALE,
            "featurewise_center": True,
            "featurewise_std_normalization": True,
            "zca_whitening": True,
        }


def test_zca_without_epsilon_on_a_singular_covariance_is_an_error(tmp_path):
    """Fewer images than features: the covariance is singular, and zca_epsilon = 0 would
    divide by zero."""
    write_pngs(tmp_path, 6, (4, 4), seed=3)  # 16 features, 6 images
    ds = _open(
        tmp_path, color_mode="grayscale", rescale=RESCALE, zca_whitening=True, zca_epsilon=0.0
    )
    with pytest.raises(DatasetError, match="zca_epsilon = 0.0.*singular"):
        _all(ds)
