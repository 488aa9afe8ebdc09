"""Time to first spike (``ttfs``): each neuron fires at most once, earlier for more.

The network works layer by layer in phases of ``P`` steps (Rueckauer & Liu 2018's
single-spike code, made exact by separating the layers in time as in Stanojevic et al.
2023). In its integration phase a layer's neurons receive their inputs' single spikes;
each spike switches on a constant synaptic current (its weight) until the phase ends, so
an input that fired ``P - n`` steps into the phase contributes ``n / P`` of its weight:
the membrane ends at ``P`` times the ANN's pre-activation of the inputs' values quantized
to ``1 / P``. In its firing phase the membrane ramps up by ``1 / P`` per step and the
neuron fires once, at step ``P - round(value * P)`` of the phase, so larger values fire
earlier and non-positive ones never (ReLU). A network whose output layer is ``D``
layers of neurons deep needs ``D * P`` steps for the output's value and one more phase
for its spikes: the earliest output spike decides (readout ``first_spike``), ties
broken by the membrane, and before any output has fired the membrane decides.
With ``[simulation] early_stopping = true`` a sample stops at its first output spike.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import attrs

from snn_core.interfaces import CodeSpec, SpikeCode


@attrs.frozen
class TTFSOptions:
    """Options of the ``[code]`` table for ``name = "ttfs"``."""

    #: Steps per layer phase, the code's resolution (a value is quantized to ``1 / P``).
    #: 0: the duration divided into ``D + 1`` equal phases, ``D`` being the output
    #: layer's depth in layers of neurons.
    phase_steps: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    #: ``first_spike``: the earliest output spike decides; ``potential``: the output
    #: layer's membrane at the end of its integration phase (no output spikes needed).
    readout: Literal["first_spike", "potential"] = "first_spike"


class TTFS(SpikeCode):
    """Time to first spike: one spike per neuron, layer by layer; the earliest output wins."""

    name: ClassVar[str] = "ttfs"
    Options: ClassVar[type] = TTFSOptions

    def spec(self) -> CodeSpec:
        """Return the primitives the simulator must offer.

        Returns
        -------
        CodeSpec
            ``input_encoding`` ``"ttfs"``, ``neuron_model`` ``"ttfs"``, ``readout`` the
            ``readout`` option; ``params`` holds ``phase_steps``.
        """
        opts: TTFSOptions = self.options
        return CodeSpec(
            input_encoding="ttfs",
            neuron_model="ttfs",
            readout=opts.readout,
            params={"phase_steps": int(opts.phase_steps)},
        )


#: The classes :func:`snn_code_ttfs.hooks.snn_register_codes` registers.
CODES: tuple[type[SpikeCode], ...] = (TTFS,)
