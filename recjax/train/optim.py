"""optax optimisers from :class:`~recjax.config.schema.TrainConfig`.

Weight decay is read at update time (``tx.update(..., weight_decay=w)``) rather than fixed
when the optimiser is built, so each configuration of a vectorised sweep decays with its own
value: coupled L2 (``g + w * p`` before the optimiser) for adam/sgd/adagrad, decoupled decay
inside adamw (``scale_by_adam -> + w * p -> scale by -lr``, optax's adamw). It is traced only
when ``cfg.weight_decay`` is non-zero (a sweep passes its largest value).
"""

from __future__ import annotations

import re

import jax
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


def add_weight_decay() -> optax.GradientTransformationExtraArgs:
    """``updates + weight_decay * params`` with ``weight_decay`` given to ``update``."""

    def init(params):
        return optax.EmptyState()

    def update(updates, state, params=None, *, weight_decay=0.0, **extra):
        del extra
        return jax.tree_util.tree_map(lambda g, p: g + weight_decay * p, updates,
                                      params), state

    return optax.GradientTransformationExtraArgs(init, update)


def make_optimizer(cfg: TrainConfig, total_steps: int) -> optax.GradientTransformation:
    """The optimiser; parameters whose path (``"params/graph/W1_0/kernel"``) matches a
    ``freeze`` regex get no updates."""
    lr = learning_rate(cfg, total_steps)
    decay = [add_weight_decay()] if cfg.weight_decay else []
    if cfg.optimizer == "adamw":
        tx = optax.chain(optax.scale_by_adam(), *decay, optax.scale_by_learning_rate(lr))
    else:
        base = {"adam": optax.adam, "adagrad": optax.adagrad, "sgd": optax.sgd}[cfg.optimizer]
        tx = optax.chain(*decay, base(lr))
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
