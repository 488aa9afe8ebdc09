"""Online normalization: thresholds of layers that fire far below the maximum rate drop."""

from __future__ import annotations

import numpy as np
import pytest
from ini_helpers import simulator, single_neuron

from snn_core.config import Simulation


def counts(x: float, **options) -> np.ndarray:
    """Cumulative output spikes per step of one IF neuron driven by ``x`` (dt = 1 ms)."""
    sim = simulator(single_neuron(), simulation=Simulation(duration=100, batch_size=1), **options)
    out = sim.run_batch(np.array([[x]], np.float32), np.arange(1))
    return out.scores[0, :, 0]


def test_a_slow_layer_gets_a_lower_threshold_at_the_check_steps():
    plain = counts(0.17)
    online = counts(0.17, online_normalization=True)
    # 0.17 per step: about 170 Hz, far below the maximum 1000 Hz and above 100 Hz; at
    # step 10 the neuron had fired once (100 Hz, not above 100), so nothing changes
    # until the check at step 20, where 3 spikes make 150 Hz: the threshold drops to
    # 0.01 + 0.99 * 0.15 of v_thresh (below the input), so the neuron fires every step
    np.testing.assert_array_equal(online[:20], plain[:20])
    assert plain[19] == 3
    assert online[29] - online[19] == 10
    assert plain[29] - plain[19] <= 2
    # later checks move the threshold with the rate so far (about 0.17 / rate at balance)
    assert online[-1] >= 2 * plain[-1]


@pytest.mark.parametrize(
    "options",
    [
        {"diff_to_min_rate": 200.0},  # about 170 Hz is not above 200 Hz
        {"diff_to_max_rate": 900.0},  # about 830 Hz below the maximum: not more than 900
        {"timestep_fraction": 1000},  # no check step within 100 steps
    ],
)
def test_no_change_outside_the_rate_band_or_between_checks(options):
    np.testing.assert_array_equal(counts(0.17, online_normalization=True, **options), counts(0.17))


def test_a_layer_near_the_maximum_rate_keeps_its_threshold():
    # 0.9 per step: 900 Hz, only 100 Hz below the maximum
    np.testing.assert_array_equal(counts(0.9, online_normalization=True), counts(0.9))
