"""The temporal pattern code: activations as binary bit patterns, layer by layer.

Each layer sends its (ReLU-ed, normalised) activation ``a`` in ``[0, 1)`` as
``num_bits`` binary spikes, most significant bit first: the spike at step ``k`` of the
layer's phase stands for ``2**-(k + 1)``. The next layer integrates the bit-weighted sum
of its input over those ``num_bits`` steps - the ANN's pre-activation of the quantized
inputs, exactly - and re-encodes its own value the same way in the next phase. A network
whose output layer is ``D`` layers of neurons deep therefore needs ``D * num_bits``
steps; the class is the output layer's integrated value (readout ``potential``).

Every activation is truncated to ``num_bits`` bits (values of 1 and more are clipped to
``1 - 2**-num_bits``), so at 8 bits and more the network's accuracy is the ANN's. The
SNN Toolbox runs this code with ``batch_size = 1`` only; here any batch size works.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from snn_core.interfaces import CodeSpec, SpikeCode


@attrs.frozen
class TemporalPatternOptions:
    """Options of the ``[code]`` table for ``name = "temporal_pattern"``."""

    #: Bits per activation (the SNN Toolbox's ``num_bits``): one time step each, so a
    #: network ``D`` layers of neurons deep needs ``duration >= D * num_bits * dt``.
    num_bits: int = attrs.field(
        default=32, validator=[attrs.validators.ge(1), attrs.validators.le(32)]
    )


class TemporalPattern(SpikeCode):
    """Temporal pattern code: activations as binary spike patterns, MSB first, per layer."""

    name: ClassVar[str] = "temporal_pattern"
    Options: ClassVar[type] = TemporalPatternOptions

    def spec(self) -> CodeSpec:
        """Return the primitives the simulator must offer.

        Returns
        -------
        CodeSpec
            ``input_encoding`` ``"bits"``, ``neuron_model`` ``"bits"``, ``readout``
            ``"potential"``; ``params`` holds ``num_bits``.
        """
        return CodeSpec(
            input_encoding="bits",
            neuron_model="bits",
            readout="potential",
            params={"num_bits": int(self.options.num_bits)},
        )
