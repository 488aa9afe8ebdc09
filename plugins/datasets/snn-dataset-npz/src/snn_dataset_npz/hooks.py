"""Registration hooks of the ``npz`` dataset reader (imports only numpy and attrs)."""

from __future__ import annotations

from snn_core import hookimpl


@hookimpl
def snn_register_datasets() -> list[type]:
    """Register :class:`~snn_dataset_npz.reader.NpzReader` as ``npz``."""
    from snn_dataset_npz.reader import NpzReader

    return [NpzReader]
