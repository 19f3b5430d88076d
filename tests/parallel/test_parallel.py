"""Multi-device equality (8 CPU devices, each check in its own process) and vectorised sweeps."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from tests.experiments.conftest import ROOT


@pytest.mark.parametrize("check", ["devices", "data_parallel", "row_sharded_embeddings",
                                   "edge_sharded_propagation", "edge_sharded_backbones"])
def test_multidevice(check):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
           "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-m", "tests.parallel.multidevice", check],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_mesh_errors():
    from recjax.train.parallel import check_batch, make_mesh

    with pytest.raises(ValueError, match="needs 4 devices"):
        make_mesh(data=2, model=2)
    mesh = make_mesh()
    check_batch(7, mesh)  # one device divides everything


def test_vectorized_sweep_equals_separate_runs():
    from recjax.config.schema import EvalConfig, ModelConfig, TrainConfig
    from recjax.models import build_model
    from recjax.train.loop import fit
    from recjax.train.sweep import fit_vectorized
    from tests.parallel.multidevice import data

    ds, sp, g = data()
    model = build_model(ModelConfig(name="lightgcn", dim=16, num_layers=2), ds.num_users,
                        ds.num_items)
    cfg = TrainConfig(batch_size=256, epochs=12, learning_rate=0.01, patience=3)
    ev = EvalConfig(ks=(5, 10))
    seeds = [0, 1, 2, 3]
    vec = fit_vectorized(model, g, None, sp, cfg, {"seed": seeds}, ev)
    for seed, r in zip(seeds, vec):
        sep = fit(model, g, None, sp, cfg.__class__(**{**cfg.__dict__, "seed": seed}), ev,
                  progress=False)
        assert r.best_epoch == sep.best_epoch
        assert len(r.history) == len(sep.history)
        for k in sep.test:
            assert r.test[k] == pytest.approx(sep.test[k], abs=1e-5), k
        leaves = zip(np.asarray(r.params["params"]["id"]["user"]["embedding"]).ravel(),
                     np.asarray(sep.params["params"]["id"]["user"]["embedding"]).ravel())
        assert max(abs(a - b) for a, b in leaves) < 1e-5


def test_vectorized_learning_rates_and_bad_sweeps():
    from recjax.config.schema import TrainConfig
    from recjax.train.sweep import expand

    cfgs = expand(TrainConfig(), {"learning_rate": [1e-3, 1e-2], "seed": [5, 6]})
    assert [(c.learning_rate, c.seed) for c in cfgs] == [(1e-3, 5), (1e-2, 6)]
    with pytest.raises(ValueError, match="cannot vectorise over \\['num_layers'\\]"):
        expand(TrainConfig(), {"num_layers": [1, 2]})
    with pytest.raises(ValueError, match="equal lengths"):
        expand(TrainConfig(), {"seed": [1, 2], "temperature": [0.1]})


SWEEPS = {
    # (base overrides, key, values): bases where the step would decide statically from the
    # base value (reg 0, decay 0) are the cases that were silently wrong.
    "learning_rate": ({}, "learning_rate", [0.01, 0.03]),
    "temperature": ({"loss": "softmax", "num_negatives": 8}, "temperature", [0.1, 0.5]),
    "reg_weight_from_zero": ({"reg_weight": 0.0}, "reg_weight", [0.0, 0.5]),
    "weight_decay_adam": ({}, "weight_decay", [0.0, 0.05]),
    "weight_decay_adamw": ({"optimizer": "adamw"}, "weight_decay", [0.01, 0.3]),
}


@pytest.mark.parametrize("case", sorted(SWEEPS))
def test_vectorized_sweep_key_matches_separate_runs(case):
    """Each configuration of a vectorised sweep trains exactly as its separate run."""
    import dataclasses

    from recjax.config.schema import EvalConfig, ModelConfig, TrainConfig
    from recjax.models import build_model
    from recjax.train.loop import fit
    from recjax.train.sweep import fit_vectorized
    from tests.parallel.multidevice import data

    base, key, values = SWEEPS[case]
    ds, sp, g = data()
    model = build_model(ModelConfig(name="mf", dim=8), ds.num_users, ds.num_items)
    cfg = TrainConfig(batch_size=256, epochs=3, learning_rate=0.01, patience=10,
                      reg_weight=base.pop("reg_weight", 1e-4), **base)
    ev = EvalConfig(ks=(5, 10))
    vec = fit_vectorized(model, g, None, sp, cfg, {key: values}, ev)
    tables = []
    for value, r in zip(values, vec):
        sep = fit(model, g, None, sp, dataclasses.replace(cfg, **{key: value}), ev,
                  progress=False)
        table = np.asarray(r.params["params"]["id"]["item"]["embedding"])
        np.testing.assert_allclose(
            table, np.asarray(sep.params["params"]["id"]["item"]["embedding"]), atol=1e-5)
        assert [h["train/loss"] for h in r.history] == pytest.approx(
            [h["train/loss"] for h in sep.history], rel=1e-5)
        tables.append(table)
    assert not np.allclose(*tables)  # the values really differ in effect


class Interrupted(RuntimeError):
    pass


def test_vectorized_sweep_killed_midway_resumes_to_the_same_results(tmp_path):
    """A 4-seed sweep interrupted after its second checkpoint and rerun on its checkpoint
    directory ends exactly as an uninterrupted sweep, every configuration (best epoch,
    metrics, history, best parameters)."""
    from recjax.config.schema import EvalConfig, ModelConfig, TrainConfig
    from recjax.models import build_model
    from recjax.train.checkpoint import Checkpointer
    from recjax.train.sweep import fit_vectorized
    from tests.parallel.multidevice import data

    ds, sp, g = data()
    model = build_model(ModelConfig(name="mf", dim=8), ds.num_users, ds.num_items)
    # A high learning rate and patience 1: configurations stop at different epochs, so the
    # checkpoint must bring back frozen best rows and stopped configurations too.
    cfg = TrainConfig(batch_size=256, epochs=10, learning_rate=0.5, patience=1)
    ev = EvalConfig(ks=(5, 10))
    sweep = {"seed": [0, 1, 2, 3]}

    def run(directory, stop_at=None):
        def on_epoch(epoch):
            if stop_at is not None and epoch == stop_at:
                raise Interrupted(epoch)

        ckpt = Checkpointer(directory)
        try:
            return fit_vectorized(model, g, None, sp, cfg, sweep, ev, checkpointer=ckpt,
                                  checkpoint_every=2, on_epoch=on_epoch)
        finally:
            ckpt.close()

    whole = run(tmp_path / "whole")
    with pytest.raises(Interrupted):
        run(tmp_path / "cut", stop_at=5)
    probe = Checkpointer(tmp_path / "cut")
    assert probe.latest() == 4
    probe.close()
    resumed = run(tmp_path / "cut")
    strip = lambda h: [{k: v for k, v in r.items() if "seconds" not in k} for r in h]
    for a, b in zip(whole, resumed, strict=True):
        assert a.best_epoch == b.best_epoch
        assert a.test == b.test and a.valid == b.valid
        assert strip(a.history) == strip(b.history)
        for x, y in zip(jax.tree_util.tree_leaves(a.params), jax.tree_util.tree_leaves(b.params)):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    lengths = [len(r.history) for r in whole]
    assert len(set(lengths)) > 1 and min(lengths) < 4 < max(lengths), lengths


def test_vectorized_run_refuses_another_sweeps_directory(tmp_path):
    from dataclasses import replace

    from recjax.config.schema import (
        DataConfig,
        ExperimentConfig,
        ModelConfig,
        RunConfig,
        SweepConfig,
        SyntheticConfig,
        TrainConfig,
        VectorizeConfig,
    )
    from recjax.experiment import IncompatibleRunError, train_vectorized_run

    cfg = ExperimentConfig(
        data=DataConfig(name="synthetic", synthetic=SyntheticConfig(
            num_users=40, num_items=50, num_interactions=800)),
        model=ModelConfig(name="mf", dim=8), train=TrainConfig(epochs=2, batch_size=128),
        sweep=SweepConfig(VectorizeConfig(seed=(0, 1))), run=RunConfig(plot=False))
    train_vectorized_run(cfg, tmp_path)
    assert (tmp_path / "config.json").exists() and (tmp_path / "config_1" / "metrics.json").exists()
    other = replace(cfg, sweep=SweepConfig(VectorizeConfig(seed=(0, 2))))
    with pytest.raises(IncompatibleRunError, match="sweep.vectorize.seed"):
        train_vectorized_run(other, tmp_path)
    again, _, _ = train_vectorized_run(cfg, tmp_path)  # the same sweep: resumes (finished)
    assert json.loads((tmp_path / "run.json").read_text())["resumed_from_epoch"] == 2
