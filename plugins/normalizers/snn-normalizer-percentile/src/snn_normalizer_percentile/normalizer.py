"""Data-based weight normalization (Rueckauer et al. 2017): normalizers ``percentile``, ``max``.

For every weighted layer ``l`` (Dense, Conv, ConvTranspose), lambda_l is the p-th
percentile of its positive output activations on the normalization set, and

    W_l *= lambda_in / lambda_l,    b_l /= lambda_l

where lambda_in is the scale of the layer's input (1 for the network input). Afterwards
most activations lie in [0, 1], the range an integrate-and-fire neuron with threshold 1
can represent as a firing rate, and a ReLU network computes the same function up to the
per-layer factors (so its predictions are unchanged). For a softmax output layer the
percentile of the positive part of its *pre-activation* is used. Which layers share a
lambda (Add and Concatenate groups) and how scales flow through weightless layers is
described in :mod:`snn_normalizer_percentile.plan`; how percentiles are computed in fixed
memory (two streamed passes, a histogram; worst-case error ``max / bins``) in
:mod:`snn_normalizer_percentile.stats`.

Options (``[normalize]`` table)
-------------------------------
``percentile`` (``percentile`` only)
    p, with 0 < p <= 100 (99.9 by default; ``max`` is 100).
``schedule``
    The SNN Toolbox's ``normalization_schedule``: the i-th weighted layer (from 0) uses
    ``p - 0.02 * i``, lowering the percentile with depth as the toolbox's documentation
    describes. (The toolbox's code truncates that value with ``int()``, turning 99.9 into
    99 for every layer; we do not.)
``channelwise``
    One lambda per output channel of each weighted layer (except the network's output
    layer, whose classes must keep one common scale); the next layer's weights are scaled
    per input channel.
``batch_size``
    Largest batch run through the network at once.
``max_samples``
    Use at most this many normalization samples (0: all of them).

Scale factors are cached in ``cache_dir`` as ``norm-<key>.json``, where the key is a
sha256 of the network (structure and weights), the options and a fingerprint of the data
(number of samples and a hash of the first and last batch).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import attrs
import numpy as np
from attrs import validators as v

from snn_core.errors import DatasetError
from snn_core.interfaces import Normalizer
from snn_core.network import Conv, ConvTranspose, Dense, Layer, Network
from snn_normalizer_percentile.plan import INPUT_NODE, WEIGHTED, ScalePlan, build_plan
from snn_normalizer_percentile.stats import BINS, CHANNEL_BINS, StreamingPercentile

log = logging.getLogger(__name__)

#: Bumped when the computation changes, so that old cache entries are not reused.
ALGORITHM_VERSION = 1
#: Percentile decrement per weighted layer with ``schedule = true``.
SCHEDULE_STEP = 0.02


@attrs.frozen
class Settings:
    """Everything that determines the scale factors (besides network and data)."""

    method: str
    percentile: float
    schedule: bool
    channelwise: bool
    batch_size: int
    max_samples: int


# -- data ------------------------------------------------------------------------------


def _rebatched(
    batches: Callable[[], Iterator[np.ndarray]], batch_size: int, max_samples: int
) -> Iterator[np.ndarray]:
    """Stream ``batches()`` in pieces of at most ``batch_size``, stopping at ``max_samples``."""
    source = batches()
    if source is None:
        raise DatasetError("the data set has no normalization samples (x_norm)")
    taken = 0
    for batch in source:
        batch = np.asarray(batch, dtype=np.float32)
        if max_samples:
            batch = batch[: max_samples - taken]
        for start in range(0, len(batch), batch_size):
            yield batch[start : start + batch_size]
        taken += len(batch)
        if max_samples and taken >= max_samples:
            return


def _fingerprint(batches: Iterator[np.ndarray]) -> tuple[int, str]:
    """Number of samples and a hash of the first and last batch."""
    count, first, last = 0, None, None
    for batch in batches:
        count += len(batch)
        if first is None:
            first = _hash_array(batch)
        last = batch
    h = hashlib.sha256(f"{count}:{first}".encode())
    if last is not None:
        h.update(_hash_array(last).encode())
    return count, h.hexdigest()


def _hash_array(array: np.ndarray) -> str:
    h = hashlib.sha256(str((array.shape, array.dtype.str)).encode())
    h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def network_hash(network: Network) -> str:
    """sha256 of a network's structure and weights (not of its metadata)."""
    h = hashlib.sha256()
    for layer in network.layers:
        scalars = {}
        for field in attrs.fields(type(layer)):
            value = getattr(layer, field.name)
            if isinstance(value, np.ndarray):
                h.update(f"{layer.name}.{field.name}".encode())
                h.update(_hash_array(value).encode())
            else:
                scalars[field.name] = value
        h.update(json.dumps([layer.kind, scalars], sort_keys=True, default=str).encode())
    h.update(json.dumps(list(network.outputs)).encode())
    return h.hexdigest()


# -- statistics --------------------------------------------------------------------------


def _probe_values(network: Network, x: np.ndarray, probes: tuple[str, ...]) -> dict:
    """The measured activation of each probe on batch ``x``.

    Post-activation values, except for softmax layers: the pre-activation (its positive
    part is what the statistics count).
    """
    from snn_core.ann import apply_activation, forward

    z = forward(network, x, probes, pre_activation=True)
    out = {}
    for name in probes:
        act = network[name].activation
        out[name] = z[name] if act in ("softmax", "linear") else apply_activation(z[name], act)
    return out


def _progress(iterable: Iterator[Any], desc: str, total: int | None) -> Iterator[Any]:
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, unit="batch", disable=None, leave=False)


def layer_percentiles(
    network: Network,
    plan: ScalePlan,
    batches: Callable[[], Iterator[np.ndarray]],
    settings: Settings,
) -> dict[str, np.ndarray]:
    """Stream the data twice and return each probe's percentile(s).

    Returns
    -------
    dict
        Probe layer name -> ``(channels,)`` array with ``channelwise`` (for layers that
        have per-channel nodes), else a ``(1,)`` array.
    """
    stats: dict[str, StreamingPercentile] = {}
    for name in plan.probes:
        per_channel = len(np.unique(plan.nodes[name])) > 1
        columns = network[name].shape[-1] if per_channel else 1
        stats[name] = StreamingPercentile(columns, CHANNEL_BINS if per_channel else BINS)
    num_batches = 0
    stream = _rebatched(batches, settings.batch_size, settings.max_samples)
    for x in _progress(stream, "normalize: pass 1/2 (max)", None):
        num_batches += 1
        for name, values in _probe_values(network, x, plan.probes).items():
            stats[name].observe_max(values)
    if num_batches == 0:
        raise DatasetError("the normalization set (x_norm) is empty")
    stream = _rebatched(batches, settings.batch_size, settings.max_samples)
    for x in _progress(stream, "normalize: pass 2/2 (percentiles)", num_batches):
        for name, values in _probe_values(network, x, plan.probes).items():
            stats[name].observe_histogram(values)
    result = {}
    for name, stat in stats.items():
        p = settings.percentile
        if settings.schedule:
            p = p - SCHEDULE_STEP * plan.schedule_index[name]
        result[name] = stat.percentile(max(p, 1e-6))
    return result


def node_scales(plan: ScalePlan, percentiles: dict[str, np.ndarray]) -> np.ndarray:
    """lambda of every scale node: the largest percentile among its members.

    The node of the network input, and nodes whose members never had a positive
    activation, get 1.
    """
    lam = np.zeros(plan.num_nodes, np.float64)
    for name, values in percentiles.items():
        nodes = plan.nodes[name]
        np.maximum.at(lam, nodes, np.broadcast_to(values, nodes.shape))
    lam[INPUT_NODE] = 1.0
    lam[lam <= 0] = 1.0
    return lam


# -- applying scales ---------------------------------------------------------------------


def _scaled_layer(layer: Layer, lam_in: np.ndarray, lam_out: np.ndarray) -> Layer:
    lam_in = lam_in.astype(np.float64)
    lam_out = lam_out.astype(np.float64)
    if isinstance(layer, Dense):
        w = layer.weights * lam_in[:, None] / lam_out[None, :]
        return layer.evolve(weights=w, bias=layer.bias / lam_out)
    if isinstance(layer, Conv):
        cin_g, cout = layer.kernel.shape[-2:]
        cout_g = cout // layer.groups
        # kernel[..., j, o] reads input channel (o // cout_g) * cin_g + j
        index = (np.arange(cout) // cout_g)[None, :] * cin_g + np.arange(cin_g)[:, None]
        k = layer.kernel * lam_in[index] / lam_out
        return layer.evolve(kernel=k, bias=layer.bias / lam_out)
    if isinstance(layer, ConvTranspose):
        k = layer.kernel * lam_in[:, None] / lam_out
        return layer.evolve(kernel=k, bias=layer.bias / lam_out)
    raise TypeError(layer.kind)


def apply_scales(network: Network, plan: ScalePlan, lam: np.ndarray) -> Network:
    """Rescale the weighted layers: ``W *= lambda_in / lambda_out``, ``b /= lambda_out``."""
    new = [
        _scaled_layer(layer, lam[plan.nodes[layer.inputs[0]]], lam[plan.nodes[layer.name]])
        for layer in network.layers
        if isinstance(layer, WEIGHTED)
    ]
    return network.replace(*new)


def layer_scales(network: Network, plan: ScalePlan, lam: np.ndarray) -> dict[str, Any]:
    """Scale of each probe layer: a float, or a list of per-channel floats."""
    out: dict[str, Any] = {}
    for name in plan.probes:
        nodes = plan.nodes[name]
        per_channel = len(np.unique(nodes)) > 1
        out[name] = lam[nodes].tolist() if per_channel else float(lam[nodes[0]])
    return out


# -- cache -------------------------------------------------------------------------------


def _cache_key(network: Network, settings: Settings, data: tuple[int, str]) -> str:
    doc = {
        "algorithm": ALGORITHM_VERSION,
        "bins": [BINS, CHANNEL_BINS],
        "network": network_hash(network),
        "settings": attrs.asdict(settings),
        "data": list(data),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _read_cache(path: Path, plan: ScalePlan) -> np.ndarray | None:
    try:
        doc = json.loads(path.read_text())
        lam = np.asarray(doc["node_scales"], np.float64)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return lam if lam.shape == (plan.num_nodes,) else None


def _write_atomic(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- the whole job -----------------------------------------------------------------------


def normalize_network(
    network: Network,
    batches: Callable[[], Iterator[np.ndarray]],
    settings: Settings,
    cache_dir: Path | None = None,
) -> Network:
    """Normalize ``network`` on the samples ``batches()`` streams (see the module docstring).

    Returns
    -------
    Network
        The rescaled network, with ``metadata["normalization"]`` = ``{"method",
        "percentile", "schedule", "channelwise", "scales": {layer: float or list},
        "cached": bool}``.
    """
    plan = build_plan(network, settings.channelwise)
    lam = None
    cache_file = None
    if cache_dir is not None:
        stream = _rebatched(batches, settings.batch_size, settings.max_samples)
        key = _cache_key(network, settings, _fingerprint(stream))
        cache_file = Path(cache_dir) / f"norm-{key}.json"
        lam = _read_cache(cache_file, plan) if cache_file.is_file() else None
        if lam is not None:
            log.info("normalization scales read from cache %s", cache_file)
    cached = lam is not None
    if lam is None:
        percentiles = layer_percentiles(network, plan, batches, settings)
        lam = node_scales(plan, percentiles)
    scales = layer_scales(network, plan, lam)
    if cache_file is not None and not cached:
        _write_atomic(
            cache_file,
            {"settings": attrs.asdict(settings), "node_scales": lam.tolist(), "scales": scales},
        )
        log.info("normalization scales written to cache %s", cache_file)
    info = {
        "method": settings.method,
        "percentile": settings.percentile,
        "schedule": settings.schedule,
        "channelwise": settings.channelwise,
        "scales": scales,
        "cached": cached,
    }
    return apply_scales(network, plan, lam).with_metadata(normalization=info)


class PercentileNormalizer(Normalizer):
    """Scale weights by the p-th percentile of each layer's activations (Rueckauer 2017)."""

    name: ClassVar[str] = "percentile"

    @attrs.frozen
    class Options:
        """Options of ``[normalize]`` with ``method = "percentile"``."""

        #: Percentile p of the positive activations that maps to 1 (0 < p <= 100).
        percentile: float = attrs.field(default=99.9, validator=[v.gt(0), v.le(100)])
        #: Lower the percentile by 0.02 per weighted layer (``normalization_schedule``).
        schedule: bool = False
        #: One scale per output channel instead of per layer.
        channelwise: bool = False
        #: Largest batch run through the network at once.
        batch_size: int = attrs.field(default=256, validator=v.ge(1))
        #: Use at most this many normalization samples; 0: all.
        max_samples: int = attrs.field(default=0, validator=v.ge(0))

    def settings(self) -> Settings:
        """The options as :class:`Settings`."""
        o = self.options
        return Settings(
            method=self.name,
            percentile=float(getattr(o, "percentile", 100.0)),
            schedule=o.schedule,
            channelwise=o.channelwise,
            batch_size=o.batch_size,
            max_samples=o.max_samples,
        )

    def normalize(
        self,
        network: Network,
        batches: Callable[[], Iterator[np.ndarray]],
        *,
        cache_dir: Path | None = None,
    ) -> Network:
        """Return the normalized network (see :func:`normalize_network`)."""
        return normalize_network(network, batches, self.settings(), cache_dir)


class MaxNormalizer(PercentileNormalizer):
    """Scale weights by the maximum activation of each layer (percentile 100)."""

    name: ClassVar[str] = "max"

    @attrs.frozen
    class Options:
        """Options of ``[normalize]`` with ``method = "max"``."""

        #: Lower the percentile by 0.02 per weighted layer (``normalization_schedule``).
        schedule: bool = False
        #: One scale per output channel instead of per layer.
        channelwise: bool = False
        #: Largest batch run through the network at once.
        batch_size: int = attrs.field(default=256, validator=v.ge(1))
        #: Use at most this many normalization samples; 0: all.
        max_samples: int = attrs.field(default=0, validator=v.ge(0))
