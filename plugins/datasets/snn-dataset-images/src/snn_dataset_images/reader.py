"""The ``images`` reader: a folder of class subfolders of image files.

``[dataset] path`` holds one subfolder per class (the SNN Toolbox's ``dataset_format =
jpg``; ``.jpg``, ``.png``, ``.bmp`` and the other ``extensions`` are read, with Pillow).
Classes are the subfolder names in sorted order, or the indices of ``class_idx_path``:
a JSON object ``{"folder name": index}``, or Keras' ``{"index": ["folder name", ...]}``
(``imagenet_class_index.json``).

Each image is converted to ``color_mode``, resized to ``target_size`` (rows, cols) with
``interpolation``, multiplied by ``rescale`` and optionally centred / scaled per sample
(``samplewise_center``, ``samplewise_std_normalization``), the equivalents of Keras'
``ImageDataGenerator`` options. Without ``target_size`` every image must have the size of
the first one. Images are read batch by batch; nothing else is kept in memory.

Unreadable images: with ``on_error = "fail"`` (default) opening checks each file's header
and a file that cannot be decoded stops the run with an error naming it; with ``"skip"``
opening decodes every image once and leaves out (with a warning naming each) those that
fail.

Normalization samples are the images of ``norm_folder`` (laid out the same way; labels
unused), or else ``num_norm_samples`` test images spread evenly over the test set.

Example
-------
::

    [dataset]
    reader = "images"
    path = "images/test"
    target_size = [32, 32]
    color_mode = "rgb"
    rescale = 0.00392156862745098   # 1/255
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import attrs
import numpy as np
from attrs import validators as v

from snn_core.errors import DatasetError
from snn_core.interfaces import Dataset, DatasetReader

log = logging.getLogger(__name__)

_MODES = {"grayscale": ("L", 1), "rgb": ("RGB", 3), "rgba": ("RGBA", 4)}


def _pair(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and (len(value) != 2 or min(value) < 1):
        raise ValueError(f"{attribute.name} must be [rows, cols], found {list(value)}")


@attrs.frozen
class ImagesOptions:
    """Options of the ``[dataset]`` table for ``reader = "images"``."""

    #: Folder with one subfolder of images per class.
    path: Path = attrs.field(converter=Path)
    #: JSON file mapping class folder names to output indices (default: sorted names).
    class_idx_path: Path | None = None
    #: Size ``[rows, cols]`` images are resized to (default: keep, all equal).
    target_size: tuple[int, ...] | None = attrs.field(default=None, validator=_pair)
    #: Channels: grayscale (1), rgb (3), rgba (4).
    color_mode: Literal["grayscale", "rgb", "rgba"] = "rgb"
    #: Resampling filter for resizing (Keras' default is nearest).
    interpolation: Literal["nearest", "bilinear", "bicubic", "lanczos", "box", "hamming"] = (
        "nearest"
    )
    #: Factor applied to the pixel values (0..255), e.g. 1/255.
    rescale: float = 1.0
    #: Subtract each image's mean.
    samplewise_center: bool = False
    #: Divide each image by its standard deviation.
    samplewise_std_normalization: bool = False
    #: What to do with an image that cannot be read: stop the run, or leave it out.
    on_error: Literal["fail", "skip"] = "fail"
    #: Images for normalization (class subfolders, like ``path``); default: test images.
    norm_folder: Path | None = None
    #: Test images used for normalization when ``norm_folder`` is not set.
    num_norm_samples: int = attrs.field(default=256, validator=v.ge(1))
    #: File name endings of images (case-insensitive).
    extensions: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff")


def read_class_indices(path: Path) -> dict[str, int]:
    """Read ``class_idx_path``: ``{name: index}`` or Keras' ``{index: [name, ...]}``."""
    where = f"[dataset] class_idx_path: {path}"
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise DatasetError(f"{where}: cannot read the file ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not data:
        raise DatasetError(f"{where}: expected a JSON object mapping class names to indices")
    out: dict[str, int] = {}
    for key, value in data.items():
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            out[str(key)] = value
        elif isinstance(value, list) and value and str(key).isdigit():
            out[str(value[0])] = int(key)
        else:
            raise DatasetError(
                f"{where}: entry {key!r}: {value!r}; expected {{name: index}} or "
                "{index: [name, ...]}"
            )
    return out


class _Folder:
    """The image files of a folder of class subfolders, with their labels."""

    def __init__(self, root: Path, opts: ImagesOptions, classes: dict[str, int] | None) -> None:
        if not root.is_dir():
            raise DatasetError(f"[dataset] path: {root} is not a folder of class subfolders")
        exts = tuple(e.lower() for e in opts.extensions)
        folders = sorted(p for p in root.iterdir() if p.is_dir())
        if not folders:
            raise DatasetError(f"[dataset] path: {root} has no class subfolders")
        if classes is None:
            classes = {p.name: i for i, p in enumerate(folders)}
        files, labels = [], []
        for folder in folders:
            if folder.name not in classes:
                raise DatasetError(
                    f"{folder}: class folder {folder.name!r} is not in class_idx_path "
                    f"(known: {sorted(classes)[:10]}...)"
                )
            found = sorted(
                p for p in folder.rglob("*") if p.is_file() and p.name.lower().endswith(exts)
            )
            files += found
            labels += [classes[folder.name]] * len(found)
        if not files:
            raise DatasetError(f"[dataset] path: {root} holds no images ({', '.join(exts)})")
        self.root = root
        self.files = files
        self.labels = np.array(labels, np.int64)
        self.classes = classes


class ImagesDataset(Dataset):
    """Images of class folders, decoded batch by batch into float32 ``(rows, cols, c)``."""

    def __init__(self, test: _Folder, opts: ImagesOptions, norm: _Folder | None) -> None:
        self._test, self._norm, self.opts = test, norm, opts
        self._mode, channels = _MODES[opts.color_mode]
        if opts.on_error == "skip":
            self._drop_unreadable(test)
            if norm is not None:
                self._drop_unreadable(norm)
        size = tuple(opts.target_size) if opts.target_size else self._header_size(test.files[0])
        self.sample_shape = (int(size[0]), int(size[1]), channels)
        if opts.on_error == "fail":
            for f in test.files:
                self._header_size(f)  # every file must at least be an image
        self.num_samples = len(test.files)
        self.classes = test.classes

    @staticmethod
    def _header_size(path: Path) -> tuple[int, int]:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as img:
                w, h = img.size
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise DatasetError(f"{path}: not a readable image ({exc})") from None
        return h, w

    def _drop_unreadable(self, folder: _Folder) -> None:
        keep = []
        for i, f in enumerate(folder.files):
            try:
                self._load(f, check_size=False)
                keep.append(i)
            except DatasetError as exc:
                log.warning("skipped: %s", exc)
        if not keep:
            raise DatasetError(f"{folder.root}: none of the images can be read")
        folder.files = [folder.files[i] for i in keep]
        folder.labels = folder.labels[keep]

    def _load(self, path: Path, check_size: bool = True) -> np.ndarray:
        from PIL import Image, UnidentifiedImageError

        opts = self.opts
        try:
            with Image.open(path) as img:
                img = img.convert(self._mode)
                if opts.target_size:
                    rows, cols = opts.target_size
                    if img.size != (cols, rows):
                        filt = getattr(Image.Resampling, opts.interpolation.upper())
                        img = img.resize((cols, rows), filt)
                arr = np.asarray(img, np.float32)
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
            raise DatasetError(f"{path}: cannot decode the image ({exc})") from None
        if arr.ndim == 2:
            arr = arr[..., None]
        if check_size and arr.shape != self.sample_shape:
            raise DatasetError(
                f"{path}: image is {arr.shape[0]} x {arr.shape[1]} but the first image is "
                f"{self.sample_shape[0]} x {self.sample_shape[1]}; set [dataset] target_size"
            )
        arr = arr * np.float32(opts.rescale)
        if opts.samplewise_center:
            arr = arr - arr.mean()
        if opts.samplewise_std_normalization:
            arr = arr / np.float32(arr.std() + 1e-6)
        return arr

    def _batches(self, folder: _Folder, indices: np.ndarray, batch_size: int):
        for s in range(0, len(indices), batch_size):
            chunk = indices[s : s + batch_size]
            x = np.stack([self._load(folder.files[int(i)]) for i in chunk])
            yield x, folder.labels[chunk]

    def test_batches(
        self, indices: np.ndarray, batch_size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(images, labels)`` for the images at ``indices``, in that order."""
        indices = self.checked_indices(indices, self._test.root)
        return self._batches(self._test, indices, int(batch_size))

    def norm_batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """Images of ``norm_folder``, or ``num_norm_samples`` test images spread evenly."""
        if self._norm is not None:
            folder, idx = self._norm, np.arange(len(self._norm.files))
        else:
            folder = self._test
            count = min(self.opts.num_norm_samples, self.num_samples)
            idx = np.unique(np.linspace(0, self.num_samples - 1, count).round().astype(np.int64))
        return (x for x, _ in self._batches(folder, idx, int(batch_size)))

    def files(self) -> list[Path]:
        """The test images, in sample order."""
        return list(self._test.files)


class ImagesReader(DatasetReader):
    """Folders of class subfolders of .jpg/.png/.bmp images, resized and rescaled."""

    name = "images"
    Options = ImagesOptions

    def open(self, base: Path) -> ImagesDataset:
        """List the images (checking that each can be read) and return the data set.

        Raises
        ------
        DatasetError
            For a missing folder, a class folder not in ``class_idx_path``, or (with
            ``on_error = "fail"``) a file that is not an image, naming it.
        """
        opts: ImagesOptions = self.options

        def resolve(p: Path) -> Path:
            return p if p.is_absolute() else Path(base) / p

        classes = read_class_indices(resolve(opts.class_idx_path)) if opts.class_idx_path else None
        test = _Folder(resolve(opts.path), opts, classes)
        norm = None
        if opts.norm_folder is not None:
            norm = _Folder(resolve(opts.norm_folder), opts, None)
        return ImagesDataset(test, opts, norm)
