"""Imports a library that does not exist, as a plugin with a missing dependency would."""

import snn_no_such_library_xyz  # noqa: F401

from snn_core import hookimpl


@hookimpl
def snn_register_simulators():
    return []
