"""Runs inside RecBole's own Python (never imported by recjax): train RecBole 1.2.1's LightGCN
on its *own* default ml-100k split (RS 8:1:1 grouped by user, random order, split seed 2020, no
filtering; built exactly as in ``recbole_split_child.py``) for a fixed number of epochs with no
early stopping (``stopping_step`` larger than ``--epochs``), and record every epoch's mean train
loss (RecBole's summed epoch loss divided by the number of batches) and valid result (full-sort,
train items masked). Used by ``lightgcn_curves.py``.

Settings: RecBole's LightGCN defaults (2 layers, reg_weight 1e-5, xavier-uniform init, BPR with
one uniform negative, Adam 1e-3, batch 2048, dim 64), ``valid_metric`` NDCG@10, ``eval_step`` 1.

Usage: ``python lightgcn_curves_child.py WORK_DIR --train-seed S --epochs N --result R.json
[--split-seed 2020]``
"""
# ruff: noqa: E402
import argparse
import json
import os
import time

p = argparse.ArgumentParser()
p.add_argument("work_dir")
p.add_argument("--split-seed", type=int, default=2020)
p.add_argument("--train-seed", type=int, required=True)
p.add_argument("--epochs", type=int, required=True)
p.add_argument("--result", required=True)
args = p.parse_args()

from recbole.config import Config
from recbole.data import create_dataset, data_preparation
from recbole.utils import get_model, get_trainer, init_seed

config_dict = {
    "seed": args.split_seed, "use_gpu": False, "show_progress": False, "save_dataset": False,
    "save_dataloaders": False, "reproducibility": True, "normalize_all": False,
    "metrics": ["Recall", "NDCG", "MRR", "Hit", "Precision"], "topk": [10, 20],
    "checkpoint_dir": os.path.join(args.work_dir, "saved"),
    "valid_metric": "NDCG@10", "epochs": args.epochs, "stopping_step": args.epochs + 1000,
    "eval_step": 1,
}
config = Config(model="LightGCN", dataset="ml-100k", config_dict=config_dict)
init_seed(config["seed"], config["reproducibility"])
dataset = create_dataset(config)
train_data, valid_data, test_data = data_preparation(config, dataset)
sizes = {part: len(loader._dataset.inter_feat)
         for part, loader in zip(("train", "valid", "test"), (train_data, valid_data, test_data))}

init_seed(args.train_seed, config["reproducibility"])
model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)

history = []
train_epoch, valid_epoch = trainer._train_epoch, trainer._valid_epoch


def recorded_train_epoch(data, epoch_idx, *a, **k):
    t0 = time.perf_counter()
    loss = train_epoch(data, epoch_idx, *a, **k)
    total = sum(loss) if isinstance(loss, tuple) else loss
    history.append({"epoch": epoch_idx + 1, "train_seconds": time.perf_counter() - t0,
                    "train/loss": float(total) / len(data), "train/loss_sum": float(total),
                    "batches": len(data)})
    return loss


def recorded_valid_epoch(data, *a, **k):
    t0 = time.perf_counter()
    score, result = valid_epoch(data, *a, **k)
    history[-1].update({f"valid/{m}": float(v) for m, v in result.items()})
    history[-1]["eval_seconds"] = time.perf_counter() - t0
    return score, result


trainer._train_epoch, trainer._valid_epoch = recorded_train_epoch, recorded_valid_epoch
t0 = time.perf_counter()
trainer.fit(train_data, valid_data, verbose=False, saved=False, show_progress=False)
result = {"toolkit": "recbole", "model": "LightGCN", "train_seed": args.train_seed,
          "split_seed": args.split_seed, "sizes": sizes, "epochs": args.epochs,
          "config": {k: config[k] for k in ("n_layers", "reg_weight", "embedding_size",
                                            "learning_rate", "train_batch_size", "valid_metric",
                                            "stopping_step", "eval_step", "train_neg_sample_args",
                                            "weight_decay")},
          "history": history, "seconds": time.perf_counter() - t0}
with open(args.result, "w") as f:
    json.dump(result, f, default=str)
print(json.dumps({k: v for k, v in result.items() if k != "history"}, default=str))
