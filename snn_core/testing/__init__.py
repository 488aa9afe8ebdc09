"""Contract tests and helpers that every plugin can run from its own test suite.

A plugin distribution gets them through the ``snn_core`` pytest plugin (installed with
snn-core): in a test module, subclass the contract of its kind and name the class under
test, e.g. ::

    from snn_core.testing.contracts import SimulatorContract

    class TestMySimulator(SimulatorContract):
        plugin_class = MySimulator
"""
