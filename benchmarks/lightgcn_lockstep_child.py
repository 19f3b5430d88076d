"""Runs inside RecBole's own Python (never imported by recjax): train RecBole 1.2.1's LightGCN
for ``--epochs`` epochs on its own default ml-100k split (RS 8:1:1, split seed 2020, built as
in ``recbole_split_child.py``) with RecBole's *own* ``Trainer._train_epoch`` (the function
``Trainer.fit`` calls; ``fit``'s valid evaluation between epochs is skipped: it changes no
parameter), and record what ``lightgcn_lockstep.py`` needs to replay the same optimisation in
recjax:

* the initial embedding tables, the raw tokens of RecBole's internal ids, the normalised
  adjacency (COO), the layer-mean embeddings of ``forward()`` at initialisation;
* every batch's (user, positive, negative) internal ids in order, each step's loss and its
  L2 part (recomputed under ``no_grad`` from the same rows: no RNG is consumed);
* the gradient of both tables at step 1 (read in an optimiser step post-hook, before the next
  ``zero_grad``) and the tables after steps 1, 10 and at the end of every epoch.

Settings: RecBole's LightGCN defaults (2 layers, reg_weight 1e-5 unless ``--reg-weight``,
require_pow False, xavier-uniform, BPR with one uniform negative, Adam 1e-3, batch 2048,
dim 64), training seed ``--train-seed`` set with ``init_seed`` after the split is built.

Usage: ``python lightgcn_lockstep_child.py WORK_DIR --out OUT.npz [--train-seed 0]
[--epochs 2] [--reg-weight 1e-5] [--split-seed 2020]``
"""
# ruff: noqa: E402
import argparse
import json
import os

p = argparse.ArgumentParser()
p.add_argument("work_dir")
p.add_argument("--out", required=True)
p.add_argument("--split-seed", type=int, default=2020)
p.add_argument("--train-seed", type=int, default=0)
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--reg-weight", type=float, default=None, help="default: RecBole's (1e-5)")
args = p.parse_args()

import numpy as np
import torch
from recbole.config import Config
from recbole.data import create_dataset, data_preparation
from recbole.utils import get_model, get_trainer, init_seed

config_dict = {
    "seed": args.split_seed, "use_gpu": False, "show_progress": False, "save_dataset": False,
    "save_dataloaders": False, "reproducibility": True, "normalize_all": False,
    "metrics": ["Recall", "NDCG", "MRR", "Hit", "Precision"], "topk": [10, 20],
    "checkpoint_dir": os.path.join(args.work_dir, "saved"), "valid_metric": "NDCG@10",
}
if args.reg_weight is not None:
    config_dict["reg_weight"] = args.reg_weight
config = Config(model="LightGCN", dataset="ml-100k", config_dict=config_dict)
init_seed(config["seed"], config["reproducibility"])
dataset = create_dataset(config)
train_data, valid_data, test_data = data_preparation(config, dataset)

init_seed(args.train_seed, config["reproducibility"])
model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)

out = {}


def tables(prefix):
    out[f"{prefix}_user"] = model.user_embedding.weight.detach().numpy().copy()
    out[f"{prefix}_item"] = model.item_embedding.weight.detach().numpy().copy()


ds = train_data._dataset
out["user_tokens"] = np.asarray(ds.id2token(ds.uid_field, np.arange(model.n_users)), dtype=str)
out["item_tokens"] = np.asarray(ds.id2token(ds.iid_field, np.arange(model.n_items)), dtype=str)
adj = model.norm_adj_matrix.coalesce()
out["adj_index"] = adj.indices().numpy()
out["adj_value"] = adj.values().numpy()
tables("init")
with torch.no_grad():
    fu, fi = model.forward()
out["fwd_init_user"], out["fwd_init_item"] = fu.numpy().copy(), fi.numpy().copy()

batches, losses, regs = [], [], []
calculate_loss = model.calculate_loss


def recorded_loss(interaction):
    user, pos, neg = (interaction[f].detach().numpy().copy()
                      for f in (model.USER_ID, model.ITEM_ID, model.NEG_ITEM_ID))
    batches.append((user, pos, neg))
    loss = calculate_loss(interaction)
    with torch.no_grad():  # the L2 part, as calculate_loss computes it (no RNG consumed)
        reg = model.reg_loss(model.user_embedding(interaction[model.USER_ID]),
                             model.item_embedding(interaction[model.ITEM_ID]),
                             model.item_embedding(interaction[model.NEG_ITEM_ID]),
                             require_pow=model.require_pow)
    losses.append(float(loss.detach()))
    regs.append(float(model.reg_weight * reg))
    return loss


model.calculate_loss = recorded_loss  # _train_epoch reads self.model.calculate_loss
steps = {"n": 0}


def after_step(optimizer, *_):
    steps["n"] += 1
    if steps["n"] == 1:
        out["grad1_user"] = model.user_embedding.weight.grad.numpy().copy()
        out["grad1_item"] = model.item_embedding.weight.grad.numpy().copy()
    if steps["n"] in (1, 10):
        tables(f"step{steps['n']}")


trainer.optimizer.register_step_post_hook(after_step)
epoch_steps = []
for epoch in range(args.epochs):
    trainer._train_epoch(train_data, epoch, show_progress=False)
    tables(f"epoch{epoch + 1}")
    epoch_steps.append(steps["n"])

sizes = [len(b[0]) for b in batches]
out["batch_sizes"] = np.asarray(sizes)
for n, name in enumerate(("users", "pos", "neg")):
    out[f"batch_{name}"] = np.concatenate([b[n] for b in batches])
out["loss"], out["reg"] = np.asarray(losses), np.asarray(regs)
out["epoch_steps"] = np.asarray(epoch_steps)
meta = {k: config[k] for k in ("n_layers", "reg_weight", "require_pow", "embedding_size",
                               "learning_rate", "train_batch_size", "learner", "weight_decay",
                               "clip_grad_norm", "enable_amp", "train_neg_sample_args")}
meta.update(train_seed=args.train_seed, split_seed=args.split_seed, epochs=args.epochs,
            optimizer=repr(trainer.optimizer), n_users=model.n_users, n_items=model.n_items,
            torch=torch.__version__)
out["meta"] = np.asarray(json.dumps(meta, default=str))
np.savez(args.out, **out)
print(json.dumps(meta, default=str))
