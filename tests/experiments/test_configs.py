"""Every experiment file composes and converts; bad configs fail at composition."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

from experiments.config import CONF_DIR, register, thaw, to_experiment
from recjax.config.schema import ExperimentConfig

EXPERIMENTS = sorted(p.stem for p in (Path(CONF_DIR) / "experiment").glob("*.yaml"))
register()


def compose_cfg(*overrides):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=list(overrides))


def test_expected_experiments_exist():
    assert {"ml100k_mf", "ml100k_lightgcn", "ml100k_ngcf", "ml100k_gat", "ml100k_text_gnn",
            "ml100k_coldstart", "ml100k_cv", "smoke"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_and_converts(name):
    exp = to_experiment(compose_cfg(f"experiment={name}"))
    assert isinstance(exp, ExperimentConfig)
    assert exp.run.name == name
    lines = (Path(CONF_DIR) / "experiment" / f"{name}.yaml").read_text().splitlines()
    # Hydra needs the package header first; the next line says what the experiment tests.
    assert lines[0] == "# @package _global_"
    assert lines[1].startswith("# ") and len(lines[1]) > 30


def test_specific_values_reach_the_frozen_config():
    exp = to_experiment(compose_cfg("experiment=ml100k_text_gnn", "model.dim=32",
                                    "data.split.ratios=[0.7,0.2,0.1]"))
    assert exp.model.name == "text_gnn" and exp.model.dim == 32
    assert exp.train.loss == "softmax" and exp.data.split.ratios == (0.7, 0.2, 0.1)
    cold = to_experiment(compose_cfg("experiment=ml100k_coldstart"))
    assert cold.data.split.method == "cold_item" and cold.model.inductive


@pytest.mark.parametrize("override, message", [
    ("model.dimm=8", "Key 'dimm' not in 'ModelConfig'"),
    ("train.epochs=many", "Value 'many' of type 'str' could not be converted to Integer"),
    ("model=lightgnc", "Could not find 'model/lightgnc'"),
])
def test_bad_overrides_fail_at_composition(override, message):
    with pytest.raises(ConfigCompositionException) as e:
        compose_cfg(override)
    assert message in str(e.value) + str(e.value.__cause__)


def test_invalid_values_fail_at_conversion():
    with pytest.raises(ValueError, match="model.propagation='fast'"):
        to_experiment(compose_cfg("model.propagation=fast"))


def test_thaw_keeps_fields_and_defaults():
    twin = thaw(ExperimentConfig)
    assert twin().model.dim == ExperimentConfig().model.dim
    assert twin().data.split.ratios == list(ExperimentConfig().data.split.ratios)
