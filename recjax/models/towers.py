"""Towers that make the layer-0 node inputs: ID embeddings (``id``) and projected text
vectors (``text``), and their fusion. Submodule names are part of the parameter-path API.

The text tower either projects given (frozen, cached) LM vectors, or holds the top of the
BERT itself (end to end, ``model.text_tower`` ``top_k`` or ``lora``): from the cached hidden
states below its layers (:class:`recjax.text.tokens.TokenStates`) it runs ``text/encoder``
(the top ``text_layers`` BERT layers, trained, or frozen with LoRA adapters), pools each text
(``text/pool``: attention pooling whose zero-initialised query starts as the mean pooling of
the frozen encoder) and normalises as the frozen encoder does, then projects (``text/out``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from recjax.text.bert import BertLayers, pool_segments, segment_attention_mask

TEXT_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@struct.dataclass
class Features:
    """Per-node side inputs: ``item_text [num_items, text_dim]`` and ``user_text [num_users,
    text_dim]`` frozen LM vectors (either may be None), or, for an end-to-end text tower,
    ``text_tokens`` (:class:`recjax.text.tokens.TokenStates`) that the model encodes itself."""

    item_text: jnp.ndarray | None = None
    user_text: jnp.ndarray | None = None
    text_tokens: Any = None


def embedding_init(kind: str, std: float):
    """``normal(std)``, or ``xavier_uniform`` / ``xavier_normal`` per table (variance
    ``2 / (rows + dim)``, as torch's ``xavier_*_`` on an ``[rows, dim]`` embedding: RecBole's
    choice, uniform for its graph models, normal for BPR-MF and NGCF)."""
    if kind == "xavier_uniform":
        return nn.initializers.xavier_uniform(in_axis=-1, out_axis=-2)
    if kind == "xavier_normal":
        return nn.initializers.xavier_normal(in_axis=-1, out_axis=-2)
    return nn.initializers.normal(std)


class IdTower(nn.Module):
    """Free embeddings per user and item (``id/user``, ``id/item``)."""

    num_users: int
    num_items: int
    dim: int
    init_std: float = 0.05
    init: str = "normal"

    @nn.compact
    def __call__(self):
        init = embedding_init(self.init, self.init_std)
        user = nn.Embed(self.num_users, self.dim, embedding_init=init, name="user").embedding
        item = nn.Embed(self.num_items, self.dim, embedding_init=init, name="item").embedding
        return user, item


@dataclass(frozen=True)
class EncoderSettings:
    """How the text tower holds the BERT: ``mode`` ``top_k`` (its top ``layers`` layers and
    the pooling trained) or ``lora`` (those layers frozen, rank-``lora_rank`` adapters on
    their attention and FFN trained, scaled ``lora_alpha / lora_rank``). ``refresh_rows``:
    in training, re-encode only that many random packed rows per step and read the other
    texts from the memory bank (``text_bank``); None re-encodes every text every step (exact).
    ``remat``: recompute layer activations in the backward pass (``jax.checkpoint``)."""

    mode: str
    layers: int
    lora_rank: int = 8
    lora_alpha: float = 16.0
    refresh_rows: int | None = None
    remat: bool = False


class AttentionPool(nn.Module):
    """One logit per token, ``h . query / sqrt(dim)``; the query starts at zero (uniform
    weights: the mean pooling of the frozen encoder)."""

    @nn.compact
    def __call__(self, hidden):
        query = self.param("query", nn.initializers.zeros, (hidden.shape[-1],))
        return hidden.astype(jnp.float32) @ query / jnp.sqrt(hidden.shape[-1])


class TextTower(nn.Module):
    """Projects LM vectors into the model space. One projection is shared by users and items,
    so a user's own text and item texts land in the same space (what lets a new user be
    embedded from text alone). With ``encoder`` settings the tower also encodes texts from
    cached token states (``tokens=``, see the module docstring): it returns the LM vectors
    ``[num_texts, text_dim]`` of every text (item ids first, then users), unprojected."""

    dim: int
    hidden: int = 0
    encoder: EncoderSettings | None = None

    @nn.compact
    def __call__(self, text, tokens=None, train: bool = False, write_bank: bool = False):
        if tokens is not None:
            return self._encode(tokens, train, write_bank)
        x = text.astype(jnp.float32)
        if self.hidden:
            x = jax.nn.gelu(nn.Dense(self.hidden, name="hidden")(x))
        return nn.Dense(self.dim, name="out")(x)

    def _encode(self, tokens, train: bool, write_bank: bool):
        s = self.encoder
        if s is None:
            raise ValueError("model.text_tower=frozen projects given text vectors; token "
                             "states need text_tower top_k or lora")
        if tokens.layers != s.layers:
            raise ValueError(f"the token states leave {tokens.layers} layer(s) above the "
                             f"cache, model.text_layers={s.layers}: build them with the "
                             f"model's text_layers")
        rank = s.lora_rank if s.mode == "lora" else 0
        layers = BertLayers(tokens.config, tokens.cut, TEXT_DTYPES[tokens.dtype], rank,
                            s.lora_alpha, s.remat, name="encoder")
        pool = AttentionPool(name="pool") if tokens.pooling == "mean" else None
        n, dim = tokens.num_texts, tokens.config.hidden_size

        def encode_rows(rows):
            pick = (lambda a: a) if rows is None else (lambda a: a[rows])
            seg, pos = pick(tokens.segments), pick(tokens.positions)
            h = layers(pick(tokens.hidden), segment_attention_mask(seg))
            pooled = pool_segments(h, seg, pos, tokens.text_ids.shape[1], tokens.pooling,
                                   tokens.normalize, pool(h) if pool is not None else None)
            # Empty slots (-1) go out of range and are dropped: a negative index would wrap.
            ids = pick(tokens.text_ids).reshape(-1)
            return jnp.where(ids >= 0, ids, n), pooled.reshape(-1, dim)

        refresh = s.refresh_rows is not None
        if refresh:
            bank = self.variable("text_bank", "vectors", jnp.zeros, (n, dim), jnp.float32)
        if train and refresh:
            # A random subset without replacement; with refresh_rows >= rows every text is
            # re-encoded, which is the exact path (tested).
            rows = jax.random.permutation(self.make_rng("text"), tokens.num_rows)
            ids, fresh = encode_rows(rows[: min(s.refresh_rows, tokens.num_rows)])
            out = jax.lax.stop_gradient(bank.value).at[ids].set(fresh, mode="drop")
        else:
            ids, fresh = encode_rows(None)
            out = jnp.zeros((n, dim), jnp.float32).at[ids].set(fresh, mode="drop")
        if refresh and (train or write_bank):
            bank.value = jax.lax.stop_gradient(out)
        return out


class Fusion(nn.Module):
    """Combine ID and text inputs: ``add``, ``concat`` (then a linear map) or ``gate``."""

    mode: str
    dim: int

    @nn.compact
    def __call__(self, ids, text):
        if self.mode == "add":
            return ids + text
        both = jnp.concatenate([ids, text], axis=-1)
        if self.mode == "concat":
            return nn.Dense(self.dim, name="mix")(both)
        gate = jax.nn.sigmoid(nn.Dense(self.dim, name="gate")(both))
        return gate * ids + (1 - gate) * text
