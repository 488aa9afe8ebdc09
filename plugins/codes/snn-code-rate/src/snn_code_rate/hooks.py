"""Registration hook of the ``temporal_mean_rate`` spike code (imports only attrs)."""

from __future__ import annotations

from snn_core import hookimpl


@hookimpl
def snn_register_codes() -> list[type]:
    """Register :class:`~snn_code_rate.code.TemporalMeanRate` as ``temporal_mean_rate``."""
    from snn_code_rate.code import TemporalMeanRate

    return [TemporalMeanRate]
