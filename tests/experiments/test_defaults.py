"""One source of defaults: config groups restate no schema default with another value.

The schema (``recjax.config.schema``) and the registries hold every default, so the Python API
(``ModelConfig(name="ngcf")``) and Hydra (``model=ngcf``) build the same thing. A group file
may set only what makes it that choice: a model file its ``name`` (the rest comes from the
model's backbone), a train preset its ``loss`` and the hyperparameters that objective declares.
"""

import dataclasses
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from experiments.config import CONF_DIR
from recjax.config.schema import EvalConfig, ModelConfig, TextConfig, TrainConfig
from recjax.train.objectives import get_objective

GROUPS = {"model": ModelConfig, "train": TrainConfig, "text": TextConfig, "eval": EvalConfig}
FILES = [(g, p) for g in GROUPS for p in sorted((Path(CONF_DIR) / g).glob("*.yaml"))]


def own_keys(group: str, values: dict) -> set:
    if group == "model":
        return {"name"}
    if group == "train":
        return {"loss", *get_objective(values.get("loss", TrainConfig.loss)).hyperparameters}
    return set()


def default_of(cls, key):
    f = {f.name: f for f in dataclasses.fields(cls)}[key]
    value = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    return list(value) if isinstance(value, tuple) else value


@pytest.mark.parametrize("group,path", FILES, ids=[f"{g}/{p.stem}" for g, p in FILES])
def test_group_file_restates_no_default_differently(group, path):
    values = OmegaConf.to_container(OmegaConf.load(path))
    cls = GROUPS[group]
    allowed = own_keys(group, values)
    for key, value in values.items():
        if key in allowed:
            continue
        assert value == default_of(cls, key), (
            f"{path.name} sets {group}.{key}={value!r} but the schema default is "
            f"{default_of(cls, key)!r}: change the default in recjax/config/schema.py (or the "
            f"model's backbone defaults) instead of restating it here")


def test_python_and_hydra_build_the_same_model():
    from experiments.config import to_experiment
    from recjax.models import resolve_config
    from tests.experiments.test_configs import compose_cfg

    for name in ("mf", "lightgcn", "ngcf", "gat", "simgcl", "xsimgcl", "ease", "text_gnn"):
        exp = to_experiment(compose_cfg(f"model={name}"))
        assert resolve_config(exp.model) == resolve_config(ModelConfig(name=name)), name
