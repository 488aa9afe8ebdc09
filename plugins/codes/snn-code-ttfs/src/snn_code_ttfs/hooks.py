"""Registration hook of the time-to-first-spike codes (imports only attrs)."""

from __future__ import annotations

from snn_core import hookimpl


@hookimpl
def snn_register_codes() -> list[type]:
    """Register the codes of :mod:`snn_code_ttfs.code`."""
    from snn_code_ttfs.code import CODES

    return list(CODES)
