"""snn dataset reader ``aedat``: event-camera recordings served as sequences of frames.

See :class:`snn_dataset_aedat.reader.AedatReader`.
"""

from snn_dataset_aedat.formats import Events, read_events, write_aedat2, write_aedat31
from snn_dataset_aedat.reader import AedatDataset, AedatReader

__all__ = ["AedatDataset", "AedatReader", "Events", "read_events", "write_aedat2", "write_aedat31"]
