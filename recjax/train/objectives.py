"""Training objectives, registered by name in :data:`OBJECTIVES`.

Each objective declares in one place what it needs and produces: ``negatives`` (``none``,
``per_row`` or ``shared``: how many item rows it draws), ``parts`` (the names of its loss
terms, logged per epoch), ``task`` (``ranking``, or ``classification``, which makes
evaluation compute AUC, accuracy and log-loss as well, see :data:`CLASSIFICATION_METRICS`)
and ``hyperparameters`` (the :class:`~recjax.config.schema.TrainConfig` fields it reads
beyond the shared ones; a ``conf/train`` preset may set them). Adding a loss is one class
here (or in a module that imports this one) with ``@register_objective("name")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import jax.numpy as jnp

from recjax.config.schema import TrainConfig
from recjax.graph import RecGraph
from recjax.train import losses
from recjax.train.negatives import (
    draw_items,
    is_train_positive,
    item_popularity,
    sample_items,
    sampling_log_prob,
)

CLASSIFICATION_METRICS = ("auc", "accuracy", "logloss")

OBJECTIVES: dict[str, Objective] = {}


def register_objective(name: str):
    def add(cls):
        if name in OBJECTIVES:
            raise ValueError(f"objective {name!r} is registered twice")
        cls.name = name
        OBJECTIVES[name] = cls()
        return cls

    return add


def get_objective(name: str) -> Objective:
    if name not in OBJECTIVES:
        raise KeyError(f"unknown loss {name!r}; valid losses: {sorted(OBJECTIVES)}")
    return OBJECTIVES[name]


@dataclass(frozen=True)
class LossInputs:
    """One batch as the objective sees it. ``u``/``pos`` ``[batch, dim]`` are the users' and
    positive items' final embeddings, ``item_emb`` all items', ``offset`` the classification
    offset; ``warm`` says negatives must come from items with train edges only."""

    cfg: TrainConfig
    hp: dict
    graph: RecGraph
    users: Any
    items: Any
    labels: Any
    mask: Any
    u: Any
    pos: Any
    item_emb: Any
    offset: Any
    key: Any
    warm: bool = False


class Objective:
    name: ClassVar[str] = ""
    task: ClassVar[str] = "ranking"
    parts: ClassVar[tuple[str, ...]] = ()
    hyperparameters: ClassVar[tuple[str, ...]] = ()

    def negatives(self, cfg: TrainConfig) -> str:
        return "none"

    def metrics(self) -> tuple[str, ...]:
        return CLASSIFICATION_METRICS if self.task == "classification" else ()

    def loss(self, x: LossInputs) -> tuple[dict, Any]:
        """``(parts, negative item ids [batch] or None)``; the ids are the per-row negatives
        whose ID rows the L2 regulariser also covers (BPR's convention)."""
        raise NotImplementedError


@register_objective("bpr")
class BPR(Objective):
    """``-log sigmoid(u.pos - u.neg)`` with one negative per row (``negative_sampler``)."""

    parts = ("bpr",)
    hyperparameters = ("num_negatives", "reject_positives", "negatives", "negative_sampler",
                       "reg_weight")

    def negatives(self, cfg):
        return "per_row"

    def loss(self, x):
        neg = sample_items(x.key, x.graph, x.users, 1, x.cfg, x.warm)[:, 0]
        return {"bpr": losses.bpr_loss(x.u, x.pos, x.item_emb[neg], x.mask)}, neg


@register_objective("softmax")
class SampledSoftmax(Objective):
    """Sampled softmax / InfoNCE at ``temperature``: per-row negatives, or one set shared by
    the batch (a ``[batch, k]`` matmul instead of a ``[batch, k, dim]`` gather), plus the
    batch's other positives with ``in_batch_negatives``. Negatives come from
    ``negative_sampler`` (``uniform`` or ``popularity``).

    ``logq_correction`` subtracts ``log(k Q(item))`` from each of the k drawn negatives'
    logits (``Q``: the sampler's probability of the item), so the sampled loss estimates the
    full softmax without favouring what is drawn often; the target logit is not corrected.
    In-batch columns (the batch's positives, drawn in proportion to popularity) take
    ``log(B Q_pop(item))`` (Yi et al., RecSys 2019). Rejected positives make ``Q``
    approximate per row. Drawn negatives that are the user's train positives (or the row's
    own positive) are masked, per row as for the shared set."""

    parts = ("softmax",)
    hyperparameters = ("num_negatives", "shared_negatives", "in_batch_negatives",
                       "temperature", "reject_positives", "negatives", "negative_sampler",
                       "logq_correction", "reg_weight")

    def negatives(self, cfg):
        return "shared" if cfg.shared_negatives else "per_row"

    def loss(self, x):
        cfg, t = x.cfg, x.hp["temperature"]
        if cfg.shared_negatives:
            neg = draw_items(x.key, (cfg.num_negatives,), x.graph, cfg.negative_sampler, x.warm)
            drop = neg[None, :] == x.items[:, None]
            if cfg.reject_positives:
                drop |= is_train_positive(x.graph, x.users[:, None], neg[None, :])
        else:
            neg = sample_items(x.key, x.graph, x.users, cfg.num_negatives, cfg, x.warm)
            # Rejection redraws a few times only: mask what still hits a positive (likely
            # under the popularity sampler, whose draws favour the items users have).
            drop = neg == x.items[:, None]
            if cfg.reject_positives:
                drop |= is_train_positive(x.graph, x.users[:, None], neg)
        logq = {}
        if cfg.logq_correction:
            log_q = sampling_log_prob(x.graph, cfg.negative_sampler, x.warm)
            real = jnp.maximum(jnp.sum(x.mask.astype(jnp.float32)), 1.0)
            log_pop = sampling_log_prob(x.graph, "popularity", x.warm)
            logq = {"neg_logq": log_q[neg] + jnp.log(float(cfg.num_negatives)),
                    "batch_logq": log_pop[x.items] + jnp.log(real)}
        value = losses.softmax_loss(x.u, x.pos, x.item_emb[neg], x.mask, t,
                                    cfg.in_batch_negatives, x.items, neg_mask=drop, **logq)
        return {"softmax": value}, None if cfg.shared_negatives else neg[:, 0]


@register_objective("full_softmax")
class FullSoftmax(Objective):
    """Softmax over the whole catalogue at ``temperature``: every item is a negative except
    the row's own positive (the target) and, with ``reject_positives``, the user's other train
    positives; warm-only negatives leave out the items without train edges. Exact where the
    sampled softmax estimates, at the cost of a ``[batch, num_items]`` score matrix."""

    parts = ("softmax",)
    hyperparameters = ("temperature", "reject_positives", "negatives", "reg_weight")

    def loss(self, x):
        catalogue = jnp.arange(x.graph.num_items)
        drop = catalogue[None, :] == x.items[:, None]
        if x.cfg.reject_positives:
            drop |= is_train_positive(x.graph, x.users[:, None], catalogue[None, :])
        if x.warm:
            drop |= (item_popularity(x.graph) <= 0)[None, :]
        value = losses.softmax_loss(x.u, x.pos, x.item_emb, x.mask, x.hp["temperature"],
                                    neg_mask=drop)
        return {"softmax": value}, None


@register_objective("directau")
class DirectAU(Objective):
    """DirectAU (Wang et al., KDD 2022): alignment of normalised positive pairs plus
    ``uniformity_weight`` x the mean of the users' and items' uniformity; no negatives."""

    parts = ("align", "uniform")
    hyperparameters = ("uniformity_weight", "reg_weight")

    def loss(self, x):
        gamma = x.cfg.uniformity_weight
        uniform = (losses.uniformity_loss(x.u, x.mask)
                   + losses.uniformity_loss(x.pos, x.mask)) / 2
        return {"align": losses.alignment_loss(x.u, x.pos, x.mask),
                "uniform": gamma * uniform}, None


@register_objective("bce")
class RatingBCE(Objective):
    """Rating classification: does the user like the item (rating >= ``like_threshold``);
    binary cross-entropy of ``u.i + offset``. Evaluated with AUC, accuracy and log-loss too."""

    task = "classification"
    parts = ("bce",)
    hyperparameters = ("like_threshold", "reg_weight", "select_metric")

    def loss(self, x):
        logits = jnp.sum(x.u * x.pos, -1) + x.offset
        return {"bce": losses.bce_loss(logits, x.labels, x.mask)}, None


__all__ = ["CLASSIFICATION_METRICS", "OBJECTIVES", "LossInputs", "Objective", "get_objective",
           "register_objective"]
