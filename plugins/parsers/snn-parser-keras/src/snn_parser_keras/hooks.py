"""Hook implementations of the Keras parser plugin (imports no deep-learning library)."""

from __future__ import annotations

from pathlib import Path

from snn_core import hookimpl

#: File suffixes this plugin claims.
KERAS_SUFFIXES = (".keras",)
HDF5_SUFFIXES = (".h5", ".hdf5")


@hookimpl
def snn_register_parsers() -> list[type]:
    """Register :class:`~snn_parser_keras.parser.KerasParser` as ``"keras"``."""
    from snn_parser_keras.parser import KerasParser

    return [KerasParser]


@hookimpl
def snn_guess_parser(model_path: Path) -> str | None:
    """Return ``"keras"`` for a ``.keras`` file or a Keras-written HDF5 file, else None.

    An HDF5 file is only claimed if it carries Keras' ``model_config`` attribute, so that
    snn's own parsed-network ``.h5`` files (and other HDF5 files) are left alone.
    """
    path = Path(model_path)
    suffix = path.suffix.lower()
    if suffix in KERAS_SUFFIXES:
        return "keras"
    if suffix in HDF5_SUFFIXES and path.is_file():
        import h5py

        try:
            with h5py.File(path, "r") as f:
                return "keras" if "model_config" in f.attrs else None
        except OSError:
            return None
    return None
