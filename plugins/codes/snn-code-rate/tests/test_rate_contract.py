"""The core's spike-code contract, run for the rate code."""

from snn_code_rate import TemporalMeanRate

from snn_core.testing.contracts import CodeContract


class TestRateCodeContract(CodeContract):
    plugin_class = TemporalMeanRate
    hooks_module = "snn_code_rate.hooks"
