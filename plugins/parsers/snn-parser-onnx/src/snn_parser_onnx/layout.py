"""Index bookkeeping between ONNX's channels-first tensors and the channels-last IR."""

from __future__ import annotations

import numpy as np


def channels_last(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The IR shape of an ONNX sample shape: channels (axis 0) moved last if rank >= 2."""
    shape = tuple(shape)
    return (*shape[1:], shape[0]) if len(shape) >= 2 else shape


def canonical(shape: tuple[int, ...]) -> np.ndarray:
    """``perm`` of a tensor of ONNX sample ``shape`` held channels-last in the IR."""
    n = int(np.prod(shape, dtype=np.int64))
    order = np.arange(n).reshape(channels_last(shape))
    return np.moveaxis(order, -1, 0) if len(shape) >= 2 else order


def nearest_source(n: int, factor: int, coord: str, rounding: str) -> np.ndarray:
    """Input index each output index of a nearest Resize by ``factor`` reads."""
    o = np.arange(n * factor, dtype=np.float64)
    m = n * factor
    if coord in ("half_pixel", "pytorch_half_pixel"):
        x = (o + 0.5) / factor - 0.5
        if coord == "pytorch_half_pixel" and m == 1:
            x = np.zeros_like(o)
    elif coord == "asymmetric":
        x = o / factor
    elif coord == "align_corners":
        x = o * (n - 1) / (m - 1) if m > 1 else np.zeros_like(o)
    elif coord == "tf_half_pixel_for_nn":
        x = (o + 0.5) / factor
    else:
        return np.full(m, -1)
    if rounding == "floor":
        idx = np.floor(x)
    elif rounding == "ceil":
        idx = np.ceil(x)
    elif rounding == "round_prefer_ceil":
        idx = np.floor(x + 0.5)
    else:  # round_prefer_floor
        idx = np.ceil(x - 0.5)
    return np.clip(idx, 0, n - 1).astype(np.int64)


__all__ = ["canonical", "channels_last", "nearest_source"]
