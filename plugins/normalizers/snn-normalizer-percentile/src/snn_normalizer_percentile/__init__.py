"""snn normalizers ``percentile`` and ``max``: data-based weight normalization.

See :mod:`snn_normalizer_percentile.normalizer`.
"""

from snn_normalizer_percentile.normalizer import MaxNormalizer, PercentileNormalizer

__all__ = ["MaxNormalizer", "PercentileNormalizer"]
