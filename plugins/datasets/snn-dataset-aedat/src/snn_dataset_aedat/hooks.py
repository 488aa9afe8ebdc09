"""Registration hooks of the ``aedat`` dataset reader (imports only numpy and attrs)."""

from __future__ import annotations

from snn_core import hookimpl


@hookimpl
def snn_register_datasets() -> list[type]:
    """Register :class:`~snn_dataset_aedat.reader.AedatReader` as ``aedat``."""
    from snn_dataset_aedat.reader import AedatReader

    return [AedatReader]
