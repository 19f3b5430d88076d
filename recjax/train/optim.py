"""optax optimisers from :class:`~recjax.config.schema.TrainConfig`.

Weight decay is read at update time (``tx.update(..., weight_decay=w)``) rather than fixed
when the optimiser is built, so each configuration of a vectorised sweep decays with its own
value: coupled L2 (``g + w * p`` before the optimiser) for adam/sgd/adagrad, decoupled decay
inside adamw (``scale_by_adam -> + w * p -> scale by -lr``, optax's adamw). It is traced only
when ``cfg.weight_decay`` is non-zero (a sweep passes its largest value).
"""

from __future__ import annotations

import dataclasses
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


def _base_optimizer(cfg: TrainConfig, total_steps: int, rate: float, clip: bool = True
                    ) -> optax.GradientTransformation:
    lr = learning_rate(dataclasses.replace(cfg, learning_rate=rate), total_steps)
    decay = [add_weight_decay()] if cfg.weight_decay else []
    if cfg.optimizer == "adamw":
        tx = optax.chain(optax.scale_by_adam(), *decay, optax.scale_by_learning_rate(lr))
    else:
        base = {"adam": optax.adam, "adagrad": optax.adagrad, "sgd": optax.sgd}[cfg.optimizer]
        tx = optax.chain(*decay, base(lr))
    if cfg.grad_clip and clip:
        tx = optax.chain(optax.clip_by_global_norm(cfg.grad_clip), tx)
    return tx


# Parameter paths of the BERT inside an end-to-end text tower (its layers and pooling), the
# group ``TrainConfig.text_learning_rate`` applies to.
TEXT_ENCODER_PATTERN = r"^params/text/(encoder|pool)/"


def parameter_labels(params, cfg: TrainConfig, frozen: tuple[str, ...] = ()):
    """Each variable path's optimiser group: ``frozen`` (matches ``cfg.freeze`` or
    ``frozen``, the model's own rules such as LoRA's base weights), ``text`` (the text
    tower's BERT, when ``cfg.text_learning_rate`` is set) or ``train``."""
    patterns = [re.compile(p) for p in (*cfg.freeze, *frozen)]
    text = re.compile(TEXT_ENCODER_PATTERN) if cfg.text_learning_rate is not None else None

    def label(path: str) -> str:
        if any(p.search(path) for p in patterns):
            return "frozen"
        if text is not None and text.search(path):
            return "text"
        return "train"

    flat = traverse_util.flatten_dict(params, sep="/")
    return traverse_util.unflatten_dict({k: label(k) for k in flat}, sep="/")


def make_optimizer(cfg: TrainConfig, total_steps: int, frozen: tuple[str, ...] = ()
                   ) -> optax.GradientTransformation:
    """The optimiser; parameters whose path (``"params/graph/W1_0/kernel"``) matches a
    ``cfg.freeze`` regex or one of ``frozen`` (the model's ``frozen_patterns``) get no
    updates, and with ``cfg.text_learning_rate`` the text tower's BERT its own rate (per-group
    optimisers via ``optax.multi_transform``)."""
    tx = _base_optimizer(cfg, total_steps, cfg.learning_rate)
    if not (cfg.freeze or frozen or cfg.text_learning_rate is not None):
        return tx
    # Gradient clipping takes the global norm over every trained group together (not per
    # group), frozen leaves left out; then each group's optimiser.
    groups = {"train": _base_optimizer(cfg, total_steps, cfg.learning_rate, clip=False),
              "frozen": optax.set_to_zero()}
    if cfg.text_learning_rate is not None:
        groups["text"] = _base_optimizer(cfg, total_steps, cfg.text_learning_rate, clip=False)
    labels = lambda p: parameter_labels(p, cfg, frozen)  # noqa: E731
    tx = optax.multi_transform(groups, labels)
    if cfg.grad_clip:
        trained = lambda p: jax.tree.map(lambda label: label != "frozen", labels(p))  # noqa: E731
        tx = optax.chain(optax.masked(optax.clip_by_global_norm(cfg.grad_clip), trained), tx)
    return tx


def parameter_counts(params, frozen: tuple[str, ...] = (), features=None) -> dict:
    """``{tower: {"trainable": n, "frozen": m}}`` per top-level parameter group. Frozen are
    the parameters whose path matches one of ``frozen`` (the model's and the train config's
    rules, :func:`recjax.train.optim.parameter_labels`) and, for an end-to-end text tower,
    the BERT embeddings and layers below its cache (``features.text_tokens``), which shape
    every text vector but are run once, outside training. Non-parameter state (the text
    bank) is not counted."""
    patterns = [re.compile(p) for p in frozen]
    counts = {}
    for name, sub in params["params"].items():
        # A group may be one array (closed-form models: {"item": B}).
        flat = traverse_util.flatten_dict(sub, sep="/") if hasattr(sub, "items") else {"": sub}
        n = {"trainable": 0, "frozen": 0}
        for path, x in flat.items():
            full = f"params/{name}/{path}" if path else f"params/{name}"
            is_frozen = any(p.search(full) for p in patterns)
            n["frozen" if is_frozen else "trainable"] += int(jax.numpy.size(x))
        counts[name] = n
    tokens = getattr(features, "text_tokens", None)
    if tokens is not None and "text" in counts:
        counts["text"]["frozen"] += tokens.lower_parameter_count
    return counts
