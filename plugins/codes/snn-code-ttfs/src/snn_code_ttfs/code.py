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


@attrs.frozen
class TTFSDynThreshOptions:
    """Options of the ``[code]`` table for ``name = "ttfs_dyn_thresh"``."""

    #: The lag ``L`` between a layer's window and its inputs' window, in steps; every
    #: layer encodes values in a window of ``2 L`` steps (resolution ``1 / (2 L)``).
    #: 0: the duration divided into ``D + 2`` lags, ``D`` being the output layer's depth.
    phase_steps: int = attrs.field(default=0, validator=attrs.validators.ge(0))


class TTFSDynThresh(SpikeCode):
    """Time to first spike with dynamic thresholds: layers overlap, each neuron fires once
    as soon as the inhibition it may still receive cannot lower its value below the value
    its spike encodes (Rueckauer & Liu 2018). The earliest output spike decides."""

    name: ClassVar[str] = "ttfs_dyn_thresh"
    Options: ClassVar[type] = TTFSDynThreshOptions

    def spec(self) -> CodeSpec:
        """Return the primitives the simulator must offer.

        Returns
        -------
        CodeSpec
            ``input_encoding`` and ``neuron_model`` ``"ttfs_dyn_thresh"``, ``readout``
            ``"first_spike"``; ``params`` holds ``phase_steps`` (the lag).
        """
        opts: TTFSDynThreshOptions = self.options
        return CodeSpec(
            input_encoding="ttfs_dyn_thresh",
            neuron_model="ttfs_dyn_thresh",
            readout="first_spike",
            params={"phase_steps": int(opts.phase_steps)},
        )


@attrs.frozen
class TTFSCorrectiveOptions:
    """Options of the ``[code]`` table for ``name = "ttfs_corrective"``."""

    #: The lag ``L`` between a layer's window and its inputs' window, in steps; every
    #: layer encodes values in a window of ``2 L`` steps (resolution ``1 / (2 L)``).
    #: 0: the duration divided into ``D + 2`` lags, ``D`` being the output layer's depth.
    phase_steps: int = attrs.field(default=0, validator=attrs.validators.ge(0))


class TTFSCorrective(SpikeCode):
    """Time to first spike with corrective spikes: layers overlap, a neuron's first spike
    is a guess from the inputs seen so far and later signed spikes correct it. The output
    layer's estimate decides (``potential`` readout), complete once its inputs' window
    has closed."""

    name: ClassVar[str] = "ttfs_corrective"
    Options: ClassVar[type] = TTFSCorrectiveOptions

    def spec(self) -> CodeSpec:
        """Return the primitives the simulator must offer.

        Returns
        -------
        CodeSpec
            ``input_encoding`` ``"ttfs_dyn_thresh"`` (one spike per input in a window of
            ``2 L`` steps), ``neuron_model`` ``"ttfs_corrective"``, ``readout``
            ``"potential"``; ``params`` holds ``phase_steps`` (the lag).
        """
        opts: TTFSCorrectiveOptions = self.options
        return CodeSpec(
            input_encoding="ttfs_dyn_thresh",
            neuron_model="ttfs_corrective",
            readout="potential",
            params={"phase_steps": int(opts.phase_steps)},
        )


#: The classes :func:`snn_code_ttfs.hooks.snn_register_codes` registers.
CODES: tuple[type[SpikeCode], ...] = (TTFS, TTFSDynThresh, TTFSCorrective)
