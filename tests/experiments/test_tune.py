"""recjax-tune: every search space names real config keys with the shared budget; the best
values are written into the experiment file and compose."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from experiments.config import CONF_DIR, register
from experiments.tune import apply_best

register()
SPACES = sorted(p.stem[5:] for p in (Path(CONF_DIR) / "hydra" / "sweeper").glob("tune_*.yaml")
                if p.stem != "tune_base")


def test_every_trainable_ml100k_experiment_has_a_space():
    assert {"ml100k_itemknn", "ml100k_ease", "ml100k_mf", "ml100k_lightgcn", "ml100k_ngcf",
            "ml100k_simgcl", "ml100k_xsimgcl", "ml100k_text_gnn"} <= set(SPACES)


@pytest.mark.parametrize("name", SPACES)
def test_space_keys_exist_and_budget_is_shared(name):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=[f"experiment={name}", f"hydra/sweeper=tune_{name}"],
                      return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    base = OmegaConf.load(Path(CONF_DIR) / "hydra" / "sweeper" / "tune_base.yaml")
    assert sweeper.n_trials == base.n_trials and sweeper.direction == "maximize"
    assert sweeper.sampler.seed == base.sampler.seed
    for key in sweeper.params:
        assert OmegaConf.select(cfg, key, default="<missing>") != "<missing>", key


def test_apply_best_merges_values_and_keeps_the_header(tmp_path):
    src = Path(CONF_DIR) / "experiment" / "ml100k_lightgcn.yaml"
    f = tmp_path / "ml100k_lightgcn.yaml"
    f.write_text(src.read_text())
    f.write_text(apply_best(f, {"train.learning_rate": 0.004, "model.num_layers": 3}, "(a)"))
    f.write_text(apply_best(f, {"train.learning_rate": 0.002}, "(b)"))
    lines = f.read_text().splitlines()
    assert lines[0] == "# @package _global_" and lines[1] == src.read_text().splitlines()[1]
    assert [line for line in lines if line.startswith("# Tuned")] == [
        "# Tuned with recjax-tune (b)"]
    body = OmegaConf.load(f)
    assert body.train.learning_rate == 0.002 and body.model.num_layers == 3
    assert body.model.init == "xavier_uniform"  # what the file had stays
    assert body.defaults == OmegaConf.load(src).defaults  # the defaults list is intact


def test_unknown_experiment_is_one_line(capsys):
    from experiments.tune import main

    with pytest.raises(SystemExit) as e:
        main(["ml100k_nothing"])
    assert e.value.code == 2 and "no search space for 'ml100k_nothing'" in capsys.readouterr().err
