"""optax optimisers from :class:`~recjax.config.schema.TrainConfig`."""

from __future__ import annotations

import re

import optax
from flax import traverse_util

from recjax.config.schema import TrainConfig


def learning_rate(cfg: TrainConfig, total_steps: int):
    if cfg.schedule == "constant":
        return cfg.learning_rate
    if cfg.schedule == "cosine":
        return optax.cosine_decay_schedule(cfg.learning_rate, max(total_steps, 1))
    return optax.warmup_cosine_decay_schedule(0.0, cfg.learning_rate, cfg.warmup_steps,
                                              max(total_steps, cfg.warmup_steps + 1))


def make_optimizer(cfg: TrainConfig, total_steps: int) -> optax.GradientTransformation:
    """The optimiser; parameters whose path (``"params/graph/W1_0/kernel"``) matches a
    ``freeze`` regex get no updates."""
    lr = learning_rate(cfg, total_steps)
    # weight_decay for adam/sgd/adagrad is coupled L2, added to the gradients by the train
    # step (so sweeps can vary it); adamw's decoupled decay lives here.
    if cfg.optimizer == "adam":
        tx = optax.adam(lr)
    elif cfg.optimizer == "adamw":
        tx = optax.adamw(lr, weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "adagrad":
        tx = optax.adagrad(lr)
    else:
        tx = optax.sgd(lr)
    if cfg.grad_clip:
        tx = optax.chain(optax.clip_by_global_norm(cfg.grad_clip), tx)
    if not cfg.freeze:
        return tx
    patterns = [re.compile(p) for p in cfg.freeze]

    def labels(params):
        flat = traverse_util.flatten_dict(params, sep="/")
        return traverse_util.unflatten_dict(
            {k: "frozen" if any(p.search(k) for p in patterns) else "train"
             for k in flat}, sep="/")

    return optax.multi_transform({"train": tx, "frozen": optax.set_to_zero()}, labels)
