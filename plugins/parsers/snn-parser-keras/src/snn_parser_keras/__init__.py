"""snn parser plugin for Keras models (``.keras`` and ``.h5`` files)."""

from snn_parser_keras.parser import SUPPORTED_LAYERS, KerasParser

__all__ = ["SUPPORTED_LAYERS", "KerasParser"]
