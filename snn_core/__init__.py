"""snn: convert trained analog neural networks to spiking networks and run them.

The core defines the plugin hooks (:mod:`snn_core.hookspecs`), the plugin base classes
(:mod:`snn_core.interfaces`), the network IR (:mod:`snn_core.network`), the experiment
schema (:mod:`snn_core.config`) and the pipeline that ties them together.
"""

from importlib.metadata import PackageNotFoundError, version

from snn_core.hookspecs import hookimpl

try:
    __version__ = version("snn-core")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["__version__", "hookimpl"]
