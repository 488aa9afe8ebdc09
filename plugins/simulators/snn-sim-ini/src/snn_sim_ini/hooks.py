"""Registration hook of the ``ini`` simulator (imports neither TensorFlow nor numpy work)."""

from __future__ import annotations

from snn_core import hookimpl


@hookimpl
def snn_register_simulators() -> list[type]:
    """Register :class:`~snn_sim_ini.simulator.IniSimulator` as ``ini``."""
    from snn_sim_ini.simulator import IniSimulator

    return [IniSimulator]
