"""Events of one sample -> a sequence of frames ``(frames, rows, cols, channels)``.

In order:

1. *Outliers*: events outside the chip (``x >= width`` or ``y >= height``) are dropped.
2. *Flips*: ``is_x_flipped`` mirrors x (``width - 1 - x``), ``is_y_flipped`` mirrors y.
3. *Orientation*: frame rows are y and columns x, or the reverse with ``is_x_first``.
4. *Time*: an event at time ``t`` goes to frame ``(t - t0) // eventframe_width``, ``t0``
   the sample's first timestamp; a frame spans at most ``eventframe_width`` µs.
5. *Subsampling* from the chip to the frame size: chip pixel ``(r, c)`` maps to
   ``(r * rows // chip_rows, c * cols // chip_cols)``. With ``maxpool_subsampling`` the
   events are first summed per chip pixel and each frame pixel takes the chip pixel of
   largest magnitude in its block (max pooling); without it, all events of the block add
   up (sum pooling).
6. *Values* (``frame_gen_method``): ``signed_sum`` (one channel, ON +1, OFF -1),
   ``rectified_sum`` (one channel, every event +1), ``rectified_polarity_channels`` (ON
   events +1 in channel 0, OFF events +1 in channel 1), ``signed_polarity_channels`` (ON
   +1 in channel 0, OFF -1 in channel 1).
7. *Clipping* (``do_clip_three_sigma``): in each frame, magnitudes above
   ``mean + 3 std`` of the non-zero magnitudes are clipped to that value (hot pixels).
"""

from __future__ import annotations

import attrs
import numpy as np

from snn_dataset_aedat.formats import Events

METHODS = (
    "signed_sum",
    "rectified_sum",
    "rectified_polarity_channels",
    "signed_polarity_channels",
)


def channels(method: str) -> int:
    """Number of channels ``method`` produces."""
    return 2 if method.endswith("channels") else 1


@attrs.frozen
class FrameSpec:
    """How events become frames (see the module docstring)."""

    chip: tuple[int, int]  # (width, height)
    size: tuple[int, int]  # (rows, cols) of a frame
    eventframe_width: int
    method: str = "signed_sum"
    is_x_first: bool = False
    is_x_flipped: bool = False
    is_y_flipped: bool = False
    maxpool_subsampling: bool = True
    do_clip_three_sigma: bool = True

    @property
    def chip_rc(self) -> tuple[int, int]:
        """Chip size as (rows, cols)."""
        w, h = self.chip
        return (w, h) if self.is_x_first else (h, w)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of one frame."""
        return (*self.size, channels(self.method))

    def num_frames(self, t: np.ndarray) -> int:
        """Frames the timestamps ``t`` of a sample span."""
        if len(t) == 0:
            return 1
        return int((t.max() - t.min()) // self.eventframe_width) + 1

    def frames(self, ev: Events, num_frames: int) -> np.ndarray:
        """The frames of the events of one sample; frames past ``num_frames`` are dropped."""
        out = np.zeros((num_frames, *self.shape), np.float32)
        w, h = self.chip
        inside = (ev.x >= 0) & (ev.x < w) & (ev.y >= 0) & (ev.y < h)
        x, y, t, on = ev.x[inside], ev.y[inside], ev.t[inside], ev.p[inside]
        if len(t) == 0:
            return out
        if self.is_x_flipped:
            x = w - 1 - x
        if self.is_y_flipped:
            y = h - 1 - y
        r, c = (x, y) if self.is_x_first else (y, x)
        f = (t - t.min()) // self.eventframe_width
        keep = f < num_frames
        r, c, f, on = r[keep].astype(np.int64), c[keep].astype(np.int64), f[keep], on[keep]
        if self.method.endswith("channels"):
            ch = np.where(on, 0, 1)
        else:
            ch = np.zeros(len(on), np.int64)
        if self.method.startswith("signed"):
            val = np.where(on, 1.0, -1.0)
        else:
            val = np.ones(len(on))
        rows, cols = self.size
        crows, ccols = self.chip_rc
        nch = out.shape[-1]
        subsample = (rows, cols) != (crows, ccols)
        if not (subsample and self.maxpool_subsampling):
            lin = ((f * rows + r * rows // crows) * cols + c * cols // ccols) * nch + ch
            np.add.at(out.reshape(-1), lin, val)
        else:
            full = ((f * crows + r) * ccols + c) * nch + ch
            uniq, inv = np.unique(full, return_inverse=True)
            sums = np.bincount(inv, weights=val)
            uch = uniq % nch
            rest = uniq // nch
            uc, rest = rest % ccols, rest // ccols
            ur, uf = rest % crows, rest // crows
            lin = ((uf * rows + ur * rows // crows) * cols + uc * cols // ccols) * nch + uch
            hi = np.zeros(out.size)
            lo = np.zeros(out.size)
            np.maximum.at(hi, lin, sums)
            np.minimum.at(lo, lin, sums)
            out.reshape(-1)[:] = np.where(hi >= -lo, hi, lo)
        if self.do_clip_three_sigma:
            _clip_three_sigma(out)
        return out


def _clip_three_sigma(frames: np.ndarray) -> None:
    """Clip magnitudes above mean + 3 std of each frame's non-zero magnitudes, in place."""
    mag = np.abs(frames.reshape(len(frames), -1)).astype(np.float64)
    count = np.count_nonzero(mag, axis=1)
    n = np.maximum(count, 1)
    mean = mag.sum(axis=1) / n
    var = np.maximum((mag**2).sum(axis=1) / n - mean**2, 0.0)
    limit = np.where(count >= 2, mean + 3 * np.sqrt(var), np.inf).astype(np.float32)
    limit = limit.reshape(-1, *([1] * (frames.ndim - 1)))
    np.clip(frames, -limit, limit, out=frames)
