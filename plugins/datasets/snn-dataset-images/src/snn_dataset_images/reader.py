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

Feature-wise preprocessing
--------------------------
``featurewise_center``, ``featurewise_std_normalization``, ``zca_whitening`` and
``zca_epsilon`` do what Keras' ``ImageDataGenerator.fit`` + ``standardize`` do, in Keras'
order: rescale, samplewise centre, samplewise std, featurewise centre (subtract the
per-channel mean), featurewise std (divide by the per-channel standard deviation + 1e-6),
ZCA (the flattened image times ``U diag(1 / sqrt(S + zca_epsilon)) U^T``, where ``U S U^T``
is the eigendecomposition (for this symmetric matrix, Keras' SVD) of ``flat^T flat / n``
of the fit images after the feature-wise centring and scaling that are switched on).

The statistics are fitted on ``fit_samples`` images: those of ``norm_folder`` when it is
set, else test images, spread evenly over the folder. As in Keras' ``fit`` they are taken
from the rescaled images, before the samplewise options (Keras never applies those in
``fit``). They are computed once, on the first batch that needs them, in one streaming
pass (float64 running sums per channel, and for ZCA the sum of ``flat^T flat``), so memory
does not grow with ``fit_samples``; they stay on the data set as ``featurewise_mean``,
``featurewise_std`` and ``principal_components``. ZCA holds a ``d x d`` matrix for ``d =
rows * cols * channels`` and is refused above ``d = 4096`` (64 x 64 grayscale or 36 x 36 rgb
still fit): it is meant for small images.

Unlike Keras (2.1.3 and later), no option switches another one: Keras turns
``featurewise_center`` on with ``featurewise_std_normalization`` or ``zca_whitening``,
``featurewise_std_normalization`` off with ``zca_whitening`` and ``samplewise_center`` on
with ``samplewise_std_normalization``; here each option does only what it says (``snn
config import`` writes the options Keras effectively used).

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

#: Largest flattened image size (rows * cols * channels) ZCA whitening accepts: it fits and
#: applies a d x d matrix (128 MiB in float64 at this size).
ZCA_MAX_FEATURES = 4096
#: Images decoded at a time while fitting the feature-wise statistics.
_FIT_BATCH = 32


def _spread(total: int, count: int) -> np.ndarray:
    """``min(count, total)`` indices spread evenly over ``0..total - 1``."""
    count = min(int(count), total)
    return np.unique(np.linspace(0, total - 1, count).round().astype(np.int64))


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
    #: Subtract the per-channel mean of the ``fit_samples`` fit images.
    featurewise_center: bool = False
    #: Divide by the per-channel standard deviation (+ 1e-6) of the fit images.
    featurewise_std_normalization: bool = False
    #: ZCA-whiten the flattened image with the fit images' covariance (small images only).
    zca_whitening: bool = False
    #: Added to the covariance's singular values before the inverse square root.
    zca_epsilon: float = attrs.field(default=1e-6, validator=v.ge(0.0))
    #: Images the feature-wise statistics are fitted on (``norm_folder``'s, else test ones).
    fit_samples: int = attrs.field(default=1000, validator=v.ge(1))
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
        if opts.zca_whitening:
            features = int(np.prod(self.sample_shape))
            if features > ZCA_MAX_FEATURES:
                rows, cols, _ = self.sample_shape
                raise DatasetError(
                    f"[dataset] zca_whitening: images of {rows} x {cols} x {channels} have "
                    f"{features} features, more than {ZCA_MAX_FEATURES}: ZCA whitening fits "
                    f"and applies a {features} x {features} matrix, which is meant for small "
                    "images; set a smaller target_size or leave zca_whitening off"
                )
        if opts.on_error == "fail":
            for f in test.files:
                self._header_size(f)  # every file must at least be an image
        self.num_samples = len(test.files)
        self.classes = test.classes
        self._featurewise = (
            opts.featurewise_center or opts.featurewise_std_normalization or opts.zca_whitening
        )
        self._fitted = False
        #: Per-channel mean subtracted by ``featurewise_center`` (float32), once fitted.
        self.featurewise_mean: np.ndarray | None = None
        #: Per-channel standard deviation of ``featurewise_std_normalization``, once fitted.
        self.featurewise_std: np.ndarray | None = None
        #: ZCA matrix ``(d, d)`` applied to the flattened image, once fitted.
        self.principal_components: np.ndarray | None = None

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
                self._load(f, check_size=False, standardize=False)
                keep.append(i)
            except DatasetError as exc:
                log.warning("skipped: %s", exc)
        if not keep:
            raise DatasetError(f"{folder.root}: none of the images can be read")
        folder.files = [folder.files[i] for i in keep]
        folder.labels = folder.labels[keep]

    def _load(self, path: Path, check_size: bool = True, standardize: bool = True) -> np.ndarray:
        """Decode, resize and rescale one image; then (``standardize``) apply the samplewise
        and feature-wise options. Fitting and the unreadable-file check pass
        ``standardize=False``, so they never need the feature-wise statistics."""
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
        return self._standardize(arr) if standardize else arr

    def _standardize(self, arr: np.ndarray) -> np.ndarray:
        """Keras' ``ImageDataGenerator.standardize`` after rescaling, for one image."""
        opts = self.opts
        if opts.samplewise_center:
            arr = arr - arr.mean()
        if opts.samplewise_std_normalization:
            arr = arr / np.float32(arr.std() + 1e-6)
        if not self._featurewise:
            return arr
        self.fit()
        if self.featurewise_mean is not None:
            arr = arr - self.featurewise_mean
        if self.featurewise_std is not None:
            arr = arr / (self.featurewise_std + np.float32(1e-6))
        if self.principal_components is not None:
            arr = (arr.reshape(-1) @ self.principal_components).reshape(arr.shape)
        return arr

    def _fit_source(self) -> tuple[_Folder, np.ndarray]:
        folder = self._norm if self._norm is not None else self._test
        return folder, _spread(len(folder.files), self.opts.fit_samples)

    def fit(self) -> None:
        """Compute the feature-wise statistics, once (later calls do nothing).

        Called on the first batch that needs them. One streaming pass over the
        ``fit_samples`` fit images (rescaled, not yet samplewise-processed, as in Keras'
        ``fit``) sums each channel's values and squared values in float64 (shifted by the
        first batch's channel means, against cancellation) and, for ZCA, the flattened
        images and ``flat^T flat``; the covariance of the centred and scaled images is
        derived from those sums afterwards, so memory does not depend on ``fit_samples``.
        """
        if self._fitted or not self._featurewise:
            return
        opts = self.opts
        folder, idx = self._fit_source()
        log.info("fitting feature-wise statistics on %d images of %s", len(idx), folder.root)
        rows, cols, channels = self.sample_shape
        features = rows * cols * channels
        count = 0
        shift = np.zeros(channels)
        s1, s2 = np.zeros(channels), np.zeros(channels)
        gram = np.zeros((features, features)) if opts.zca_whitening else None
        flat_sum = np.zeros(features)
        for s in range(0, len(idx), _FIT_BATCH):
            x = np.stack(
                [
                    self._load(folder.files[int(i)], standardize=False)
                    for i in idx[s : s + _FIT_BATCH]
                ]
            ).astype(np.float64)
            if count == 0:
                shift = x.mean(axis=(0, 1, 2))
            xc = x - shift
            s1 += xc.sum(axis=(0, 1, 2))
            s2 += np.square(xc).sum(axis=(0, 1, 2))
            count += len(x)
            if gram is not None:
                flat = x.reshape(len(x), -1)
                gram += flat.T @ flat
                flat_sum += flat.sum(axis=0)
        pixels = count * rows * cols
        mean = shift + s1 / pixels
        std = np.sqrt(np.maximum(s2 / pixels - (s1 / pixels) ** 2, 0.0))
        if opts.featurewise_center:
            self.featurewise_mean = mean.astype(np.float32)
        if opts.featurewise_std_normalization:
            self.featurewise_std = std.astype(np.float32)
        if gram is not None:
            # flat^T flat / n of y = (flat - m) * scale, from the sums of flat and flat^T flat
            m = np.tile(mean, rows * cols) if opts.featurewise_center else np.zeros(features)
            scale = (
                np.tile(1.0 / (std + 1e-6), rows * cols)
                if opts.featurewise_std_normalization
                else np.ones(features)
            )
            outer = np.outer(m, flat_sum)
            sigma = (gram - outer - outer.T + count * np.outer(m, m)) / count
            sigma *= np.outer(scale, scale)
            # sigma is symmetric positive semi-definite: its eigendecomposition is Keras'
            # SVD, several times faster (rounding can leave eigenvalues a hair below 0)
            sv, u = np.linalg.eigh(sigma)
            sv = np.maximum(sv, 0.0) + opts.zca_epsilon
            if not np.all(sv > 0):
                raise DatasetError(
                    f"[dataset] zca_epsilon = {opts.zca_epsilon}: the covariance of the "
                    f"{count} fit images of {folder.root} is singular, so whitening divides "
                    "by zero; set zca_epsilon > 0 (Keras' default is 1e-6)"
                )
            whiten = (u * (1.0 / np.sqrt(sv))) @ u.T
            self.principal_components = whiten.astype(np.float32)
        log.info("feature-wise statistics fitted on %d images of %s", count, folder.root)
        self._fitted = True

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
            folder, idx = self._test, _spread(self.num_samples, self.opts.num_norm_samples)
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
            ``on_error = "fail"``) a file that is not an image, naming it; for
            ``zca_whitening`` on images of more than ``ZCA_MAX_FEATURES`` values.
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
