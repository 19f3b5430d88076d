"""The jitted training step: ``train_step(state, graph, batch, features) -> (state, metrics)``.

No globals, no I/O, no host randomness: the step's key is ``fold_in(state.key, state.step)``.
``make_train_step`` compiles it once (``donate_argnums=0``: the old state's buffers are reused,
so never touch a state after passing it in).

A batch is ``{"users", "items", "labels", "mask"}``, each ``[batch_size]``; ``mask`` marks real
rows (the last batch of an epoch is padded), and every loss is a masked mean. The loss itself
is the registered objective's (:mod:`recjax.train.objectives`); the model may add a
contrastive term between two views of its nodes (SimGCL, XSimGCL).

With an end-to-end text tower (``features.text_tokens``), the step first encodes the texts
through the tower's BERT layers (all of them, or a random subset with the rest read from the
text bank), inside the differentiated function, so one jitted step runs BERT -> pooling ->
projection -> fusion -> GNN -> loss and the optimiser updates every trainable weight; the
bank, frozen for the optimiser, is then overwritten with the step's vectors.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from recjax.config.schema import TrainConfig
from recjax.train import losses
from recjax.train.objectives import LossInputs, get_objective
from recjax.train.state import TrainState


def id_embeddings(params):
    """The ``id`` tower's tables (user, item), or None for models without one."""
    ids = params["params"].get("id")
    if ids is None:
        return None
    return ids["user"]["embedding"], ids["item"]["embedding"]


SWEEPABLE = ("learning_rate", "weight_decay", "temperature", "reg_weight")


def hyperparameters(cfg: TrainConfig, **overrides) -> dict:
    """The scalars a step reads at run time (so a vectorised sweep can give each configuration
    its own): ``lr_scale`` (the learning rate over ``cfg.learning_rate``; the optimiser's
    updates are linear in the rate), ``weight_decay`` (coupled L2 on the gradients, or
    adamw's decoupled decay, see :mod:`recjax.train.optim`), ``temperature`` and
    ``reg_weight``."""
    values = {k: getattr(cfg, k) for k in SWEEPABLE} | overrides
    return {"lr_scale": jnp.asarray(values["learning_rate"] / cfg.learning_rate, jnp.float32),
            "weight_decay": jnp.asarray(values["weight_decay"], jnp.float32),
            "temperature": jnp.asarray(values["temperature"], jnp.float32),
            "reg_weight": jnp.asarray(values["reg_weight"], jnp.float32)}


def uses_reg(cfg: TrainConfig) -> bool:
    """Whether the L2 term is traced at all; its weight is the run-time ``reg_weight``."""
    return bool(cfg.reg_weight)


# The stream of the step key that picks the text rows an end-to-end text tower re-encodes;
# folded in (not split off) so every other stream draws what it drew before the tower existed.
TEXT_STREAM = 0x7E47


def compute_loss(model, cfg: TrainConfig, params, graph, batch, features, key,
                 hparams: dict | None = None, warm_negatives: bool = False):
    """The loss of one batch and its parts."""
    total, (parts, _) = loss_and_updates(model, cfg, params, graph, batch, features, key,
                                         hparams, warm_negatives)
    return total, parts


def encode_for_step(model, params, features, key):
    """An end-to-end text tower's vectors for this step (with gradient to its trainable
    weights) and the updated text bank: ``(features with vectors, {"text_bank": ...})``, or
    ``(features, {})`` when the features are vectors already."""
    if features is None or getattr(features, "text_tokens", None) is None:
        return features, {}
    out, updates = model.apply(params, features, True, method=model.encode_text,
                               rngs={"text": jax.random.fold_in(key, TEXT_STREAM)},
                               mutable=["text_bank"])
    return out, dict(updates)


def loss_and_updates(model, cfg: TrainConfig, params, graph, batch, features, key,
                     hparams: dict | None = None, warm_negatives: bool = False):
    """``(loss, (parts, state_updates))``: the loss, its parts, and the non-trained model
    state the step writes after the update (the text bank; ``{}`` for most models). The text
    is encoded once, so the main pass, the isolated pass and the alignment view share it."""
    hp = hparams if hparams is not None else hyperparameters(cfg)
    features, updates = encode_for_step(model, params, features, key)
    neg_key, dropout_key, cold_key, noise_key = jax.random.split(key, 4)
    rngs = {"dropout": dropout_key, "noise": noise_key}
    user_emb, item_emb, views = model.apply(params, graph, features, train=True, views=True,
                                            rngs=rngs)
    users, items, mask = batch["users"], batch["items"], batch["mask"]
    u, pos = user_emb[users], item_emb[items]
    cold_rows = None
    if cfg.cold_user_dropout or cfg.cold_item_dropout:
        iso_users, iso_items = model.apply(params, graph, features, train=True,
                                           method=model.isolated, rngs=rngs)
        ku, ki = jax.random.split(cold_key)
        if cfg.cold_user_dropout:
            pick = jax.random.bernoulli(ku, cfg.cold_user_dropout, users.shape)[:, None]
            u = jnp.where(pick, iso_users[users], u)
        if cfg.cold_item_dropout:
            cold_rows = jax.random.bernoulli(ki, cfg.cold_item_dropout, items.shape)
    offset = model.apply(params, method=model.offset)
    objective = get_objective(cfg.loss)

    def rows_loss(row_mask, pos_emb, table):
        return objective.loss(LossInputs(cfg, hp, graph, users, items, batch["labels"],
                                         row_mask, u, pos_emb, table, offset, neg_key,
                                         warm_negatives))

    if cold_rows is None:
        parts, neg_items = rows_loss(mask, pos, item_emb)
    else:
        # A row whose item is dropped is scored entirely as cold: its positive AND its
        # negatives edge-free, without ID rows. With edge-free positives against normal
        # negatives a model can win by telling "isolated" from "propagated" (one direction
        # shared by every cold item) without learning to rank cold items among themselves.
        # The two passes draw the same negatives (same key); in-batch negatives and log-Q's
        # batch count come from each pass's own rows. The L2 term (below) still covers the
        # dropped rows' layer-0 ID rows.
        warm_mask = jnp.where(cold_rows, jnp.zeros_like(mask), mask)
        cold_mask = jnp.where(cold_rows, mask, jnp.zeros_like(mask))
        warm_parts, neg_items = rows_loss(warm_mask, pos, item_emb)
        cold_parts, _ = rows_loss(cold_mask, iso_items[items], iso_items)
        # Each part is a mean over its rows (directau, whose uniformity is not, is refused
        # with cold_item_dropout): weighting by row counts gives the mean over the batch.
        n_warm = jnp.sum(warm_mask.astype(jnp.float32))
        n_cold = jnp.sum(cold_mask.astype(jnp.float32))
        total = jnp.maximum(n_warm + n_cold, 1.0)
        parts = {k: (n_warm * warm_parts[k] + n_cold * cold_parts[k]) / total
                 for k in warm_parts}
    if views is not None:
        parts["cl"] = model.cfg.cl_weight * contrastive_loss(views, users, items, mask,
                                                             model.cfg.cl_temperature)
    tables = id_embeddings(params)
    if uses_reg(cfg) and tables is not None:
        rows = [tables[0][users], tables[1][items]]
        if neg_items is not None:
            rows.append(tables[1][neg_items])
        reg = losses.norm_reg if cfg.reg_form == "norm" else losses.l2_reg
        parts["reg"] = hp["reg_weight"] * reg(mask, *rows)
    return sum(parts.values()), (parts, updates)


def contrastive_loss(views, users, items, mask, temperature):
    """InfoNCE between the two views, over the batch's distinct users plus its distinct
    positive items, each a mean over rows as in the authors' code (SELFRec's ``InfoNCE``).
    RecBole-GNN sums over rows instead, so its ``lambda`` is not comparable with
    ``cl_weight``."""
    (u1, i1), (u2, i2) = views
    uw, iw = losses.first_occurrence(users, mask), losses.first_occurrence(items, mask)
    return (losses.info_nce(u1[users], u2[users], uw, temperature)
            + losses.info_nce(i1[items], i2[items], iw, temperature))


def train_step(model, cfg: TrainConfig, tx: optax.GradientTransformation,
               state: TrainState, graph, batch, features, hparams: dict | None = None,
               warm_negatives: bool = False):
    hp = hparams if hparams is not None else hyperparameters(cfg)
    key = jax.random.fold_in(state.key, state.step)
    grad_fn = jax.value_and_grad(
        lambda p: loss_and_updates(model, cfg, p, graph, batch, features, key, hp,
                                   warm_negatives),
        has_aux=True)
    (loss, (parts, state_updates)), grads = grad_fn(state.params)
    # The optimiser applies the run-time weight decay (coupled for adam/sgd/adagrad,
    # decoupled for adamw), so each configuration of a vectorised sweep gets its own.
    updates, opt_state = tx.update(grads, state.opt_state, state.params,
                                   weight_decay=hp["weight_decay"])
    updates = jax.tree_util.tree_map(lambda u: u * hp["lr_scale"], updates)
    params = optax.apply_updates(state.params, updates)
    if state_updates:  # the text bank: frozen for the optimiser, rewritten here
        params = {**params, **state_updates}
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
    return new_state, {"loss": loss, **parts}


def make_train_step(model, cfg: TrainConfig, tx: optax.GradientTransformation,
                    warm_negatives: bool = False) -> Callable:
    """``step(state, graph, batch, features) -> (state, metrics)``, jitted once."""

    def step(state, graph, batch, features):
        return train_step(model, cfg, tx, state, graph, batch, features,
                          warm_negatives=warm_negatives)

    return jax.jit(step, donate_argnums=0)


def epoch_body(model, cfg: TrainConfig, tx: optax.GradientTransformation,
               warm_negatives: bool = False):
    """``epoch(state, graph, batches, features, hparams)``: ``train_step`` scanned over
    ``batches`` (leaves ``[steps, batch_size]``); metrics stacked ``[steps]``."""

    def epoch(state, graph, batches, features, hparams):
        def body(st, batch):
            return train_step(model, cfg, tx, st, graph, batch, features, hparams,
                              warm_negatives)

        return jax.lax.scan(body, state, batches)

    return epoch


def make_train_epoch(model, cfg: TrainConfig, tx: optax.GradientTransformation,
                     shardings: tuple | None = None, warm_negatives: bool = False) -> Callable:
    """The jitted epoch (one dispatch per epoch instead of one per step), state donated.

    ``shardings = (state, graph, batches, features, replicated)`` places every argument
    explicitly for multi-device runs (see :mod:`recjax.train.parallel`)."""
    kw = {}
    if shardings is not None:
        state_sh, graph_sh, batch_sh, feat_sh, rep = shardings
        kw = {"in_shardings": (state_sh, graph_sh, batch_sh, feat_sh, rep),
              "out_shardings": (state_sh, rep)}
    return jax.jit(epoch_body(model, cfg, tx, warm_negatives), donate_argnums=0, **kw)


def make_embed(model) -> Callable:
    """``embed(params, graph, features) -> (user_emb, item_emb)`` in eval mode, jitted."""
    return jax.jit(lambda params, graph, features: model.apply(params, graph, features))
