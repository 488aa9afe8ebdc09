"""The core's normalizer contract, run on both normalizers."""

from __future__ import annotations

from snn_normalizer_percentile import MaxNormalizer, PercentileNormalizer

from snn_core.testing.contracts import NormalizerContract


class TestPercentileContract(NormalizerContract):
    plugin_class = PercentileNormalizer
    hooks_module = "snn_normalizer_percentile.hooks"


class TestMaxContract(NormalizerContract):
    plugin_class = MaxNormalizer
    hooks_module = "snn_normalizer_percentile.hooks"
