"""The error tree of snn.

Every error that a user can cause derives from :class:`SnnError`, and each leaf also
derives from the matching builtin (as nengo and PyNN do), so ``except ValueError`` still
works for callers that do not know our types. The CLI prints these without a traceback
and exits with status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class SnnError(Exception):
    """Root of every error snn raises on purpose."""


class ConfigError(SnnError, ValueError):
    """The experiment file (or a value in it) is invalid."""


class UnknownPluginError(SnnError, LookupError):
    """An experiment names a plugin that is not installed."""


class BrokenPluginError(SnnError, ImportError):
    """A plugin is installed but failed to load."""


class PluginConflictError(SnnError, RuntimeError):
    """Two installed plugins register the same name for the same kind."""


class CapabilityError(SnnError, ValueError):
    """A simulator cannot run what the experiment asks for (a code, a layer, a cell option)."""


class NetworkFormatError(SnnError, ValueError):
    """A parsed-network file is not ours, is damaged or comes from a newer version."""


class UnsupportedLayerError(SnnError, ValueError):
    """A model contains a layer or operation that a parser or simulator cannot convert."""


class DatasetError(SnnError, ValueError):
    """A data set is missing, malformed or does not fit the network."""


class OutputExistsError(SnnError, FileExistsError):
    """The output folder already holds results that must not be overwritten."""
