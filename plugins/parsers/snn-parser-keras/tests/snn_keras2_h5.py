"""Write a model file in the Keras 2 HDF5 layout by hand (no Keras 2 is installed here).

The layout follows what ``tf.keras`` 2.x ``model.save("x.h5")`` writes: root attributes
``keras_version``/``backend``/``model_config`` (a Keras 2 functional config with
``inbound_nodes`` as nested lists, ``batch_input_shape`` and string dtypes), and a
``model_weights`` group with ``layer_names`` and, per layer, ``weight_names`` such as
``conv2d/kernel:0`` pointing at datasets ``model_weights/<layer>/<layer>/kernel:0``.
The model: conv -> BN -> relu -> conv -> Add(residual) -> Flatten -> Dense(softmax).
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

KERAS_VERSION = "2.13.1"


def _initializer(name: str) -> dict:
    return {"class_name": name, "config": {"seed": None} if name == "GlorotUniform" else {}}


def _common(name: str) -> dict:
    return {"name": name, "trainable": True, "dtype": "float32"}


def _conv(name: str, filters: int) -> dict:
    return {
        "class_name": "Conv2D",
        "config": {
            **_common(name),
            "filters": filters,
            "kernel_size": [3, 3],
            "strides": [1, 1],
            "padding": "same",
            "data_format": "channels_last",
            "dilation_rate": [1, 1],
            "groups": 1,
            "activation": "linear",
            "use_bias": True,
            "kernel_initializer": _initializer("GlorotUniform"),
            "bias_initializer": _initializer("Zeros"),
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "activity_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
        },
    }


def _node(*sources: str) -> list:
    return [[[source, 0, 0, {}] for source in sources]]


def _config() -> dict:
    layers = [
        {
            "class_name": "InputLayer",
            "config": {
                "batch_input_shape": [None, 6, 6, 2],
                "dtype": "float32",
                "sparse": False,
                "ragged": False,
                "name": "input_1",
            },
            "inbound_nodes": [],
        },
        {**_conv("conv2d", 3), "inbound_nodes": _node("input_1")},
        {
            "class_name": "BatchNormalization",
            "config": {
                **_common("batch_normalization"),
                "axis": [3],
                "momentum": 0.99,
                "epsilon": 0.001,
                "center": True,
                "scale": True,
                "beta_initializer": _initializer("Zeros"),
                "gamma_initializer": _initializer("Ones"),
                "moving_mean_initializer": _initializer("Zeros"),
                "moving_variance_initializer": _initializer("Ones"),
                "beta_regularizer": None,
                "gamma_regularizer": None,
                "beta_constraint": None,
                "gamma_constraint": None,
            },
            "inbound_nodes": _node("conv2d"),
        },
        {
            "class_name": "Activation",
            "config": {**_common("activation"), "activation": "relu"},
            "inbound_nodes": _node("batch_normalization"),
        },
        {**_conv("conv2d_1", 3), "inbound_nodes": _node("activation")},
        {
            "class_name": "Add",
            "config": _common("add"),
            "inbound_nodes": _node("conv2d_1", "activation"),
        },
        {
            "class_name": "Flatten",
            "config": {**_common("flatten"), "data_format": "channels_last"},
            "inbound_nodes": _node("add"),
        },
        {
            "class_name": "Dense",
            "config": {
                **_common("dense"),
                "units": 4,
                "activation": "softmax",
                "use_bias": True,
                "kernel_initializer": _initializer("GlorotUniform"),
                "bias_initializer": _initializer("Zeros"),
                "kernel_regularizer": None,
                "bias_regularizer": None,
                "activity_regularizer": None,
                "kernel_constraint": None,
                "bias_constraint": None,
            },
            "inbound_nodes": _node("flatten"),
        },
    ]
    for layer in layers:
        layer["name"] = layer["config"]["name"]
    return {
        "class_name": "Functional",
        "config": {
            "name": "model",
            "layers": layers,
            "input_layers": [["input_1", 0, 0]],
            "output_layers": [["dense", 0, 0]],
        },
        "keras_version": KERAS_VERSION,
        "backend": "tensorflow",
    }


_SHAPES = {
    "conv2d": {"kernel": (3, 3, 2, 3), "bias": (3,)},
    "batch_normalization": {
        "gamma": (3,),
        "beta": (3,),
        "moving_mean": (3,),
        "moving_variance": (3,),
    },
    "conv2d_1": {"kernel": (3, 3, 3, 3), "bias": (3,)},
    "dense": {"kernel": (108, 4), "bias": (4,)},
}


def write_keras2_h5(path: Path, seed: int = 0) -> tuple[Path, dict[str, dict[str, np.ndarray]]]:
    """Write the file; return its path and the weights written, by layer and weight name."""
    rng = np.random.default_rng(seed)
    config = _config()
    written: dict[str, dict[str, np.ndarray]] = {}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = KERAS_VERSION
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        group = f.create_group("model_weights")
        names = [layer["name"] for layer in config["config"]["layers"]]
        group.attrs["layer_names"] = [n.encode() for n in names]
        group.attrs["backend"] = "tensorflow"
        group.attrs["keras_version"] = KERAS_VERSION
        for name in names:
            layer_group = group.create_group(name)
            shapes = _SHAPES.get(name, {})
            layer_group.attrs["weight_names"] = [f"{name}/{w}:0".encode() for w in shapes]
            written[name] = {}
            for weight, shape in shapes.items():
                if weight in ("gamma", "moving_variance"):
                    value = rng.uniform(0.5, 1.5, shape)
                else:
                    value = rng.normal(0, 0.5, shape)
                value = value.astype(np.float32)
                layer_group.create_dataset(f"{name}/{weight}:0", data=value)
                written[name][weight] = value
    return path, written
