"""Losses over a batch of (user, positive item) rows with a row mask for the ragged tail.

Every loss is a masked mean over real rows, so padded rows change nothing (tested).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def masked_mean(x, mask):
    mask = mask.astype(x.dtype)
    return jnp.sum(x * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def bpr_loss(u, pos, neg, mask):
    """``-log sigmoid(u.pos - u.neg)``; ``u, pos: [batch, dim]``, ``neg: [batch, dim]``."""
    diff = jnp.sum(u * pos, -1) - jnp.sum(u * neg, -1)
    return masked_mean(-jax.nn.log_sigmoid(diff), mask)


def l2_reg(mask, *embeddings):
    """LightGCN's regulariser: ``sum ||e||^2 / 2`` over the batch rows, per real row."""
    m = mask.astype(jnp.float32)[:, None]
    total = sum(jnp.sum((e * m) ** 2) for e in embeddings)
    return 0.5 * total / jnp.maximum(jnp.sum(m), 1.0)


def softmax_loss(u, pos, negs, mask, temperature: float, in_batch: bool = False, items=None,
                 neg_mask=None):
    """Sampled softmax / InfoNCE: the positive against ``negs`` — per row ``[batch, k, dim]``
    or shared by the batch ``[k, dim]`` — and, with ``in_batch``, against the other rows'
    positives (rows sharing the positive item are not counted as negatives). ``neg_mask
    [batch, k]`` drops negatives (e.g. the user's own positives). Scores are divided by
    ``temperature``."""
    s_pos = jnp.sum(u * pos, -1, keepdims=True)
    s_neg = jnp.einsum("bd,bkd->bk", u, negs) if negs.ndim == 3 else u @ negs.T
    if neg_mask is not None:
        s_neg = jnp.where(neg_mask, -jnp.inf, s_neg)
    logits = [s_pos, s_neg]
    if in_batch:
        s_batch = u @ pos.T
        same = (items[:, None] == items[None, :]) | ~mask.astype(bool)[None, :]
        logits.append(jnp.where(same, -jnp.inf, s_batch))
    logits = jnp.concatenate(logits, axis=1) / temperature
    return masked_mean(jax.nn.logsumexp(logits, axis=1) - logits[:, 0], mask)


def bce_loss(logits, labels, mask):
    """Binary cross-entropy with logits."""
    return masked_mean(jnp.logaddexp(0.0, logits) - labels * logits, mask)
