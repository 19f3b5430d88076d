"""Losses over a batch of (user, positive item) rows with a row mask for the ragged tail.

Every loss is a masked mean over real rows (uniformity: a log-mean over pairs of real rows),
so padded rows change nothing (tested).
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


def norm_reg(mask, *embeddings):
    """RecBole's ``EmbLoss`` (``require_pow: False``): the sum of each batch table's un-squared
    Frobenius norm ``||E||_F``, per real row. Its gradient is ``E / ||E||_F`` (0 for an
    all-zero table, as torch's subgradient), so it does not grow with the embeddings."""
    m = mask.astype(jnp.float32)[:, None]
    total = sum(jnp.sqrt(jnp.maximum(jnp.sum((e * m) ** 2), 1e-30)) for e in embeddings)
    return total / jnp.maximum(jnp.sum(m), 1.0)


def softmax_loss(u, pos, negs, mask, temperature: float, in_batch: bool = False, items=None,
                 neg_mask=None, neg_logq=None, batch_logq=None):
    """Sampled softmax / InfoNCE: the positive against ``negs`` — per row ``[batch, k, dim]``
    or shared by the batch ``[k, dim]`` (the whole catalogue for the full softmax) — and,
    with ``in_batch``, against the other rows' positives (rows sharing the positive item are
    not counted as negatives). ``neg_mask [batch, k]`` drops negatives (e.g. the user's own
    positives). Scores are divided by ``temperature``.

    Log-Q correction (sampled softmax as an estimate of the full one: Bengio & Senécal; Yi et
    al., 2019 for in-batch items): ``neg_logq`` (shaped as the negatives' scores) is
    ``log(k Q(item))`` of each drawn negative and ``batch_logq [batch]`` ``log(B Q(item))`` of
    each row's positive as an in-batch column; they are subtracted from those logits after the
    temperature. The target logit itself is never corrected."""
    s_pos = jnp.sum(u * pos, -1, keepdims=True) / temperature
    s_neg = (jnp.einsum("bd,bkd->bk", u, negs) if negs.ndim == 3 else u @ negs.T) / temperature
    if neg_logq is not None:
        s_neg = s_neg - neg_logq
    if neg_mask is not None:
        s_neg = jnp.where(neg_mask, -jnp.inf, s_neg)
    logits = [s_pos, s_neg]
    if in_batch:
        s_batch = u @ pos.T / temperature
        if batch_logq is not None:
            s_batch = s_batch - batch_logq[None, :]
        same = (items[:, None] == items[None, :]) | ~mask.astype(bool)[None, :]
        logits.append(jnp.where(same, -jnp.inf, s_batch))
    logits = jnp.concatenate(logits, axis=1)
    return masked_mean(jax.nn.logsumexp(logits, axis=1) - logits[:, 0], mask)


def bce_loss(logits, labels, mask):
    """Binary cross-entropy with logits."""
    return masked_mean(jnp.logaddexp(0.0, logits) - labels * logits, mask)


def first_occurrence(ids, mask):
    """``[batch]`` bool: the first real row of each distinct id (RecBole's ``torch.unique``
    of the batch ids, with static shapes). Masked rows are never counted."""
    ids = jnp.where(mask.astype(bool), ids, -1)
    order = jnp.argsort(ids, stable=True)
    sorted_ids = ids[order]
    first_sorted = jnp.concatenate([jnp.ones(1, bool), sorted_ids[1:] != sorted_ids[:-1]])
    return jnp.zeros_like(first_sorted).at[order].set(first_sorted) & (ids >= 0)


def info_nce(x1, x2, weight, temperature):
    """InfoNCE between two views of the same rows (SimGCL/XSimGCL; SELFRec's ``InfoNCE``):
    rows are L2-normalised, row i of ``x1`` against every row of ``x2``, the positive being
    row i; the mean over rows with ``weight`` (others are neither anchors nor negatives)."""
    x1 = x1 / jnp.maximum(jnp.linalg.norm(x1, axis=-1, keepdims=True), 1e-12)
    x2 = x2 / jnp.maximum(jnp.linalg.norm(x2, axis=-1, keepdims=True), 1e-12)
    w = weight.astype(bool)
    logits = jnp.where(w[None, :], x1 @ x2.T / temperature, -jnp.inf)
    pos = jnp.sum(x1 * x2, -1) / temperature
    per_row = jax.nn.logsumexp(logits, axis=1) - pos
    return masked_mean(jnp.where(w, per_row, 0.0), w)


def alignment_loss(u, pos, mask):
    """DirectAU's alignment: mean ``||f(u) - f(i)||^2`` of normalised positive pairs."""
    u = u / jnp.maximum(jnp.linalg.norm(u, axis=-1, keepdims=True), 1e-12)
    pos = pos / jnp.maximum(jnp.linalg.norm(pos, axis=-1, keepdims=True), 1e-12)
    return masked_mean(jnp.sum((u - pos) ** 2, -1), mask)


def uniformity_loss(x, mask):
    """DirectAU's uniformity: ``log mean exp(-2 ||f(a) - f(b)||^2)`` over the pairs ``a < b``
    of real batch rows (``torch.pdist``'s pairs)."""
    x = x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    sq = jnp.maximum(2.0 - 2.0 * (x @ x.T), 0.0)
    m = mask.astype(bool)
    n = x.shape[0]
    pairs = m[:, None] & m[None, :] & (jnp.arange(n)[:, None] < jnp.arange(n)[None, :])
    count = jnp.maximum(jnp.sum(pairs), 1)
    log_terms = jnp.where(pairs, -2.0 * sq, -jnp.inf)
    return jax.nn.logsumexp(log_terms) - jnp.log(count.astype(jnp.float32))
