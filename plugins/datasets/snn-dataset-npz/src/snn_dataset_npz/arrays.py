"""Arrays stored in ``.npy`` files or ``.npz`` members, read a few rows at a time.

Nothing here loads a whole array. Three kinds of storage are served:

* ``.npy`` files and *uncompressed* ``.npz`` members (``np.savez``): the member's data
  offset inside the zip is found from its local file header and the npy header, and rows
  are read with positional reads into a freshly allocated batch. (We read rather than
  ``np.memmap``: the pages a memory map touches are charged to the process's resident
  set, so iterating a 400 MB memmap makes RSS grow by 400 MB, while reads keep it at one
  batch.) Random access is cheap.
* *compressed* ``.npz`` members (``np.savez_compressed``): a deflate stream cannot be
  entered in the middle, so rows are read sequentially through
  :meth:`zipfile.ZipFile.open`. Requests for non-decreasing indices (the usual case: all
  samples, the first n, a sorted selection) are served by one forward scan that skips
  unrequested rows, resuming where the previous request stopped. The first request that
  goes backwards decompresses the member once into a ``.npy`` file in a private temporary
  folder (``tempfile.mkdtemp``, removed by :meth:`StoredArray.close`) and reads from it
  from then on, so arbitrary orders cost one extra pass, not one pass per batch.
* Fortran-ordered arrays (rare: ``np.save`` of a transposed array) are memory-mapped,
  or, in a compressed member, spilled to the temporary folder first.
"""

from __future__ import annotations

import logging
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np

from snn_core.errors import DatasetError

log = logging.getLogger(__name__)

#: Array dtype kinds we accept: bool, signed and unsigned integers, floats.
NUMERIC_KINDS = "biuf"
#: Bytes read at a time when skipping or copying a compressed stream.
_CHUNK_BYTES = 16 * 2**20
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")


def _read_npy_header(fh: IO[bytes], where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Read the npy magic and header at the current position of ``fh``."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        if version == (1, 0):
            return fmt.read_array_header_1_0(fh)
        if version == (2, 0):
            return fmt.read_array_header_2_0(fh)
        return fmt._read_array_header(fh, version)  # version 3.0 (utf-8 field names)
    except ValueError as exc:
        raise DatasetError(f"{where}: not a numpy array file ({exc})") from None


def _check_numeric(dtype: np.dtype, where: str) -> None:
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None:
        raise DatasetError(
            f"{where}: holds non-numeric data (dtype {dtype}); expected an array of "
            "numbers (bool, int or float)"
        )


class StoredArray:
    """An array in a file, served in rows.

    Attributes
    ----------
    where
        How to name the array in messages, e.g. ``data/x_test.npz (member 'arr_0')``.
    shape, dtype
        As stored.
    """

    def __init__(self, where: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.where = where
        self.shape = tuple(int(s) for s in shape)
        self.dtype = dtype
        if not self.shape:
            raise DatasetError(f"{where}: holds a scalar; expected an array of samples")
        _check_numeric(dtype, where)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def row_shape(self) -> tuple[int, ...]:
        """Shape of one row (one sample)."""
        return self.shape[1:]

    @property
    def row_bytes(self) -> int:
        """Bytes per row."""
        return int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize

    def read_rows(self, indices: np.ndarray) -> np.ndarray:
        """Return the rows at ``indices`` (in that order) as a new array."""
        raise NotImplementedError

    def iter_rows(self, batch_size: int) -> Iterator[np.ndarray]:
        """Yield all rows in order, ``batch_size`` at a time."""
        for start in range(0, len(self), batch_size):
            yield self.read_rows(np.arange(start, min(start + batch_size, len(self))))

    def close(self) -> None:
        """Release open files and temporary copies."""


def _runs(indices: np.ndarray) -> Iterator[tuple[int, int, int]]:
    """Split ``indices`` into runs of consecutive values: ``(position, first, length)``."""
    if len(indices) == 0:
        return
    breaks = np.flatnonzero(np.diff(indices) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(indices)]])
    for s, e in zip(starts, ends, strict=True):
        yield int(s), int(indices[s]), int(e - s)


def _readinto(fh: IO[bytes], out: np.ndarray, where: str) -> None:
    """Fill the C-contiguous array ``out`` from ``fh``."""
    view = memoryview(out.reshape(-1)).cast("B")
    done = 0
    while done < len(view):
        n = fh.readinto(view[done:])
        if not n:
            raise DatasetError(f"{where}: file ends early (truncated or damaged)")
        done += n


class RawArray(StoredArray):
    """A C-ordered array stored uncompressed at byte ``offset`` of ``path``."""

    def __init__(
        self, path: Path, offset: int, shape: tuple[int, ...], dtype: np.dtype, where: str
    ) -> None:
        super().__init__(where, shape, dtype)
        self.path = path
        self.offset = offset
        self._fh: IO[bytes] | None = None
        size = path.stat().st_size
        if offset + len(self) * self.row_bytes > size:
            raise DatasetError(
                f"{where}: the header announces shape {self.shape} ({dtype}), but the file "
                f"is only {size} bytes long (truncated?)"
            )

    def read_rows(self, indices: np.ndarray) -> np.ndarray:
        """Read the rows at ``indices``, one positional read per run of consecutive rows."""
        out = np.empty((len(indices), *self.row_shape), dtype=self.dtype)
        if self._fh is None:
            self._fh = open(self.path, "rb")
        for pos, first, length in _runs(np.asarray(indices, dtype=np.int64)):
            self._fh.seek(self.offset + first * self.row_bytes)
            _readinto(self._fh, out[pos : pos + length], self.where)
        return out

    def close(self) -> None:
        """Close the file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class MappedArray(StoredArray):
    """A Fortran-ordered array, served through a read-only memory map."""

    def __init__(
        self, path: Path, offset: int, shape: tuple[int, ...], dtype: np.dtype, where: str
    ) -> None:
        super().__init__(where, shape, dtype)
        self._map: np.memmap | None = np.memmap(
            path, dtype=dtype, mode="r", offset=offset, shape=self.shape, order="F"
        )

    def read_rows(self, indices: np.ndarray) -> np.ndarray:
        """Copy the rows at ``indices`` out of the map."""
        assert self._map is not None, "array was closed"
        return np.ascontiguousarray(self._map[np.asarray(indices, dtype=np.int64)])

    def close(self) -> None:
        """Drop the map."""
        self._map = None


class StreamedArray(StoredArray):
    """A C-ordered array in a compressed zip member, read sequentially.

    See the module docstring for how non-sequential requests are served.
    """

    def __init__(
        self,
        path: Path,
        member: str,
        shape: tuple[int, ...],
        dtype: np.dtype,
        where: str,
        fortran: bool = False,
    ) -> None:
        super().__init__(where, shape, dtype)
        self.path = path
        self.member = member
        self.fortran = fortran
        self._zip: zipfile.ZipFile | None = None
        self._stream: IO[bytes] | None = None
        self._pos = 0  # row the stream is at
        self._spill: StoredArray | None = None
        self._spill_dir: Path | None = None

    def _open_stream(self) -> IO[bytes]:
        if self._zip is None:
            self._zip = zipfile.ZipFile(self.path)
        stream = self._zip.open(self.member)
        _read_npy_header(stream, self.where)
        return stream

    def _goto(self, row: int) -> IO[bytes]:
        """Position the stream at ``row``, reopening it if ``row`` is behind."""
        if self._stream is None or row < self._pos:
            if self._stream is not None:
                self._stream.close()
            self._stream, self._pos = self._open_stream(), 0
        skip = (row - self._pos) * self.row_bytes
        while skip:
            got = len(self._stream.read(min(skip, _CHUNK_BYTES)))
            if not got:
                raise DatasetError(f"{self.where}: member ends early (truncated or damaged)")
            skip -= got
        self._pos = row
        return self._stream

    def _read_run(self, first: int, out: np.ndarray) -> None:
        stream = self._goto(first)
        _readinto(stream, out, self.where)
        self._pos += len(out)

    def read_rows(self, indices: np.ndarray) -> np.ndarray:
        """Rows at ``indices``: by forward scan if they do not go backwards, else from a spill."""
        indices = np.asarray(indices, dtype=np.int64)
        if self._spill is None and len(indices):
            backwards = np.any(np.diff(indices) < 0) or (
                self._stream is not None and indices[0] < self._pos
            )
            if backwards:
                self._spill_to_disk()
        if self._spill is not None:
            return self._spill.read_rows(indices)
        unique, inverse = np.unique(indices, return_inverse=True)
        rows = np.empty((len(unique), *self.row_shape), dtype=self.dtype)
        for pos, first, length in _runs(unique):
            self._read_run(first, rows[pos : pos + length])
        return rows if len(unique) == len(indices) else rows[inverse]

    def iter_rows(self, batch_size: int) -> Iterator[np.ndarray]:
        """Yield all rows in order through a stream of its own (independent of read_rows)."""
        if self._spill is not None:
            yield from self._spill.iter_rows(batch_size)
            return
        with zipfile.ZipFile(self.path) as zf, zf.open(self.member) as stream:
            _read_npy_header(stream, self.where)
            for start in range(0, len(self), batch_size):
                out = np.empty((min(batch_size, len(self) - start), *self.row_shape), self.dtype)
                _readinto(stream, out, self.where)
                yield out

    def _spill_to_disk(self) -> None:
        """Decompress the member once into a temporary ``.npy`` file and read from there."""
        self._spill_dir = Path(tempfile.mkdtemp(prefix="snn-npz-"))
        target = self._spill_dir / (Path(self.member).stem + ".npy")
        log.info(
            "%s: samples requested out of order from a compressed member; decompressing it "
            "once to %s",
            self.where,
            target,
        )
        with open(target, "wb") as out, zipfile.ZipFile(self.path) as zf:
            with zf.open(self.member) as stream:
                _read_npy_header(stream, self.where)
                header = {
                    "descr": np.lib.format.dtype_to_descr(self.dtype),
                    "fortran_order": self.fortran,
                    "shape": self.shape,
                }
                np.lib.format.write_array_header_2_0(out, header)
                offset = out.tell()
                shutil.copyfileobj(stream, out, _CHUNK_BYTES)
        cls = MappedArray if self.fortran else RawArray
        self._spill = cls(target, offset, self.shape, self.dtype, self.where)
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def close(self) -> None:
        """Close the zip and remove the temporary copy, if any."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        if self._zip is not None:
            self._zip.close()
            self._zip = None
        if self._spill is not None:
            self._spill.close()
            self._spill = None
        if self._spill_dir is not None:
            shutil.rmtree(self._spill_dir, ignore_errors=True)
            self._spill_dir = None


def _member_data_start(path: Path, info: zipfile.ZipInfo) -> int:
    """Byte offset in ``path`` where the (stored) data of zip member ``info`` begins."""
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        header = fh.read(_LOCAL_HEADER.size)
    fields = _LOCAL_HEADER.unpack(header)
    if fields[0] != b"PK\x03\x04":
        raise DatasetError(f"{path}: damaged zip file (bad local header of {info.filename!r})")
    name_len, extra_len = fields[10], fields[11]
    return info.header_offset + _LOCAL_HEADER.size + name_len + extra_len


def open_npy(path: Path) -> StoredArray:
    """Open a ``.npy`` file without reading its data."""
    where = str(path)
    with open(path, "rb") as fh:
        shape, fortran, dtype = _read_npy_header(fh, where)
        offset = fh.tell()
    cls = MappedArray if fortran and len(shape) > 1 else RawArray
    return cls(path, offset, shape, dtype, where)


def open_npz(path: Path, preferred: tuple[str, ...]) -> StoredArray:
    """Open the single array of an ``.npz`` file (or the first of ``preferred`` names in it).

    Raises
    ------
    DatasetError
        If the file is not a zip of ``.npy`` members, or holds several arrays none of which
        is named in ``preferred``.
    """
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"{path}: not an .npz file ({exc})") from None
    with zf:
        members = {
            info.filename[: -len(".npy")]: info
            for info in zf.infolist()
            if info.filename.endswith(".npy")
        }
        if not members:
            raise DatasetError(f"{path}: the .npz file holds no arrays")
        if len(members) == 1:
            name = next(iter(members))
        else:
            found = [p for p in preferred if p in members]
            if not found:
                raise DatasetError(
                    f"{path}: holds several arrays {sorted(members)}; expected one array, or "
                    f"one named {' or '.join(repr(p) for p in preferred)}"
                )
            name = found[0]
        info = members[name]
        where = f"{path} (array {name!r})"
        if info.flag_bits & 0x1:
            raise DatasetError(f"{where}: the member is encrypted")
        with zf.open(info) as stream:
            shape, fortran, dtype = _read_npy_header(stream, where)
            header_len = stream.tell()
    fortran = fortran and len(shape) > 1
    if info.compress_type == zipfile.ZIP_STORED:
        offset = _member_data_start(path, info) + header_len
        cls = MappedArray if fortran else RawArray
        return cls(path, offset, shape, dtype, where)
    array = StreamedArray(path, info.filename, shape, dtype, where, fortran=fortran)
    if fortran:
        array._spill_to_disk()  # rows of a Fortran array are not contiguous in the stream
    return array
