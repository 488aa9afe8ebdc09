"""The percentile and max normalizers on small networks trained on sklearn's digits."""

from __future__ import annotations

import json

import numpy as np
import pytest
from snn_normalizer_percentile import MaxNormalizer, PercentileNormalizer
from snn_normalizer_percentile.normalizer import SCHEDULE_STEP
from snn_normalizer_percentile.plan import build_plan

from snn_core.ann import forward, predict
from snn_core.config import structure
from snn_core.errors import ConfigError, DatasetError
from snn_core.network import Conv, ConvTranspose, Dense, InputLayer, Network, Reshape, UpSample
from snn_core.network import ZeroPad as ZeroPadLayer
from snn_core.plugins import Registry

from .conftest import digits

X, Y = digits()
X_NORM = X[:1000]  # normalization set
WEIGHTED = ("c1", "c2", "c3", "out")


def batches_of(x, size=100):
    """A ``batches`` callable streaming ``x``; counts how often it is called."""

    def batches():
        batches.calls += 1
        return (x[i : i + size] for i in range(0, len(x), size))

    batches.calls = 0
    return batches


def normalize(net, cls=PercentileNormalizer, x=X_NORM, cache_dir=None, **options):
    return cls(cls.Options(**options)).normalize(net, batches_of(x), cache_dir=cache_dir)


def measured(net, x=X_NORM):
    """Each weighted layer's measured activation on ``x`` (softmax: pre-activation)."""
    names = [lay.name for lay in net if lay.name in WEIGHTED or lay.kind == "Add"]
    out = forward(net, x, names)
    z = forward(net, x, ["out"], pre_activation=True)["out"]
    return {**out, "out": z}


def pct(a, p):
    return float(np.percentile(a[a > 0], p))


def test_hand_built_ir_matches_keras(cnn, residual, keras_reference):
    for name, net in (("cnn", cnn), ("residual", residual)):
        np.testing.assert_allclose(predict(net, X), keras_reference(name, X), atol=1e-5)
    assert (predict(cnn, X).argmax(1) == Y).mean() > 0.9


@pytest.mark.parametrize(
    "options",
    [{}, {"channelwise": True}, {"schedule": True}, {"percentile": 50.0}],
    ids=["layerwise", "channelwise", "schedule", "median"],
)
@pytest.mark.parametrize("which", ["cnn", "residual"])
def test_predictions_unchanged(which, options, cnn, residual):
    net = cnn if which == "cnn" else residual
    normed = normalize(net, **options)
    assert np.array_equal(predict(normed, X).argmax(1), predict(net, X).argmax(1))
    # and the weights really changed
    assert not np.allclose(normed["c1"].kernel, net["c1"].kernel)


def test_percentile_of_each_layer_is_one(cnn):
    normed = normalize(cnn, percentile=99.9)
    acts = measured(normed)
    before = measured(cnn)
    scales = normed.metadata["normalization"]["scales"]
    for name in ("c1", "c2", "out"):
        assert pct(acts[name], 99.9) == pytest.approx(1.0, abs=2e-3), name
        assert scales[name] == pytest.approx(pct(before[name], 99.9), rel=2e-3)
    # activations above the percentile exceed 1: 99.9 is not the max
    assert acts["c1"].max() > 1.0


def test_max_normalizer_maps_the_maximum_to_one(cnn):
    normed = normalize(cnn, cls=MaxNormalizer)
    acts = measured(normed)
    for name in ("c1", "c2", "out"):
        assert acts[name].max() == pytest.approx(1.0, rel=1e-5), name
    assert normed.metadata["normalization"]["method"] == "max"
    assert normed.metadata["normalization"]["percentile"] == 100.0


def test_channelwise_percentile_per_channel(cnn):
    normed = normalize(cnn, channelwise=True, percentile=99.0)
    scales = normed.metadata["normalization"]["scales"]
    assert isinstance(scales["c1"], list) and len(scales["c1"]) == 8
    assert isinstance(scales["c2"], list) and len(scales["c2"]) == 16
    assert isinstance(scales["out"], float)  # the output layer keeps one scale
    acts = measured(normed)
    for name in ("c1", "c2"):
        a = acts[name].reshape(-1, acts[name].shape[-1])
        for c in range(a.shape[1]):
            if np.any(a[:, c] > 0):
                assert pct(a[:, c], 99.0) == pytest.approx(1.0, abs=3e-3), (name, c)
    assert pct(acts["out"], 99.0) == pytest.approx(1.0, abs=2e-3)


def test_add_and_concatenate_share_one_scale(residual):
    before = measured(residual)
    normed = normalize(residual, percentile=99.9)
    scales = normed.metadata["normalization"]["scales"]
    # c1, c2 (inputs of the Add), the Add, and c3 (concatenated with it) form one group
    group = {scales[n] for n in ("c1", "c2", "add", "c3")}
    assert len(group) == 1
    lam = group.pop()
    assert lam == pytest.approx(
        max(pct(before[n], 99.9) for n in ("c1", "c2", "add", "c3")), rel=2e-3
    )
    acts = measured(normed)
    values = [pct(acts[n], 99.9) for n in ("c1", "c2", "add", "c3")]
    assert max(values) == pytest.approx(1.0, abs=2e-3)
    assert all(v <= 1.0 + 2e-3 for v in values)
    assert scales["out"] != lam


def test_channelwise_residual_groups_by_channel(residual):
    normed = normalize(residual, channelwise=True)
    scales = normed.metadata["normalization"]["scales"]
    assert scales["c1"] == scales["c2"] == scales["add"]
    assert len(set(scales["c1"])) > 1  # per channel
    # concatenation does not merge c3 with the Add in channel-wise mode
    acts = measured(normed)
    c3 = acts["c3"].reshape(-1, 4)
    for c in range(4):
        if np.any(c3[:, c] > 0):
            assert pct(c3[:, c], 99.9) == pytest.approx(1.0, abs=3e-3)
    # each Add channel group has its max percentile at 1
    stacked = [acts[n].reshape(-1, 8) for n in ("c1", "c2", "add")]
    for c in range(8):
        vals = [pct(a[:, c], 99.9) for a in stacked if np.any(a[:, c] > 0)]
        assert max(vals) == pytest.approx(1.0, abs=3e-3), c


def test_schedule_lowers_percentile_per_layer(cnn):
    plain = normalize(cnn, percentile=99.9)
    sched = normalize(cnn, percentile=99.9, schedule=True)
    s_plain = plain.metadata["normalization"]["scales"]
    s_sched = sched.metadata["normalization"]["scales"]
    assert s_sched["c1"] == s_plain["c1"]  # layer 0: unchanged
    assert s_sched["c2"] < s_plain["c2"] and s_sched["out"] < s_plain["out"]
    acts = measured(sched)
    for i, name in enumerate(("c1", "c2", "out")):
        p = 99.9 - SCHEDULE_STEP * i  # not truncated to an integer like the reference code
        assert pct(acts[name], p) == pytest.approx(1.0, abs=2e-3), name


def test_max_samples_limits_the_data(cnn):
    few = normalize(cnn, cls=MaxNormalizer, max_samples=130, batch_size=40)
    ref = normalize(cnn, cls=MaxNormalizer, x=X_NORM[:130])
    assert few.metadata["normalization"]["scales"] == pytest.approx(
        ref.metadata["normalization"]["scales"]
    )


def test_cache_hit_reuses_scales_and_skips_computation(cnn, tmp_path):
    norm = PercentileNormalizer(PercentileNormalizer.Options(percentile=99.0))
    first_batches = batches_of(X_NORM)
    first = norm.normalize(cnn, first_batches, cache_dir=tmp_path)
    files = list(tmp_path.glob("norm-*.json"))
    assert len(files) == 1 and not first.metadata["normalization"]["cached"]
    assert first_batches.calls == 3  # fingerprint, max pass, histogram pass
    second_batches = batches_of(X_NORM)
    second = norm.normalize(cnn, second_batches, cache_dir=tmp_path)
    assert second_batches.calls == 1  # fingerprint only
    assert second.metadata["normalization"]["cached"]
    assert second.metadata["normalization"]["scales"] == first.metadata["normalization"]["scales"]
    for a, b in zip(first.layers, second.layers, strict=True):
        for key, arr in a.arrays().items():
            np.testing.assert_array_equal(arr, b.arrays()[key])
    doc = json.loads(files[0].read_text())
    assert doc["scales"] == first.metadata["normalization"]["scales"]
    # other data, options or weights: a miss
    norm.normalize(cnn, batches_of(X_NORM[:900]), cache_dir=tmp_path)
    PercentileNormalizer(PercentileNormalizer.Options(percentile=99.5)).normalize(
        cnn, batches_of(X_NORM), cache_dir=tmp_path
    )
    norm.normalize(first, batches_of(X_NORM), cache_dir=tmp_path)
    assert len(list(tmp_path.glob("norm-*.json"))) == 4
    assert not list(tmp_path.glob("*.tmp"))


def test_no_data(cnn):
    with pytest.raises(DatasetError, match="x_norm"):
        PercentileNormalizer().normalize(cnn, lambda: None)
    with pytest.raises(DatasetError, match="empty"):
        PercentileNormalizer().normalize(cnn, lambda: iter([]))


def test_options_from_toml():
    opts = structure(PercentileNormalizer.Options, {"percentile": 99, "channelwise": True}, "[n]")
    assert opts.percentile == 99.0 and opts.channelwise
    for bad in (0, -1, 100.5):
        with pytest.raises(ConfigError, match="percentile"):
            structure(PercentileNormalizer.Options, {"percentile": bad}, "[normalize]")
    with pytest.raises(ConfigError, match="unknown key 'percentile'"):
        structure(MaxNormalizer.Options, {"percentile": 99.0}, "[normalize]")


def test_registered_through_entry_point():
    registry = Registry()
    assert registry.get("normalizer", "percentile") is PercentileNormalizer
    assert registry.get("normalizer", "max") is MaxNormalizer


# -- layers the trained models do not have ------------------------------------------------


def _odd_network() -> Network:
    """Grouped and transposed convolutions, zero padding, upsampling and a reshape."""
    rng = np.random.default_rng(5)

    def conv(name, src, shape, kshape, groups=1, act="relu"):
        return Conv(
            name=name,
            inputs=(src,),
            shape=shape,
            kernel=rng.normal(size=kshape),
            bias=rng.normal(size=kshape[-1]) * 0.1,
            strides=(1, 1),
            padding=((0, 0), (0, 0)),
            dilation=(1, 1),
            groups=groups,
            activation=act,
        )

    return Network.from_layers(
        [
            InputLayer(name="input", shape=(6, 6, 2)),
            conv("c1", "input", (4, 4, 4), (3, 3, 2, 4)),
            ZeroPadLayer(name="zp", inputs=("c1",), shape=(6, 6, 4), padding=((1, 1), (1, 1))),
            conv("dw", "zp", (4, 4, 8), (3, 3, 2, 8), groups=2),
            UpSample(name="up", inputs=("dw",), shape=(8, 8, 8), size=(2, 2)),
            ConvTranspose(
                name="ct",
                inputs=("up",),
                shape=(9, 9, 3),
                kernel=rng.normal(size=(2, 2, 8, 3)),
                bias=np.zeros(3),
                strides=(1, 1),
                padding=((0, 0), (0, 0)),
                output_padding=(0, 0),
                dilation=(1, 1),
                activation="relu",
            ),
            Reshape(name="rs", inputs=("ct",), shape=(27, 9)),
            Dense(
                name="d1",
                inputs=("rs",),
                shape=(27, 5),
                weights=rng.normal(size=(9, 5)),
                bias=np.zeros(5),
                activation="relu",
            ),
            Reshape(name="fl", inputs=("d1",), shape=(135,)),
            Dense(
                name="out",
                inputs=("fl",),
                shape=(4,),
                weights=rng.normal(size=(135, 4)),
                bias=np.zeros(4),
                activation="softmax",
            ),
        ]
    )


@pytest.mark.parametrize("channelwise", [False, True])
def test_other_layer_kinds_keep_predictions(channelwise):
    net = _odd_network()
    x = np.random.default_rng(6).random((300, 6, 6, 2), dtype=np.float32)
    normed = normalize(net, x=x, channelwise=channelwise, percentile=99.0)
    assert np.array_equal(predict(normed, x).argmax(1), predict(net, x).argmax(1))
    out = forward(normed, x, ["c1", "dw", "ct"])
    for name, a in out.items():
        if channelwise:
            cols = a.reshape(-1, a.shape[-1])
            for c in range(cols.shape[1]):
                if np.any(cols[:, c] > 0):
                    assert pct(cols[:, c], 99.0) == pytest.approx(1.0, abs=3e-3), (name, c)
        else:
            assert pct(a, 99.0) == pytest.approx(1.0, abs=2e-3), name


def test_reshape_channel_mapping():
    net = _odd_network()
    plan = build_plan(net, channelwise=True)
    # ct has 3 channels; reshaped to (27, 9) the 9 features of each row are channels
    # f % 3 of ct, so output channel j of rs carries ct's channel j % 3
    np.testing.assert_array_equal(plan.nodes["rs"], plan.nodes["ct"][np.arange(9) % 3])
    np.testing.assert_array_equal(plan.nodes["fl"], plan.nodes["d1"][np.arange(135) % 5])
    assert len(np.unique(plan.nodes["out"])) == 1
