"""Plain numpy forward passes straight from a Hugging Face state dict, written independently of
recjax's Flax encoder, to check it against."""

from __future__ import annotations

import numpy as np


def roberta_position_ids(input_ids: np.ndarray, padding_idx: int) -> np.ndarray:
    """Hugging Face's ``create_position_ids_from_input_ids``: real tokens count from
    ``padding_idx + 1``, padding tokens get ``padding_idx``."""
    mask = (input_ids != padding_idx).astype(np.int64)
    return np.cumsum(mask, axis=-1) * mask + padding_idx


def numpy_bert(sd, ids, eps=1e-12, heads=4, position_ids=None, pooling="mean"):
    """BERT (and RoBERTa, given its ``position_ids``) on one unpadded text: the sentence vector,
    mean- or first-token-pooled and L2-normalised."""
    from scipy.special import erf

    def ln(x, p):
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * sd[p + ".weight"] + sd[p + ".bias"]

    lin = lambda x, p: x @ sd[p + ".weight"].T + sd[p + ".bias"]
    ids = np.asarray(ids)
    n = len(ids)
    if position_ids is None:
        position_ids = np.arange(n)
    x = (sd["embeddings.word_embeddings.weight"][ids]
         + sd["embeddings.position_embeddings.weight"][position_ids]
         + sd["embeddings.token_type_embeddings.weight"][0])
    x = ln(x, "embeddings.LayerNorm")
    d = x.shape[-1]
    hd = d // heads
    i = 0
    while f"encoder.layer.{i}.output.dense.weight" in sd:
        p = f"encoder.layer.{i}."
        q, k, v = (lin(x, p + f"attention.self.{m}").reshape(n, heads, hd).transpose(1, 0, 2)
                   for m in ("query", "key", "value"))
        a = q @ k.transpose(0, 2, 1) / np.sqrt(hd)
        a = np.exp(a - a.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        ctx = (a @ v).transpose(1, 0, 2).reshape(n, d)
        x = ln(x + lin(ctx, p + "attention.output.dense"), p + "attention.output.LayerNorm")
        h = lin(x, p + "intermediate.dense")
        h = 0.5 * h * (1 + erf(h / np.sqrt(2)))
        x = ln(x + lin(h, p + "output.dense"), p + "output.LayerNorm")
        i += 1
    v = x.mean(0) if pooling == "mean" else x[0]
    return v / np.linalg.norm(v)


def numpy_roberta(sd, ids, padding_idx, eps=1e-5, heads=4, pooling="mean"):
    """RoBERTa / XLM-R: BERT's layers with positions offset by the padding index."""
    ids = np.asarray(ids)
    return numpy_bert(sd, ids, eps, heads, roberta_position_ids(ids, padding_idx), pooling)
