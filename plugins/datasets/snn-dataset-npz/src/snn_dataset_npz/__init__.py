"""snn dataset reader ``npz``: test and normalization samples in numpy files.

See :class:`snn_dataset_npz.reader.NpzReader`.
"""

from snn_dataset_npz.reader import NpzDataset, NpzReader

__all__ = ["NpzDataset", "NpzReader"]
