"""The jitted training step: ``train_step(state, graph, batch, features) -> (state, metrics)``.

No globals, no I/O, no host randomness: the step's key is ``fold_in(state.key, state.step)``.
``make_train_step`` compiles it once (``donate_argnums=0``: the old state's buffers are reused,
so never touch a state after passing it in).

A batch is ``{"users", "items", "labels", "mask"}``, each ``[batch_size]``; ``mask`` marks real
rows (the last batch of an epoch is padded), and every loss is a masked mean.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from recjax.config.schema import TrainConfig
from recjax.models import Recommender
from recjax.train import losses
from recjax.train.negatives import is_train_positive, sample_negatives
from recjax.train.state import TrainState


def id_embeddings(params):
    """The ``id`` tower's tables (user, item), or None for text-only models."""
    ids = params["params"].get("id")
    if ids is None:
        return None
    return ids["user"]["embedding"], ids["item"]["embedding"]


SWEEPABLE = ("learning_rate", "weight_decay", "temperature", "reg_weight")


def hyperparameters(cfg: TrainConfig, **overrides) -> dict:
    """The scalars a step reads at run time (so a vectorised sweep can give each configuration
    its own): ``lr_scale`` (the learning rate over ``cfg.learning_rate``; the optimiser's
    updates are linear in the rate), ``weight_decay`` (coupled L2 on the gradients; adamw's
    decoupled decay stays in the optimiser), ``temperature`` and ``reg_weight``."""
    values = {k: getattr(cfg, k) for k in SWEEPABLE} | overrides
    return {"lr_scale": jnp.asarray(values["learning_rate"] / cfg.learning_rate, jnp.float32),
            "weight_decay": jnp.asarray(values["weight_decay"], jnp.float32),
            "temperature": jnp.asarray(values["temperature"], jnp.float32),
            "reg_weight": jnp.asarray(values["reg_weight"], jnp.float32)}


def compute_loss(model: Recommender, cfg: TrainConfig, params, graph, batch, features, key,
                 hparams: dict | None = None):
    """The loss of one batch and its parts."""
    hp = hparams if hparams is not None else hyperparameters(cfg)
    neg_key, dropout_key, cold_key = jax.random.split(key, 3)
    user_emb, item_emb = model.apply(params, graph, features, train=True,
                                     rngs={"dropout": dropout_key})
    users, items, mask = batch["users"], batch["items"], batch["mask"]
    u, pos = user_emb[users], item_emb[items]
    if cfg.cold_user_dropout or cfg.cold_item_dropout:
        iso_users, iso_items = model.apply(params, graph, features, train=True,
                                           method=model.isolated, rngs={"dropout": dropout_key})
        ku, ki = jax.random.split(cold_key)
        if cfg.cold_user_dropout:
            pick = jax.random.bernoulli(ku, cfg.cold_user_dropout, users.shape)[:, None]
            u = jnp.where(pick, iso_users[users], u)
        if cfg.cold_item_dropout:
            pick = jax.random.bernoulli(ki, cfg.cold_item_dropout, items.shape)[:, None]
            pos = jnp.where(pick, iso_items[items], pos)
    parts = {}
    if cfg.loss == "bce":
        offset = model.apply(params, method=model.offset)
        logits = jnp.sum(u * pos, -1) + offset
        parts["bce"] = losses.bce_loss(logits, batch["labels"], mask)
        neg_items = None
    elif cfg.loss == "softmax" and cfg.shared_negatives:
        # One set of negatives for the whole batch: a [batch, k] matmul instead of a
        # [batch, k, dim] gather, and gradients scattered into k rows, not batch * k.
        neg_items = jax.random.randint(neg_key, (cfg.num_negatives,), 0, graph.num_items)
        drop = neg_items[None, :] == items[:, None]
        if cfg.reject_positives:
            drop |= is_train_positive(graph, users[:, None], neg_items[None, :])
        parts["softmax"] = losses.softmax_loss(u, pos, item_emb[neg_items], mask,
                                               hp["temperature"], cfg.in_batch_negatives,
                                               items, neg_mask=drop)
        neg_items = None
    else:
        neg_items = sample_negatives(neg_key, graph, users, cfg.num_negatives,
                                     cfg.reject_positives)
        negs = item_emb[neg_items]
        if cfg.loss == "bpr":
            parts["bpr"] = losses.bpr_loss(u, pos, negs[:, 0], mask)
        else:
            parts["softmax"] = losses.softmax_loss(u, pos, negs, mask, hp["temperature"],
                                                   cfg.in_batch_negatives, items)
    tables = id_embeddings(params)
    if cfg.reg_weight and tables is not None:
        rows = [tables[0][users], tables[1][items]]
        if neg_items is not None:
            rows.append(tables[1][neg_items[:, 0]])
        parts["reg"] = hp["reg_weight"] * losses.l2_reg(mask, *rows)
    return sum(parts.values()), parts


def train_step(model: Recommender, cfg: TrainConfig, tx: optax.GradientTransformation,
               state: TrainState, graph, batch, features, hparams: dict | None = None):
    hp = hparams if hparams is not None else hyperparameters(cfg)
    key = jax.random.fold_in(state.key, state.step)
    grad_fn = jax.value_and_grad(
        lambda p: compute_loss(model, cfg, p, graph, batch, features, key, hp), has_aux=True)
    (loss, parts), grads = grad_fn(state.params)
    # cfg.weight_decay decides statically whether decay is traced at all; the value used is
    # hp's (per configuration in a vectorised sweep).
    if cfg.optimizer != "adamw" and cfg.weight_decay:
        grads = jax.tree_util.tree_map(lambda g, p: g + hp["weight_decay"] * p, grads,
                                       state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    updates = jax.tree_util.tree_map(lambda u: u * hp["lr_scale"], updates)
    params = optax.apply_updates(state.params, updates)
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
    return new_state, {"loss": loss, **parts}


def make_train_step(model: Recommender, cfg: TrainConfig,
                    tx: optax.GradientTransformation) -> Callable:
    """``step(state, graph, batch, features) -> (state, metrics)``, jitted once."""

    def step(state, graph, batch, features):
        return train_step(model, cfg, tx, state, graph, batch, features)

    return jax.jit(step, donate_argnums=0)


def epoch_body(model: Recommender, cfg: TrainConfig, tx: optax.GradientTransformation):
    """``epoch(state, graph, batches, features, hparams)``: ``train_step`` scanned over
    ``batches`` (leaves ``[steps, batch_size]``); metrics stacked ``[steps]``."""

    def epoch(state, graph, batches, features, hparams):
        def body(st, batch):
            return train_step(model, cfg, tx, st, graph, batch, features, hparams)

        return jax.lax.scan(body, state, batches)

    return epoch


def make_train_epoch(model: Recommender, cfg: TrainConfig, tx: optax.GradientTransformation,
                     shardings: tuple | None = None) -> Callable:
    """The jitted epoch (one dispatch per epoch instead of one per step), state donated.

    ``shardings = (state, graph, batches, features, replicated)`` places every argument
    explicitly for multi-device runs (see :mod:`recjax.train.parallel`)."""
    kw = {}
    if shardings is not None:
        state_sh, graph_sh, batch_sh, feat_sh, rep = shardings
        kw = {"in_shardings": (state_sh, graph_sh, batch_sh, feat_sh, rep),
              "out_shardings": (state_sh, rep)}
    return jax.jit(epoch_body(model, cfg, tx), donate_argnums=0, **kw)


def make_embed(model: Recommender) -> Callable:
    """``embed(params, graph, features) -> (user_emb, item_emb)`` in eval mode, jitted."""
    return jax.jit(lambda params, graph, features: model.apply(params, graph, features))
