"""The rate code's spec and option validation, also through the core's TOML structuring."""

from __future__ import annotations

import pytest
from snn_code_rate import TemporalMeanRate
from snn_code_rate.code import RateOptions

from snn_core.config import structure
from snn_core.errors import ConfigError


def test_default_spec_is_analog_if_membrane() -> None:
    spec = TemporalMeanRate().spec()
    assert spec.input_encoding == "analog"
    assert spec.neuron_model == "if"
    assert spec.readout == "membrane"
    assert spec.requires == {"input:analog", "neuron:if", "readout:membrane"}
    assert spec.params == {"input_rate": 1000.0, "num_poisson_events_per_sample": -1}


def test_poisson_spec_carries_rate_and_cap() -> None:
    code = TemporalMeanRate(
        RateOptions(poisson_input=True, input_rate=200.0, num_poisson_events_per_sample=50)
    )
    spec = code.spec()
    assert spec.input_encoding == "poisson"
    assert "input:poisson" in spec.requires
    assert spec.params["input_rate"] == 200.0
    assert spec.params["num_poisson_events_per_sample"] == 50


def test_options_from_toml_table() -> None:
    opts = structure(RateOptions, {"poisson_input": True, "input_rate": 500}, where="[code]")
    assert opts == RateOptions(poisson_input=True, input_rate=500.0)


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"input_rate": 0}, "input_rate"),
        ({"input_rate": -5.0}, "input_rate"),
        ({"num_poisson_events_per_sample": 0}, "num_poisson_events_per_sample"),
        ({"num_poisson_events_per_sample": -3}, "num_poisson_events_per_sample"),
        ({"poisson_input": "yes"}, "poisson_input"),
        ({"poison_input": True}, "poison_input"),
    ],
)
def test_bad_options_name_the_key(table: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        structure(RateOptions, table, where="exp.toml: [code]")


def test_registered_through_entry_point() -> None:
    from snn_core.plugins import Registry

    registry = Registry(environ={"SNN_LOAD_PLUGINS": "temporal_mean_rate"})
    assert registry.get("code", "temporal_mean_rate") is TemporalMeanRate
