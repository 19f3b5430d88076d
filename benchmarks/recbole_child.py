"""Runs inside RecBole's own Python (never imported by recjax): train and evaluate one model
on exported benchmark files, as ``recbole_same_split.py`` asks. Usage: ``python
recbole_child.py SPEC.json RESULT.json``."""
# RecBole and torch are imported after the argument reading on purpose (a missing RecBole
# surfaces as this script's import error, in its own environment).
# ruff: noqa: E402
import importlib.util
import json
import os
import sys
import time

spec = json.load(open(sys.argv[1]))
out_path = sys.argv[2]


def emit(result):
    with open(out_path, "w") as f:
        json.dump(result, f, default=str)


import recbole
import torch
from recbole.config import Config
from recbole.data import create_dataset, data_preparation
from recbole.utils import get_model, get_trainer, init_seed

api, package = "recbole", recbole
# Not get_model(): for a name it lacks, RecBole's search reaches exlib_recommender, which
# imports lightgbm and xgboost (not installed), and fails with that instead.
general = "recbole.model.general_recommender." + spec["model"].lower()
if importlib.util.find_spec(general) is None:
    try:  # SimGCL lives in RecBole-GNN, whose own Config/dataset build the graph
        import recbole_gnn as package
        from recbole_gnn.config import Config
        from recbole_gnn.utils import create_dataset, data_preparation, get_model, get_trainer
        api = "recbole_gnn"
    except ImportError as gnn_missing:
        emit({"status": "unavailable",
              "reason": f"RecBole {recbole.__version__} has no module {general}; "
                        f"RecBole-GNN: {gnn_missing}"})
        sys.exit(0)


def file_pairs(path):
    with open(path, encoding="utf-8") as f:
        names = [c.split(":")[0] for c in f.readline().rstrip("\n").split("\t")]
        u, i = names.index("user_id"), names.index("item_id")
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    return sorted((r[u], r[i]) for r in rows)


def recbole_pairs(ds):
    users = ds.id2token(ds.uid_field, ds.inter_feat[ds.uid_field].numpy())
    items = ds.id2token(ds.iid_field, ds.inter_feat[ds.iid_field].numpy())
    return sorted(zip(users.tolist(), items.tolist()))


def progress(msg):
    print("  | " + msg, file=sys.stderr, flush=True)


t_start = time.perf_counter()
config = Config(model=spec["model"], dataset=spec["dataset"], config_dict=spec["config"])
init_seed(config["seed"], config["reproducibility"])
dataset = create_dataset(config)
loaders = data_preparation(config, dataset)
for part, loader in zip(("train", "valid", "test"), loaders):
    if recbole_pairs(loader._dataset) != file_pairs(spec["files"][part]):
        raise SystemExit(f"RecBole's {part} part differs from {spec['files'][part]}")
train_data, valid_data, test_data = loaders
data_s = time.perf_counter() - t_start

t_model = time.perf_counter()
init_seed(config["seed"], config["reproducibility"])
model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
train_epoch, train_s = trainer._train_epoch, []


def timed_train_epoch(*args, **kwargs):
    t = time.perf_counter()
    loss = train_epoch(*args, **kwargs)
    train_s.append(time.perf_counter() - t)
    return loss


trainer._train_epoch = timed_train_epoch
curve = []


def on_valid(epoch, score):
    curve.append(round(float(score), 5))
    if (epoch + 1) % 10 == 0:
        progress(f"epoch {epoch + 1}: valid {config['valid_metric']} {score:.4f}, "
                 f"best {max(curve):.4f}")


_, best_valid = trainer.fit(train_data, valid_data, verbose=False, saved=True,
                            show_progress=False, callback_fn=on_valid)
# RecBole pickles its Config into checkpoints; torch >= 2.6 loads weights_only by default.
ckpt = torch.load(trainer.saved_model_file, map_location=config["device"], weights_only=False)
model.load_state_dict(ckpt["state_dict"])
model.load_other_parameter(ckpt.get("other_parameter"))
test = trainer.evaluate(test_data, load_best_model=False, show_progress=False)
seconds = time.perf_counter() - t_model

defaults_file = os.path.join(os.path.dirname(package.__file__), "properties", "model",
                             config["model"] + ".yaml")
default_keys = []
if os.path.isfile(defaults_file):
    with open(defaults_file) as f:
        default_keys = [line.split(":")[0] for line in f if line[:1].isalpha()]
used_keys = sorted({*spec["config"], *default_keys} - {"data_path", "checkpoint_dir"})
emit({
    "status": "ok", "api": api, "recbole_version": recbole.__version__,
    "package_version": getattr(package, "__version__", None),
    "torch_version": torch.__version__, "torch_threads": torch.get_num_threads(),
    "device": str(config["device"]),
    "valid": {k: float(v) for k, v in best_valid.items()},
    "test": {k: float(v) for k, v in test.items()},
    "best_epoch": int(ckpt["epoch"]) + 1, "epochs_run": len(train_s),
    "max_epochs": trainer.epochs,
    "valid_curve": curve, "seconds": seconds, "data_s": data_s,
    "train_s_per_epoch": sum(train_s) / max(len(train_s), 1),
    "model_defaults": {k: config[k] for k in default_keys},
    "config": {k: config[k] for k in used_keys},
    "num_users": dataset.user_num - 1, "num_items": dataset.item_num - 1,
    "sizes": {p: len(d._dataset) for p, d in zip(("train", "valid", "test"), loaders)},
})
