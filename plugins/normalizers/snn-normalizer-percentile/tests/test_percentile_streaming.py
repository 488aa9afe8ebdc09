"""The streamed histogram percentile against np.percentile, and memory that stays flat."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from snn_normalizer_percentile import PercentileNormalizer
from snn_normalizer_percentile.stats import StreamingPercentile


def _stream(stat: StreamingPercentile, chunks: list[np.ndarray]) -> None:
    for c in chunks:
        stat.observe_max(c)
    for c in chunks:
        stat.observe_histogram(c)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 3000),
    kind=st.sampled_from(["exponential", "uniform", "lognormal", "ties", "relu"]),
    p=st.floats(0.5, 100.0),
    bins=st.sampled_from([16, 256, 2**14]),
)
def test_matches_numpy_within_documented_error(seed, n, kind, p, bins):
    rng = np.random.default_rng(seed)
    data = {
        "exponential": lambda: rng.exponential(2.0, n),
        "uniform": lambda: rng.uniform(-1, 1, n),
        "lognormal": lambda: rng.lognormal(0, 2, n),
        "ties": lambda: rng.integers(0, 4, n).astype(float),
        "relu": lambda: np.maximum(rng.normal(size=n), 0),
    }[kind]().astype(np.float32)
    stat = StreamingPercentile(1, bins)
    _stream(stat, np.array_split(data, 7))
    positive = data[data > 0]
    got = stat.percentile(p)[0]
    if len(positive) == 0:
        assert got == 0
        return
    want = np.percentile(positive.astype(np.float64), p)
    assert abs(got - want) <= stat.max_error[0] * (1 + 1e-9) + 1e-12
    assert stat.max_error[0] == pytest.approx(positive.max() / bins)


def test_per_channel_and_exact_max():
    rng = np.random.default_rng(0)
    data = (rng.exponential(1.0, (5000, 3, 4)) * np.array([1, 10, 0.1, 0])).astype(np.float32)
    stat = StreamingPercentile(4, 1024)
    _stream(stat, np.array_split(data, 9))
    got = stat.percentile(99.0)
    for c in range(3):
        col = data[..., c].ravel()
        assert abs(got[c] - np.percentile(col[col > 0], 99.0)) <= stat.max_error[c]
    assert got[3] == 0  # a channel that never fires
    np.testing.assert_array_equal(stat.percentile(100.0)[:3], data.max(axis=(0, 1))[:3])


def test_error_bound_is_tight_enough_to_matter():
    # with few bins the estimate is off, but never by more than max / bins
    data = np.linspace(0.001, 1, 1000, dtype=np.float32) ** 4
    stat = StreamingPercentile(1, 8)
    _stream(stat, [data])
    err = abs(stat.percentile(30.0)[0] - np.percentile(data, 30.0))
    assert 0 < err <= 1 / 8


def _peak_memory(net, num_samples: int) -> int:
    def batches():  # generated on the fly: the data itself is never held
        for start in range(0, num_samples, 500):
            r = np.random.default_rng(start)
            yield r.random((min(500, num_samples - start), 8, 8, 1), dtype=np.float32)

    norm = PercentileNormalizer(PercentileNormalizer.Options(batch_size=250))
    tracemalloc.start()
    try:
        norm.normalize(net, batches)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_samples(cnn):
    # ten times the samples (the benchmark compares 6,000 with 60,000; this is quicker)
    small = _peak_memory(cnn, 2_000)
    large = _peak_memory(cnn, 20_000)
    print(f"peak traced memory: 2,000 samples {small / 1e6:.2f} MB, 20,000 {large / 1e6:.2f} MB")
    assert large <= 1.2 * small
