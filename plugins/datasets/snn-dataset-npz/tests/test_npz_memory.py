"""Streaming a ~400 MB test set keeps the reader's memory at about one batch.

The files are written member by member (as ``np.savez`` does, but in chunks so that the
test itself does not hold 400 MB), and read in a fresh subprocess whose peak resident set
size (``ru_maxrss``) is compared before and after serving every sample.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROW_SHAPE = (64, 64, 3)  # 48 KiB per float32 sample
#: Samples per file: 402,653,184 bytes uncompressed; the compressed file (deflating random
#: floats is slow) is a quarter of that, which still dwarfs a batch.
NUM_SAMPLES = {"savez": 8192, "savez_compressed": 2048}
BLOCK = np.random.default_rng(1).random((256, *ROW_SHAPE), dtype=np.float32)


def _write_npz(path: Path, compressed: bool, num_samples: int) -> None:
    """An npz with one (NUM_SAMPLES, *ROW_SHAPE) float32 array ``arr_0``, written in chunks."""
    compression = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=compression, compresslevel=1) as zf:
        with zf.open("arr_0.npy", "w", force_zip64=True) as fh:
            header = {"descr": "<f4", "fortran_order": False, "shape": (num_samples, *ROW_SHAPE)}
            np.lib.format.write_array_header_2_0(fh, header)
            for start in range(0, num_samples, len(BLOCK)):
                block = BLOCK + np.float32(start)  # distinct rows, compressible block structure
                fh.write(block.tobytes())


SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    import numpy as np
    from snn_dataset_npz import NpzReader

    folder, order = Path(sys.argv[1]), sys.argv[2]
    ds = NpzReader(NpzReader.Options(path=folder)).open(folder)
    n = ds.num_samples
    indices = np.arange(n) if order == "all" else np.random.default_rng(0).permutation(n)[:500]
    # warm up: one batch, so that lazily imported numpy parts are resident
    next(ds.test_batches(indices[:256], 256))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    seen, checks = 0, []
    for x, y in ds.test_batches(indices, 256):
        seen += len(x)
        checks.append(float(x[:, 0, 0, 0].sum()))
    norm = sum(len(b) for b in ds.norm_batches(256))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    ds.close()
    print(json.dumps({"seen": seen, "norm": norm, "growth": after - before,
                      "checksum": sum(checks)}))
    """
)


@pytest.fixture(scope="module", params=["savez", "savez_compressed"])
def big_folder(request, tmp_path_factory) -> tuple[Path, int]:
    folder = tmp_path_factory.mktemp(request.param)
    n = NUM_SAMPLES[request.param]
    _write_npz(folder / "x_test.npz", request.param == "savez_compressed", n)
    np.savez(folder / "y_test.npz", np.arange(n) % 10)
    # the same file serves as normalization set (a second full pass)
    (folder / "x_norm.npz").symlink_to(folder / "x_test.npz")
    yield folder, n
    for path in folder.iterdir():
        path.unlink()


@pytest.mark.slow
@pytest.mark.parametrize("order", ["all", "random"])
def test_streaming_keeps_memory_bounded(big_folder, order):
    big_folder, n = big_folder
    if "compressed" not in big_folder.name:
        assert (big_folder / "x_test.npz").stat().st_size > 400e6
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(big_folder), order],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout)
    assert result["seen"] == (n if order == "all" else 500)
    assert result["norm"] == n
    # one batch of 256 samples is 12.6 MB; allow a few batches: 40 MB, a tenth of the large
    # file and far below either file's size
    assert result["growth"] < 40e6, result
    if order == "all":
        expected = sum(float((BLOCK[:, 0, 0, 0] + np.float32(s)).sum()) for s in range(0, n, 256))
        assert result["checksum"] == pytest.approx(expected, rel=1e-6)
