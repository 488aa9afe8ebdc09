"""The rate code: integrate-and-fire neurons whose firing rates approximate activations.

This is the classic conversion of Rueckauer et al. (2017): every ReLU unit of the ANN
becomes an integrate-and-fire neuron; over ``T`` steps its spike count divided by ``T``
approximates the unit's (normalised) activation, and the class is the output neuron
that fired most.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import attrs

from snn_core.interfaces import CodeSpec, SpikeCode


def _events_cap(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if value == 0 or value < -1:
        raise ValueError(
            f"{attribute.name} must be -1 (unlimited) or a positive number of input spikes, "
            f"found {value}"
        )


@attrs.frozen
class RateOptions:
    """Options of the ``[code]`` table for ``name = "temporal_mean_rate"``."""

    #: Present each input as Poisson (Bernoulli per step) spike trains instead of injecting
    #: the pixel values as a constant current every step (``false``, less noisy).
    poisson_input: bool = False
    #: Poisson rate in Hz of a fully-on input (value 1); a value ``x`` spikes with
    #: probability ``x * input_rate * dt / 1000`` per step (capped at 1, so rates above
    #: ``1000 / dt`` Hz saturate). Ignored without ``poisson_input``.
    input_rate: float = attrs.field(default=1000.0, validator=attrs.validators.gt(0))
    #: Cap on the number of Poisson input spikes generated per sample (per frame): once a
    #: sample's input has emitted this many spikes, its input stays silent. -1: unlimited.
    num_poisson_events_per_sample: int = attrs.field(default=-1, validator=_events_cap)
    #: How the class is read from the output layer: ``membrane`` (the highest accumulated
    #: input current, the default: the output layer's own spike quantisation no longer
    #: limits accuracy, which matters most at short durations) or ``spike_count`` (the
    #: neuron that fired most, the SNN Toolbox's choice).
    readout: Literal["spike_count", "membrane"] = "membrane"


class TemporalMeanRate(SpikeCode):
    """Rate code: analog or Poisson input, integrate-and-fire neurons, spike-count readout."""

    name: ClassVar[str] = "temporal_mean_rate"
    Options: ClassVar[type] = RateOptions

    def spec(self) -> CodeSpec:
        """Return the primitives the simulator must offer.

        Returns
        -------
        CodeSpec
            ``input_encoding`` is ``"poisson"`` or ``"analog"``, ``neuron_model`` ``"if"``,
            ``readout`` the ``readout`` option; ``params`` holds ``input_rate`` (Hz) and
            ``num_poisson_events_per_sample``.
        """
        opts: RateOptions = self.options
        return CodeSpec(
            input_encoding="poisson" if opts.poisson_input else "analog",
            neuron_model="if",
            readout=opts.readout,
            params={
                "input_rate": float(opts.input_rate),
                "num_poisson_events_per_sample": int(opts.num_poisson_events_per_sample),
            },
        )
