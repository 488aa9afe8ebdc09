"""The ``aedat`` reader: event-camera recordings as sequences of frames.

``[dataset] path`` is a folder with one subfolder per class holding the recordings
(``.aedat``, ``.aedat4``, ``.dat``; AEDAT 2.0, 3.1 or 4.0, recognised by their first
line), or a single recording.

Samples
    Each recording is cut into samples of ``num_dvs_events_per_sample`` consecutive
    events (0: the whole recording is one sample). A last, shorter piece is kept if it
    holds at least half that many events (or is the recording's only piece).
Labels
    Without ``label_dict`` the class subfolders, sorted by name, are classes 0, 1, 2...
    ``label_dict`` maps names to class indices: a key is a subfolder name, or else a
    glob pattern matched against the recording's path relative to ``path`` and its file
    name (``"*_left.aedat" = 0``); the first key that matches decides. A recording no
    key matches is an error naming it.
Frames
    See :mod:`snn_dataset_aedat.frames`. All samples are served with the same number of
    frames (``num_frames``, or the most any sample spans), zero frames after a sample's
    events ran out; the simulator feeds frame ``i`` at step ``i``.
The ANN's input
    :meth:`AedatDataset.accumulate` is the *mean* frame (sum over the frame axis divided by
    the number of frames), so that an SNN simulated for ``num_frames`` steps receives on
    average the input the ANN sees: set ``[simulation] duration = num_frames * dt``.
Normalization samples
    Accumulated samples of ``norm_path`` (recordings laid out like ``path``), or else the
    first ``num_norm_samples`` test samples.

Example
-------
::

    [dataset]
    reader = "aedat"
    path = "recordings"
    num_dvs_events_per_sample = 0
    eventframe_width = 5000
    chip_size = [34, 34]
    frame_size = [28, 28]
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import attrs
import numpy as np
from attrs import validators as v

from snn_core.errors import DatasetError
from snn_core.interfaces import Dataset, DatasetReader
from snn_dataset_aedat.formats import Events, read_events
from snn_dataset_aedat.frames import FrameSpec

log = logging.getLogger(__name__)


def _size_pair(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and (len(value) != 2 or min(value) < 1):
        raise ValueError(f"{attribute.name} must be two positive integers, found {list(value)}")


@attrs.frozen
class AedatOptions:
    """Options of the ``[dataset]`` table for ``reader = "aedat"``."""

    #: Folder of class subfolders holding recordings, or one recording.
    path: Path = attrs.field(converter=Path)
    #: Events per sample (one classification trial); 0: a whole recording per sample.
    num_dvs_events_per_sample: int = attrs.field(default=2000, validator=v.ge(0))
    #: Most time one frame spans, in timestamp units (µs).
    eventframe_width: int = attrs.field(default=10, validator=v.gt(0))
    #: Class name (subfolder) or file-name glob pattern -> class index.
    label_dict: dict = attrs.field(factory=dict)
    #: DVS chip size ``[width, height]``; events outside are dropped. Default: from the
    #: file (AEDAT 4.0, DVS128 layout).
    chip_size: tuple[int, ...] | None = attrs.field(default=None, validator=_size_pair)
    #: Frame size ``[rows, cols]`` (the network's input); events are subsampled from the
    #: chip to it. Default: the chip size.
    frame_size: tuple[int, ...] | None = attrs.field(default=None, validator=_size_pair)
    #: How events add up in a frame (see snn_dataset_aedat.frames).
    frame_gen_method: Literal[
        "signed_sum", "rectified_sum", "rectified_polarity_channels", "signed_polarity_channels"
    ] = "signed_sum"
    #: Frame rows are x addresses (else y).
    is_x_first: bool = False
    #: Mirror x (``width - 1 - x``).
    is_x_flipped: bool = False
    #: Mirror y (``height - 1 - y``).
    is_y_flipped: bool = False
    #: Subsample by max pooling (else by summing the events of a block).
    maxpool_subsampling: bool = True
    #: Clip each frame's magnitudes at mean + 3 std of its non-zero magnitudes.
    do_clip_three_sigma: bool = True
    #: Frames per sample; 0: as many as the longest sample spans.
    num_frames: int = attrs.field(default=0, validator=v.ge(0))
    #: Address layout of AEDAT 2.0 files.
    address_layout: Literal["auto", "dvs128", "davis"] = "auto"
    #: File name endings of recordings.
    extensions: tuple[str, ...] = (".aedat", ".aedat4", ".dat")
    #: Recordings for normalization (laid out like ``path``); default: the test samples.
    norm_path: Path | None = None
    #: Test samples used for normalization when ``norm_path`` is not set.
    num_norm_samples: int = attrs.field(default=256, validator=v.ge(1))


def _label_of(rel: Path, label_dict: dict, classes: dict[str, int], root: Path) -> int:
    where = root / rel
    if label_dict:
        if len(rel.parts) > 1 and rel.parts[0] in label_dict:
            value = label_dict[rel.parts[0]]
        else:
            value = next(
                (
                    lab
                    for key, lab in label_dict.items()
                    if fnmatch.fnmatch(rel.as_posix(), key) or fnmatch.fnmatch(rel.name, key)
                ),
                None,
            )
            if value is None:
                raise DatasetError(
                    f"{where}: no label: neither its class folder nor its name matches a key "
                    f"of [dataset] label_dict ({sorted(label_dict)})"
                )
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
            raise DatasetError(
                f"[dataset] label_dict: the value for {where.name} is {value!r}; expected a "
                "class index 0, 1, 2, ..."
            )
        return int(value)
    if len(rel.parts) < 2:
        raise DatasetError(
            f"{where}: recordings must lie in class subfolders of {root} (or set "
            "[dataset] label_dict)"
        )
    return classes[rel.parts[0]]


def _find_recordings(root: Path, extensions: tuple[str, ...]) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise DatasetError(f"[dataset] path: {root} is neither a folder nor a recording")
    found = sorted(
        p for p in root.rglob("*") if p.is_file() and p.name.lower().endswith(extensions)
    )
    if not found:
        raise DatasetError(
            f"[dataset] path: {root} holds no recordings (files ending in {', '.join(extensions)})"
        )
    return found


class _Index:
    """The samples of a set of recordings: (file, first event, end event, frames)."""

    def __init__(self, root: Path, opts: AedatOptions) -> None:
        self.root = root
        self.files = _find_recordings(root, tuple(e.lower() for e in opts.extensions))
        base = root if root.is_dir() else root.parent
        classes = {}
        if root.is_dir() and not opts.label_dict:
            names = sorted({f.relative_to(root).parts[0] for f in self.files if f.parent != root})
            classes = {n: i for i, n in enumerate(names)}
        label_dict = dict(opts.label_dict)
        if label_dict and all(
            str(k).isdigit() and isinstance(v, str) and not v.isdigit()
            for k, v in label_dict.items()
        ):  # the reference's {index: name} form
            label_dict = {name: int(k) for k, name in label_dict.items()}
        self.labels = np.array(
            [_label_of(f.relative_to(base), label_dict, classes, base) for f in self.files],
            np.int64,
        )
        self.classes = classes
        self.opts = opts
        self.chip: tuple[int, int] | None = (
            tuple(opts.chip_size) if opts.chip_size else None  # type: ignore[assignment]
        )
        rows: list[tuple[int, int, int, int]] = []
        self._cache: tuple[int, Events] | None = None
        n = opts.num_dvs_events_per_sample
        for i, f in enumerate(self.files):
            ev = self.events(i)
            if self.chip is None:
                if ev.size is None:
                    raise DatasetError(
                        f"{f}: the file does not say the chip size; set [dataset] chip_size "
                        "= [width, height]"
                    )
                self.chip = ev.size
            if len(ev) == 0:
                log.warning("%s: holds no polarity events; skipped", f)
                continue
            bounds = [(0, len(ev))] if n == 0 else _pieces(len(ev), n)
            for start, stop in bounds:
                rows.append((i, start, stop, self._frames_spanned(ev.t[start:stop])))
        if not rows:
            raise DatasetError(f"[dataset] path: the recordings in {root} hold no events")
        self.samples = np.array(rows, np.int64)

    def _frames_spanned(self, t: np.ndarray) -> int:
        return int((t.max() - t.min()) // self.opts.eventframe_width) + 1

    def events(self, i: int) -> Events:
        """The events of file ``i`` (the last file read is kept)."""
        if self._cache is None or self._cache[0] != i:
            self._cache = (i, read_events(self.files[i], self.opts.address_layout))
        return self._cache[1]

    def __len__(self) -> int:
        return len(self.samples)


def _pieces(count: int, n: int) -> list[tuple[int, int]]:
    out = [(s, s + n) for s in range(0, count - n + 1, n)]
    rest = count - len(out) * n
    if rest and (not out or rest >= n / 2):
        out.append((count - rest, count))
    return out


class AedatDataset(Dataset):
    """Samples of event recordings, served as frame sequences ``(batch, frames, *shape)``.

    Attributes
    ----------
    num_frames
        Frames per sample.
    spec
        How events become frames.
    """

    temporal = True

    def __init__(
        self, index: _Index, spec: FrameSpec, num_frames: int, norm: _Index | None, num_norm: int
    ) -> None:
        self.index = index
        self.spec = spec
        self.num_frames = num_frames
        self.num_samples = len(index)
        self.sample_shape = spec.shape
        self._norm = norm
        self._num_norm = num_norm

    def _sample(self, index: _Index, i: int) -> np.ndarray:
        f, start, stop, _ = index.samples[i]
        ev = index.events(int(f))
        piece = Events(*(a[start:stop] for a in ev[:4]), ev.size)
        return self.spec.frames(piece, self.num_frames)

    def test_batches(
        self, indices: np.ndarray, batch_size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(frames, labels)`` for the samples at ``indices``, in that order."""
        indices = self.checked_indices(indices, self.index.root)
        return self._batches(self.index, indices, int(batch_size))

    def _batches(self, index: _Index, indices: np.ndarray, batch_size: int):
        for s in range(0, len(indices), batch_size):
            chunk = indices[s : s + batch_size]
            x = np.stack([self._sample(index, int(i)) for i in chunk])
            yield x, index.labels[index.samples[chunk, 0]]

    def accumulate(self, x: np.ndarray) -> np.ndarray:
        """The mean frame of each sample (sum over the frame axis / frames)."""
        x = np.asarray(x, np.float32)
        return x.sum(axis=1) / np.float32(x.shape[1])

    def norm_batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """Accumulated samples of ``norm_path``, or of the first test samples."""
        index = self._norm or self.index
        count = len(index) if self._norm is not None else min(self._num_norm, len(index))
        return (
            self.accumulate(x) for x, _ in self._batches(index, np.arange(count), int(batch_size))
        )

    def labels(self) -> np.ndarray:
        """Label of every sample."""
        return self.index.labels[self.index.samples[:, 0]]


class AedatReader(DatasetReader):
    """Event-camera recordings (AEDAT 2.0/3.1/4.0) served as frames, one per time step."""

    name = "aedat"
    Options = AedatOptions

    def open(self, base: Path) -> AedatDataset:
        """Index the recordings (reading each once) and return the data set.

        Raises
        ------
        DatasetError
            For a missing path, an unreadable or malformed recording (naming the file and
            byte offset or packet) or a recording without a label.
        """
        opts: AedatOptions = self.options
        root = opts.path if opts.path.is_absolute() else Path(base) / opts.path
        index = _Index(root, opts)
        assert index.chip is not None
        chip = (int(index.chip[0]), int(index.chip[1]))
        rc = (chip[0], chip[1]) if opts.is_x_first else (chip[1], chip[0])
        size = tuple(opts.frame_size) if opts.frame_size else rc
        spec = FrameSpec(
            chip=chip,
            size=(int(size[0]), int(size[1])),
            eventframe_width=opts.eventframe_width,
            method=opts.frame_gen_method,
            is_x_first=opts.is_x_first,
            is_x_flipped=opts.is_x_flipped,
            is_y_flipped=opts.is_y_flipped,
            maxpool_subsampling=opts.maxpool_subsampling,
            do_clip_three_sigma=opts.do_clip_three_sigma,
        )
        norm = None
        if opts.norm_path is not None:
            np_root = (
                opts.norm_path if opts.norm_path.is_absolute() else Path(base) / opts.norm_path
            )
            norm = _Index(np_root, attrs.evolve(opts, chip_size=chip))
        spanned = int(index.samples[:, 3].max())
        frames = opts.num_frames or spanned
        if opts.num_frames and spanned > opts.num_frames:
            log.warning(
                "%s: samples span up to %d frames; num_frames = %d drops the rest",
                root,
                spanned,
                opts.num_frames,
            )
        return AedatDataset(index, spec, frames, norm, opts.num_norm_samples)
