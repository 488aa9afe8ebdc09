"""The ``temporal_pattern`` spike code: an activation is a binary number sent bit by bit."""

from snn_code_temporal_pattern.code import TemporalPattern

__all__ = ["TemporalPattern"]
__version__ = "0.1.0"
