"""The images reader on real image files (PNG, BMP, JPEG) written from sklearn's digits."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from snn_dataset_images import ImagesReader

from snn_core.config import structure
from snn_core.errors import ConfigError, DatasetError
from snn_core.testing.contracts import DatasetContract


def _digits(n_per_class: int = 4, classes=(0, 1, 2)):
    from sklearn.datasets import load_digits

    d = load_digits()
    out = []
    for c in classes:
        for img in d.images[d.target == c][:n_per_class]:
            out.append((c, (img * 255 / 16).astype(np.uint8)))
    return out


def write_folder(root: Path, fmt: str = "png", **kw) -> list[tuple[int, np.ndarray]]:
    """Class folders 'zero', 'one', 'two' of 8 x 8 grayscale digits."""
    names = {0: "zero", 1: "one", 2: "two"}
    data = _digits(**kw)
    for i, (c, img) in enumerate(data):
        (root / names[c]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / names[c] / f"{i:03d}.{fmt}")
    return data


def _open(root: Path, **options):
    opts = structure(ImagesReader.Options, {"path": str(root), **options}, "[dataset]", root)
    return ImagesReader(opts).open(root)


def _all(ds, batch_size=5):
    xs, ys = zip(*ds.test_batches(np.arange(ds.num_samples), batch_size), strict=True)
    return np.concatenate(xs), np.concatenate(ys)


@pytest.mark.parametrize("fmt", ["png", "bmp"])
def test_lossless_round_trip_and_sorted_classes(tmp_path, fmt):
    data = write_folder(tmp_path, fmt)
    ds = _open(tmp_path, color_mode="grayscale", rescale=1 / 255)
    assert ds.sample_shape == (8, 8, 1) and ds.num_samples == 12
    assert ds.classes == {"one": 0, "two": 1, "zero": 2}
    x, y = _all(ds)
    # files sorted by class folder (one, two, zero), then by name
    order = [i for c in (1, 2, 0) for i, (k, _) in enumerate(data) if k == c]
    expected = np.stack([data[i][1] for i in order])[..., None] / np.float32(255)
    np.testing.assert_allclose(x, expected, rtol=1e-6)
    assert y.tolist() == [0] * 4 + [1] * 4 + [2] * 4


def test_rgb_resize_and_samplewise(tmp_path):
    write_folder(tmp_path, "jpg")
    ds = _open(
        tmp_path,
        target_size=[16, 12],
        interpolation="bilinear",
        samplewise_center=True,
        samplewise_std_normalization=True,
    )
    x, _ = _all(ds)
    assert x.shape == (12, 16, 12, 3)
    np.testing.assert_allclose(x.mean(axis=(1, 2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(x.std(axis=(1, 2, 3)), 1, atol=1e-3)
    np.testing.assert_array_equal(x[..., 0], x[..., 2])  # grey images in RGB


def test_class_idx_path_both_forms(tmp_path):
    write_folder(tmp_path / "img")
    (tmp_path / "a.json").write_text(json.dumps({"zero": 0, "one": 1, "two": 2}))
    (tmp_path / "b.json").write_text(json.dumps({"2": ["two", "x"], "0": ["zero"], "1": ["one"]}))
    for name in ("a.json", "b.json"):
        ds = _open(tmp_path / "img", class_idx_path=str(tmp_path / name), color_mode="grayscale")
        _, y = _all(ds)
        assert y.tolist() == [1] * 4 + [2] * 4 + [0] * 4
    (tmp_path / "c.json").write_text(json.dumps({"zero": 0, "one": 1}))
    with pytest.raises(DatasetError, match=r"two: class folder 'two' is not in class_idx_path"):
        _open(tmp_path / "img", class_idx_path=str(tmp_path / "c.json"))
    (tmp_path / "d.json").write_text("{")
    with pytest.raises(DatasetError, match="d.json: not valid JSON"):
        _open(tmp_path / "img", class_idx_path=str(tmp_path / "d.json"))


def test_unreadable_images_fail_or_are_skipped(tmp_path, caplog):
    write_folder(tmp_path)
    junk = tmp_path / "one" / "junk.png"
    junk.write_bytes(b"not an image at all")
    good = sorted((tmp_path / "two").glob("*.png"))[0]
    truncated = tmp_path / "two" / "cut.png"
    truncated.write_bytes(good.read_bytes()[:60])
    with pytest.raises(DatasetError, match=r"one/junk.png: not a readable image"):
        _open(tmp_path)
    with caplog.at_level(logging.WARNING):
        ds = _open(tmp_path, on_error="skip", color_mode="grayscale")
    assert ds.num_samples == 12
    assert "junk.png" in caplog.text and "cut.png" in caplog.text
    junk.unlink()
    ds = _open(tmp_path)  # the truncated PNG has a valid header: fails when decoded
    with pytest.raises(DatasetError, match=r"two/cut.png: cannot decode the image"):
        _all(ds)


def test_sizes_must_agree_without_target_size(tmp_path):
    write_folder(tmp_path)
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(tmp_path / "two" / "zz.png")
    ds = _open(tmp_path, color_mode="grayscale")
    with pytest.raises(
        DatasetError, match=r"zz.png: image is 9 x 8 .* set \[dataset\] target_size"
    ):
        _all(ds)


def test_norm_samples(tmp_path):
    write_folder(tmp_path / "test")
    write_folder(tmp_path / "train", n_per_class=2)
    ds = _open(tmp_path / "test", num_norm_samples=5)
    assert sum(len(b) for b in ds.norm_batches(2)) == 5
    ds = _open(tmp_path / "test", norm_folder=str(tmp_path / "train"))
    assert sum(len(b) for b in ds.norm_batches(4)) == 6


def test_bad_options():
    with pytest.raises(ConfigError, match="color_mode"):
        structure(ImagesReader.Options, {"path": "x", "color_mode": "cmyk"}, "[dataset]")
    with pytest.raises(ConfigError, match="target_size"):
        structure(ImagesReader.Options, {"path": "x", "target_size": [3]}, "[dataset]")


class TestImagesContract(DatasetContract):
    plugin_class = ImagesReader
    hooks_module = "snn_dataset_images.hooks"

    def make_options(self, tmp_path):
        write_folder(tmp_path / "img")
        return {"path": str(tmp_path / "img"), "color_mode": "grayscale"}


def test_config_import_maps_the_image_generator_kwargs(tmp_path):
    import tomli

    from snn_core.config import experiment_from_dict
    from snn_core.ini_import import import_ini

    work = tmp_path / "work"
    write_folder(work / "imgs")
    (work / "lenet.h5").write_bytes(b"")
    (work / "classes.json").write_text(json.dumps({"zero": 0, "one": 1, "two": 2}))
    ini = tmp_path / "settings.ini"
    ini.write_text(
        f"[paths]\npath_wd = {work}\nfilename_ann = lenet\ndataset_path = imgs\n"
        "class_idx_path = classes.json\n[input]\ndataset_format = jpg\n"
        "datagen_kwargs = {'rescale': 0.00392156862745098, 'samplewise_center': True, "
        "'featurewise_std_normalization': True, 'zoom_range': 0.2}\n"
        "dataflow_kwargs = {'target_size': (12, 12), 'color_mode': 'grayscale', "
        "'batch_size': 8, 'shuffle': False}\n"
    )
    out = tmp_path / "exp.toml"
    text = import_ini(ini, out)
    exp = experiment_from_dict(tomli.loads(text), source=out)
    assert exp.dataset.name == "images"
    opts = exp.dataset.options
    assert opts["samplewise_center"] is True and opts["target_size"] == [12, 12]
    assert opts["color_mode"] == "grayscale" and opts["rescale"] == pytest.approx(1 / 255)
    assert opts["featurewise_std_normalization"] is opts["featurewise_center"] is True
    assert "zoom_range = 0.2: not supported by the images reader" in text
    assert "batch_size = 8: use [simulation] batch_size" in text
    options = structure(ImagesReader.Options, opts, "[dataset]", out.parent)
    ds = ImagesReader(options).open(out.parent)
    x, y = _all(ds)
    assert x.shape == (12, 12, 12, 1) and y.tolist() == [1] * 4 + [2] * 4 + [0] * 4
    assert ds.featurewise_mean.shape == ds.featurewise_std.shape == (1,)
