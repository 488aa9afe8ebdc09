"""The core's simulator contract, run for the ini simulator."""

from snn_code_rate import TemporalMeanRate
from snn_sim_ini.simulator import IniSimulator

from snn_core.testing.contracts import SimulatorContract


class TestIniSimulatorContract(SimulatorContract):
    plugin_class = IniSimulator
    hooks_module = "snn_sim_ini.hooks"
    code_class = TemporalMeanRate
