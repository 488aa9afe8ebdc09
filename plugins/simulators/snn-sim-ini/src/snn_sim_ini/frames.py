"""The ``frames`` input encoder: a temporal data set's frames, frame ``i`` at step ``i``.

A temporal data set (event-camera recordings, see ``snn_core.interfaces.Dataset.temporal``)
serves samples of shape ``(frames, *input_shape)``; the core replaces the code's input
encoding by ``frames`` for it. Frame ``i`` is injected as the input current at step ``i``
(0-based); after the last frame the input is zero. With ``[simulation] early_stopping`` a
batch ends when its frames run out (or earlier, when the code's readout settles).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

State = dict[str, tf.Tensor]


class FramesInput:
    """Frame ``t`` of each sample as the input at step ``t``; zero after the last frame."""

    static = False

    def __init__(self, params: Mapping[str, Any], dt: float) -> None:
        pass

    def prepare(self, x: tf.Tensor) -> State:
        """``x``: ``(batch, frames, *input_shape)``; frames are moved to the front."""
        rank = len(x.shape)
        return {"frames": tf.transpose(x, [1, 0, *range(2, rank)])}

    def init_state(self, x: tf.Tensor) -> State:
        return {}

    def input_end(self, consts: State) -> tf.Tensor:
        """The step at which the input runs out (the number of frames)."""
        return tf.shape(consts["frames"])[0]

    def step(self, consts: State, state: State, t: tf.Tensor, seed: tf.Tensor):
        frames = consts["frames"]
        n = tf.shape(frames)[0]
        frame = frames[tf.minimum(t, n - 1)]
        return frame * tf.cast(t < n, frame.dtype), state
