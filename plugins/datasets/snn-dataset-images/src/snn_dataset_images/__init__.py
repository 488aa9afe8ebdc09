"""snn dataset reader ``images``: class subfolders of image files.

See :class:`snn_dataset_images.reader.ImagesReader`.
"""

from snn_dataset_images.reader import ImagesDataset, ImagesReader

__all__ = ["ImagesDataset", "ImagesReader"]
