"""Registration hooks of the ``percentile`` and ``max`` normalizers."""

from __future__ import annotations

from snn_core import hookimpl


@hookimpl
def snn_register_normalizers() -> list[type]:
    """Register ``percentile`` and ``max``."""
    from snn_normalizer_percentile.normalizer import MaxNormalizer, PercentileNormalizer

    return [PercentileNormalizer, MaxNormalizer]
