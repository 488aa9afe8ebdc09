"""The ``keras`` parser: loads a Keras model file and converts it to the snn IR.

Channels-first models
---------------------
The snn IR is channels-last. A model whose spatial layers use
``data_format="channels_first"`` is converted to a channels-last network (kernels and
shapes are transposed, a ``Flatten`` that flattens in channels-first order is absorbed
into the following ``Dense`` by permuting its rows), so **the data set must deliver
channels-last samples** ``(H, W, C)``, like every other snn data set. The
:meth:`KerasParser.predictor` accepts the same channels-last batches and transposes them
for the Keras model itself.
"""

from __future__ import annotations

import hashlib
import importlib.util
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import attrs
import numpy as np

from snn_core.errors import ConfigError
from snn_core.interfaces import Parser
from snn_core.network import Network
from snn_parser_keras.convert import SUPPORTED_LAYERS, convert_model, input_layout


def _optional_path(value: Any) -> Path | None:
    return None if value is None else Path(value)


class KerasParser(Parser):
    """Keras 3 ``.keras`` and Keras 2/3 ``.h5`` models (Sequential or functional)."""

    name: ClassVar[str] = "keras"

    @attrs.frozen
    class Options:
        """Options of the ``keras`` parser (the ``[model]`` table)."""

        #: A Python file whose public top-level names are handed to Keras as
        #: ``custom_objects`` when loading (the SNN Toolbox's ``filepath_custom_objects``).
        custom_objects: Path | None = attrs.field(default=None, converter=_optional_path)

    def load(self, path: Path) -> Any:
        """Load the Keras model at ``path`` (uncompiled).

        Raises
        ------
        ConfigError
            If the file is missing or Keras cannot load it.
        """
        import keras

        path = Path(path)
        if not path.exists():
            raise ConfigError(f"[model] path: no such Keras model file {str(path)!r}")
        custom = load_custom_objects(self.options.custom_objects)
        try:
            return keras.models.load_model(path, compile=False, custom_objects=custom)
        except Exception as exc:  # Keras raises many types here
            raise ConfigError(
                f"{path}: Keras {keras.__version__} could not load the model "
                f"({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''})"
                "; a model with custom layers or functions needs [model] custom_objects, a "
                "Python file that defines them"
            ) from exc

    def parse(self, path: Path) -> Network:
        """Read the Keras model at ``path`` and return the network IR.

        Raises
        ------
        ConfigError
            If the file cannot be loaded.
        UnsupportedLayerError
            Naming the first layer that cannot be converted exactly, its class and the
            supported classes.
        """
        import keras

        model = self.load(path)
        network = convert_model(model)
        return network.with_metadata(
            source=str(path), parser=self.name, framework_version=keras.__version__
        )

    def predictor(self, path: Path) -> Callable[[np.ndarray], np.ndarray]:
        """A function running the original Keras model on a channels-last batch.

        The model is loaded once; calls run it in inference mode in chunks of 256.
        """
        model = self.load(path)
        channels_first = input_layout(model) == "cf"
        # a functional model built from a list of inputs wants a list (else Keras warns)
        as_list = isinstance(getattr(model, "_inputs_struct", None), list)

        def predict(x: np.ndarray) -> np.ndarray:
            x = np.asarray(x, dtype=np.float32)
            if channels_first and x.ndim > 2:
                x = np.moveaxis(x, -1, 1)
            parts = []
            for start in range(0, len(x), 256):
                batch = x[start : start + 256]
                out = model([batch] if as_list else batch, training=False)
                if isinstance(out, (list, tuple)):
                    out = out[0]
                elif isinstance(out, dict):
                    out = next(iter(out.values()))
                parts.append(np.asarray(out))
            return np.concatenate(parts) if parts else np.zeros((0,), np.float32)

        return predict


def load_custom_objects(path: Path | None) -> dict[str, Any]:
    """Import the Python file ``path`` and return its public top-level names.

    Modules imported by the file are left out. Returns ``{}`` for None.

    Raises
    ------
    ConfigError
        If the file does not exist or fails to import.
    """
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"[model] custom_objects: no such Python file {str(path)!r}; it should name a "
            ".py file defining the model's custom layers and functions"
        )
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(f"snn_custom_objects_{digest}", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"[model] custom_objects: cannot import {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ConfigError(
            f"[model] custom_objects: importing {str(path)!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    return {
        key: value
        for key, value in vars(module).items()
        if not key.startswith("_") and not isinstance(value, types.ModuleType)
    }


__all__ = ["SUPPORTED_LAYERS", "KerasParser", "load_custom_objects"]
