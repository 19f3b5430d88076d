"""Runs inside RecBole's own Python (never imported by recjax): build RecBole's *own* split of
its bundled ml-100k (its defaults: RS 8:1:1 grouped by user, random order, seed 2020, no
filtering) and write its three parts as atomic files with the raw ids, so that recjax can
train on exactly the split RecBole's published-style numbers come from. Optionally train one
RecBole model on it with RecBole's defaults (``--train BPR``) to confirm that the split is the
one those numbers were measured on.

Usage: ``python recbole_split_child.py OUT_DIR [--seed 2020] [--train BPR [--train-seed S]]
[--valid-metric NDCG@10] [--result R.json]``
"""
# ruff: noqa: E402
import argparse
import json
import os
import time

p = argparse.ArgumentParser()
p.add_argument("out_dir")
p.add_argument("--seed", type=int, default=2020)
p.add_argument("--train", default=None, help="a RecBole model to train on the split")
p.add_argument("--train-seed", type=int, default=None,
               help="RecBole's seed for the model and training (default: --seed, as RecBole)")
p.add_argument("--valid-metric", default=None, help="default: RecBole's (MRR@10)")
p.add_argument("--result", default=None)
args = p.parse_args()

import torch
from recbole.config import Config
from recbole.data import create_dataset, data_preparation
from recbole.utils import get_model, get_trainer, init_seed

NAME = "ml-100k"
config_dict = {
    "seed": args.seed, "use_gpu": False, "show_progress": False, "save_dataset": False,
    "save_dataloaders": False, "reproducibility": True,
    # Ratings and timestamps as read, not min-max normalised (they are written back out).
    "normalize_all": False,
    "metrics": ["Recall", "NDCG", "MRR", "Hit", "Precision"], "topk": [10, 20],
    "checkpoint_dir": os.path.join(args.out_dir, "saved"),
}
if args.valid_metric:
    config_dict["valid_metric"] = args.valid_metric
config = Config(model=args.train or "BPR", dataset=NAME, config_dict=config_dict)
init_seed(config["seed"], config["reproducibility"])
dataset = create_dataset(config)
loaders = data_preparation(config, dataset)
os.makedirs(args.out_dir, exist_ok=True)
header = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
sizes = {}
for part, loader in zip(("train", "valid", "test"), loaders):
    ds = loader._dataset
    users = ds.id2token(ds.uid_field, ds.inter_feat[ds.uid_field].numpy())
    items = ds.id2token(ds.iid_field, ds.inter_feat[ds.iid_field].numpy())
    ratings = ds.inter_feat["rating"].numpy()
    stamps = ds.inter_feat["timestamp"].numpy()
    rows = [f"{u}\t{i}\t{float(r)!r}\t{float(t)!r}\n"
            for u, i, r, t in zip(users, items, ratings, stamps)]
    with open(os.path.join(args.out_dir, f"{NAME}.{part}.inter"), "w", encoding="utf-8") as f:
        f.write(header + "".join(rows))
    sizes[part] = len(rows)
result = {"sizes": sizes, "seed": args.seed}

if args.train:
    t0 = time.perf_counter()
    train_data, valid_data, test_data = loaders
    train_seed = config["seed"] if args.train_seed is None else args.train_seed
    init_seed(train_seed, config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    best_valid_score, best_valid = trainer.fit(train_data, valid_data, verbose=False,
                                               saved=True, show_progress=False)
    # RecBole pickles its Config into checkpoints; torch >= 2.6 loads weights_only by default.
    ckpt = torch.load(trainer.saved_model_file, map_location=config["device"],
                      weights_only=False)
    model.load_state_dict(ckpt["state_dict"])
    model.load_other_parameter(ckpt.get("other_parameter"))
    test = trainer.evaluate(test_data, load_best_model=False, show_progress=False)
    result.update(model=config["model"], train_seed=train_seed,
                  valid_metric=config["valid_metric"],
                  valid={k: float(v) for k, v in best_valid.items()},
                  test={k: float(v) for k, v in test.items()},
                  best_epoch=int(ckpt["epoch"]) + 1, seconds=time.perf_counter() - t0)
if args.result:
    with open(args.result, "w") as f:
        json.dump(result, f)
print(json.dumps(result))
