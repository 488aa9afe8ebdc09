"""Registration hooks of the ``images`` dataset reader (imports only numpy and attrs)."""

from __future__ import annotations

from snn_core import hookimpl


@hookimpl
def snn_register_datasets() -> list[type]:
    """Register :class:`~snn_dataset_images.reader.ImagesReader` as ``images``."""
    from snn_dataset_images.reader import ImagesReader

    return [ImagesReader]
