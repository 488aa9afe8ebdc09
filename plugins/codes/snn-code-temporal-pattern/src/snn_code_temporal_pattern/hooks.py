"""Registration hook of the ``temporal_pattern`` spike code (imports only attrs)."""

from __future__ import annotations

from snn_core import hookimpl


@hookimpl
def snn_register_codes() -> list[type]:
    """Register :class:`~snn_code_temporal_pattern.code.TemporalPattern`."""
    from snn_code_temporal_pattern.code import TemporalPattern

    return [TemporalPattern]
