"""The rate code (``temporal_mean_rate``): an activation is a neuron's mean firing rate."""

from snn_code_rate.code import TemporalMeanRate

__all__ = ["TemporalMeanRate"]
__version__ = "0.1.0"
