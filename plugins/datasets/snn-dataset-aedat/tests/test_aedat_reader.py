"""Frames from events by hand, and the aedat reader on folders of written recordings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from snn_dataset_aedat import AedatReader, Events, write_aedat2, write_aedat31
from snn_dataset_aedat.frames import FrameSpec

from snn_core.config import structure
from snn_core.errors import ConfigError, DatasetError
from snn_core.testing.contracts import DatasetContract

REAL_FILE = Path(__file__).resolve().parents[4].parent / "shared" / "data" / "aedat"
REAL_FILE = REAL_FILE / "davis346_recording.aedat4"


def _ev(rows) -> Events:
    t, x, y, p = zip(*rows, strict=True)
    return Events.make(t, x, y, p)


def _spec(**kw) -> FrameSpec:
    base = dict(chip=(4, 3), size=(3, 4), eventframe_width=10, do_clip_three_sigma=False)
    base.update(kw)
    return FrameSpec(**base)


EVENTS = _ev(
    [
        (100, 0, 0, True),
        (103, 0, 0, True),
        (105, 3, 2, False),
        (112, 1, 1, False),  # frame 1
        (119, 1, 1, True),  # frame 1
        (125, 9, 9, True),  # outside the 4 x 3 chip: dropped
        (131, 2, 0, False),  # frame 3
    ]
)


@pytest.mark.parametrize(
    ("method", "channel_values"),
    [
        ("signed_sum", {(0, 0, 0, 0): 2, (0, 2, 3, 0): -1, (1, 1, 1, 0): 0, (3, 0, 2, 0): -1}),
        ("rectified_sum", {(0, 0, 0, 0): 2, (0, 2, 3, 0): 1, (1, 1, 1, 0): 2, (3, 0, 2, 0): 1}),
        (
            "rectified_polarity_channels",
            {(0, 0, 0, 0): 2, (0, 2, 3, 1): 1, (1, 1, 1, 0): 1, (1, 1, 1, 1): 1, (3, 0, 2, 1): 1},
        ),
        (
            "signed_polarity_channels",
            {
                (0, 0, 0, 0): 2,
                (0, 2, 3, 1): -1,
                (1, 1, 1, 0): 1,
                (1, 1, 1, 1): -1,
                (3, 0, 2, 1): -1,
            },
        ),
    ],
)
def test_frame_methods_by_hand(method, channel_values):
    spec = _spec(method=method)
    assert spec.num_frames(EVENTS.t) == 4
    frames = spec.frames(EVENTS, 5)
    expected = np.zeros((5, 3, 4, 2 if method.endswith("channels") else 1), np.float32)
    for idx, value in channel_values.items():
        expected[idx] = value
    np.testing.assert_array_equal(frames, expected)


def test_flips_orientation_and_truncation():
    ev = _ev([(0, 1, 0, True), (50, 3, 2, True)])
    f = _spec(is_x_flipped=True).frames(ev, 1)  # second event is in frame 5: dropped
    assert np.argwhere(f[0, ..., 0]).tolist() == [[0, 2]]
    f = _spec(is_y_flipped=True).frames(ev, 1)
    assert np.argwhere(f[0, ..., 0]).tolist() == [[2, 1]]
    f = _spec(is_x_first=True, size=(4, 3)).frames(ev, 6)
    assert np.argwhere(f[..., 0]).tolist() == [[0, 1, 0], [5, 3, 2]]


def test_subsampling_max_and_sum():
    # chip 4 x 4 -> 2 x 2: block (0, 0) gets 3 ON at (0, 0) and 1 ON at (1, 1); block (1, 1)
    # gets 2 OFF at (2, 2) and 1 ON at (3, 3)
    ev = _ev([(0, 0, 0, True)] * 3 + [(0, 1, 1, True)] + [(0, 2, 2, False)] * 2 + [(0, 3, 3, True)])
    common = dict(chip=(4, 4), size=(2, 2))
    maxed = _spec(**common, maxpool_subsampling=True).frames(ev, 1)[0, ..., 0]
    summed = _spec(**common, maxpool_subsampling=False).frames(ev, 1)[0, ..., 0]
    np.testing.assert_array_equal(maxed, [[3, 0], [0, -2]])
    np.testing.assert_array_equal(summed, [[4, 0], [0, -1]])


def test_three_sigma_clip_limits_a_hot_pixel():
    rows = [(0, x, y, True) for x in range(4) for y in range(3)] + [(1, 2, 2, True)] * 99
    f = _spec(method="rectified_sum", do_clip_three_sigma=True).frames(_ev(rows), 1)
    mags = np.array([1.0] * 11 + [100.0])
    assert f.max() == pytest.approx(mags.mean() + 3 * mags.std())
    assert f.min() == 1.0


# -- the reader ------------------------------------------------------------------------------


def _recording(n: int, cls: int, seed: int) -> Events:
    """Class 0: events in the top half of a 16 x 16 chip; class 1: the bottom half."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 8, n) + 8 * cls
    return Events.make(
        np.sort(rng.integers(0, 40_000, n)), rng.integers(0, 16, n), y, rng.random(n) < 0.7
    )


def write_folder(root: Path, per_class: int = 4, n: int = 300) -> None:
    """Recordings in class folders 'down' (1) and 'up' (0), AEDAT 2.0 and 3.1 mixed."""
    for cls, name in ((0, "up"), (1, "down")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            ev = _recording(n, cls, seed=10 * cls + i)
            if i % 2:
                write_aedat31(root / name / f"r{i}.aedat", ev, packet_events=100)
            else:
                write_aedat2(root / name / f"r{i}.aedat", ev, "davis")


def _open(root: Path, **options):
    opts = structure(AedatReader.Options, {"path": str(root), **options}, "[dataset]", root)
    return AedatReader(opts).open(root)


def test_folder_labels_samples_and_frames(tmp_path):
    write_folder(tmp_path)
    ds = _open(tmp_path, num_dvs_events_per_sample=100, eventframe_width=5000, chip_size=[16, 16])
    assert ds.temporal and ds.sample_shape == (16, 16, 1)
    assert ds.num_samples == 8 * 3  # 300 events -> 3 samples of 100
    assert ds.index.classes == {"down": 0, "up": 1}  # sorted folder names
    x, y = next(ds.test_batches(np.arange(ds.num_samples), 64))
    assert x.shape == (24, ds.num_frames, 16, 16, 1)
    # each sample holds 100 events (clipping off would make the sums exactly 100 +-)
    rows = np.argwhere(x.any(axis=(1, 3, 4)))
    for sample, row in rows:
        assert (row >= 8) == (y[sample] == 0)  # 'down' (label 0) lies in the bottom half
    acc = ds.accumulate(x)
    np.testing.assert_allclose(acc, x.sum(axis=1) / ds.num_frames, rtol=1e-6)
    norm = np.concatenate(list(ds.norm_batches(5)))
    np.testing.assert_allclose(norm, acc, rtol=1e-6)  # first test samples by default
    # arbitrary order and batching
    x2, y2 = zip(*ds.test_batches(np.array([5, 0, 23]), 2), strict=True)
    np.testing.assert_array_equal(np.concatenate(x2), x[[5, 0, 23]])
    np.testing.assert_array_equal(np.concatenate(y2), y[[5, 0, 23]])


def test_whole_recordings_subsampling_and_label_dict(tmp_path):
    write_folder(tmp_path, per_class=2)
    ds = _open(
        tmp_path,
        num_dvs_events_per_sample=0,
        eventframe_width=4000,
        chip_size=[16, 16],
        frame_size=[4, 4],
        frame_gen_method="rectified_polarity_channels",
        label_dict={"up": 3, "*r?.aedat": 7},  # a class folder, else a file pattern
        num_frames=6,
    )
    assert ds.num_samples == 4 and ds.sample_shape == (4, 4, 2) and ds.num_frames == 6
    _, y = next(ds.test_batches(np.arange(4), 4))
    assert y.tolist() == [7, 7, 3, 3]  # down/r0, down/r1, up/r0, up/r1


def test_unlabelled_and_top_level_files_are_errors(tmp_path):
    write_folder(tmp_path, per_class=2)
    with pytest.raises(DatasetError, match=r"down/r0.aedat: no label.*label_dict"):
        _open(tmp_path, chip_size=[16, 16], label_dict={"up": 0})
    write_aedat2(tmp_path / "loose.aedat", _recording(10, 0, 0), "davis")
    with pytest.raises(DatasetError, match="loose.aedat: recordings must lie in class subfolders"):
        _open(tmp_path, chip_size=[16, 16])
    with pytest.raises(DatasetError, match=r"label_dict: the value .* expected a class index"):
        _open(tmp_path, chip_size=[16, 16], label_dict={"*": "cat"})


def test_chip_size_needed_and_outliers(tmp_path):
    write_folder(tmp_path, per_class=1)
    with pytest.raises(
        DatasetError, match=r"does not say the chip size; set \[dataset\] chip_size"
    ):
        _open(tmp_path)
    ds = _open(tmp_path, chip_size=[16, 8], num_dvs_events_per_sample=0)  # bottom half dropped
    x, y = next(ds.test_batches(np.arange(2), 2))
    assert x[y == 1].sum() > 0 and x[y == 0].sum() == 0  # 'down' (0) lies outside the chip


def test_a_corrupt_recording_is_named(tmp_path):
    write_folder(tmp_path, per_class=1)
    bad = tmp_path / "up" / "r0.aedat"
    bad.write_bytes(bad.read_bytes()[:-3])
    with pytest.raises(DatasetError, match=r"up/r0.aedat: byte offset \d+: truncated record"):
        _open(tmp_path, chip_size=[16, 16])


def test_bad_options():
    with pytest.raises(ConfigError, match="chip_size"):
        structure(AedatReader.Options, {"path": "x", "chip_size": [1, 2, 3]}, "[dataset]")
    with pytest.raises(ConfigError, match="frame_gen_method"):
        structure(AedatReader.Options, {"path": "x", "frame_gen_method": "sum"}, "[dataset]")
    with pytest.raises(ConfigError, match="eventframe_width"):
        structure(AedatReader.Options, {"path": "x", "eventframe_width": 0}, "[dataset]")


@pytest.mark.skipif(not REAL_FILE.is_file(), reason=f"{REAL_FILE} is not present")
def test_real_recording_as_one_file(tmp_path):
    ds = _open(
        REAL_FILE.parent / REAL_FILE.name,
        label_dict={"*.aedat4": 0},
        eventframe_width=50_000,
        frame_size=[65, 87],  # 260 x 346 subsampled by 4
        is_y_flipped=True,
    )
    # 78,830 events: 39 samples of 2,000; the last 830 (< half a sample) are dropped
    assert ds.num_samples == 39 and ds.sample_shape == (65, 87, 1)
    x, y = next(ds.test_batches(np.array([0, 38]), 2))
    assert x.shape == (2, ds.num_frames, 65, 87, 1) and y.tolist() == [0, 0]
    assert np.count_nonzero(x[0]) > 50
    # every event lands in a frame: sum pooling, no clipping, polarity ignored
    ds = _open(
        REAL_FILE,
        label_dict={"*": 0},
        eventframe_width=50_000,
        frame_size=[65, 87],
        frame_gen_method="rectified_sum",
        maxpool_subsampling=False,
        do_clip_three_sigma=False,
    )
    x, _ = next(ds.test_batches(np.arange(39), 39))
    np.testing.assert_array_equal(x.sum(axis=(1, 2, 3, 4)), np.full(39, 2000.0))


class TestAedatContract(DatasetContract):
    plugin_class = AedatReader
    hooks_module = "snn_dataset_aedat.hooks"

    def make_options(self, tmp_path):
        write_folder(tmp_path / "rec", per_class=2)
        return {
            "path": str(tmp_path / "rec"),
            "chip_size": [16, 16],
            "num_dvs_events_per_sample": 100,
        }

    def test_batches_follow_the_indices(self, tmp_path):
        """The core's check, for frame sequences ``(batch, frames, *sample_shape)``."""
        data = self.open(tmp_path)
        idx = np.array([data.num_samples - 1, 0, 1])
        xs, ys = zip(*data.test_batches(idx, 2), strict=True)
        x, y = np.concatenate(xs), np.concatenate(ys)
        assert x.dtype == np.float32 and x.shape == (3, data.num_frames, *data.sample_shape)
        assert np.issubdtype(y.dtype, np.integer) and y.shape == (3,)
        last = next(data.test_batches(idx[:1], 1))[0]
        np.testing.assert_array_equal(last[0], x[0])
