"""run.loggers: every epoch's scalars and the final metrics reach TensorBoard / W&B (fake
packages stand in for the optional extras, so the test needs neither)."""

import sys
import types

import pytest

from recjax.config.schema import (
    DataConfig,
    EvalConfig,
    ExperimentConfig,
    ModelConfig,
    RunConfig,
    SyntheticConfig,
    TrainConfig,
)


@pytest.fixture
def fakes(monkeypatch):
    calls = {"tb": [], "wandb": [], "closed": []}

    class SummaryWriter:
        def __init__(self, logdir):
            calls["tb_dir"] = logdir

        def add_scalar(self, key, value, step):
            calls["tb"].append((key, value, step))

        def close(self):
            calls["closed"].append("tb")

    class Run:
        def log(self, values, step):
            calls["wandb"].append((values, step))

        def finish(self):
            calls["closed"].append("wandb")

    def init(**kw):
        calls["wandb_init"] = kw
        return Run()

    monkeypatch.setitem(sys.modules, "tensorboardX",
                        types.SimpleNamespace(SummaryWriter=SummaryWriter))
    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    return calls


def config(loggers):
    return ExperimentConfig(
        data=DataConfig(name="synthetic", synthetic=SyntheticConfig(
            num_users=40, num_items=50, num_interactions=800)),
        model=ModelConfig(dim=8, num_layers=1),
        train=TrainConfig(epochs=3, batch_size=256, learning_rate=0.01),
        eval=EvalConfig(ks=(5, 10)), run=RunConfig(loggers=loggers, plot=False))


def test_each_epoch_and_the_final_metrics_are_logged(fakes, tmp_path):
    from recjax.experiment import train_run

    result, _ = train_run(config(("tensorboard", "wandb")), tmp_path)
    epochs = len(result.history)
    tb_steps = sorted({s for k, _, s in fakes["tb"] if k == "train/loss"})
    assert tb_steps == list(range(1, epochs + 1))
    assert fakes["tb_dir"] == str(tmp_path / "tensorboard")
    valid = [v for k, v, s in fakes["tb"] if k == "valid/ndcg@10"]
    assert valid == pytest.approx([h["valid/ndcg@10"] for h in result.history])
    final = fakes["wandb"][-1][0]
    assert final["final/test/ndcg@10"] == pytest.approx(result.test["ndcg@10"])
    assert fakes["wandb_init"]["mode"] == "offline"
    assert fakes["wandb_init"]["config"]["model"]["dim"] == 8
    assert sorted(fakes["closed"]) == ["tb", "wandb"]


def test_unknown_or_missing_logger_is_a_clear_error(tmp_path, monkeypatch):
    from recjax.loggers import RunLoggers

    with pytest.raises(ValueError, match="unknown \\['mlflow'\\]; valid: \\['tensorboard'"):
        RunLoggers(["mlflow"], tmp_path, {}, "x")
    monkeypatch.setitem(sys.modules, "wandb", None)  # an import of it fails
    with pytest.raises(ValueError, match="wandb is not installed: pip install 'recjax\\[logging"):
        RunLoggers(["wandb"], tmp_path, {}, "x")
