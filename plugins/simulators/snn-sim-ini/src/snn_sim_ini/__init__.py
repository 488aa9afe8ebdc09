"""snn's built-in INI simulator: integrate-and-fire networks stepped in TensorFlow.

Importing this package does not import TensorFlow; :mod:`snn_sim_ini.simulator`,
:mod:`snn_sim_ini.ann` and :mod:`snn_sim_ini.bench` import it when used.
"""

__version__ = "0.1.0"
