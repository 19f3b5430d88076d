"""Towers that make the layer-0 node inputs: ID embeddings (``id``) and projected frozen text
vectors (``text``), and their fusion. Submodule names are part of the parameter-path API."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class Features:
    """Frozen per-node side vectors: ``item_text [num_items, text_dim]`` and ``user_text
    [num_users, text_dim]`` (either may be None)."""

    item_text: jnp.ndarray | None = None
    user_text: jnp.ndarray | None = None


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


class TextTower(nn.Module):
    """Projects frozen LM vectors into the model space. One projection is shared by users and
    items, so a user's own text and item texts land in the same space (what lets a new user
    be embedded from text alone)."""

    dim: int
    hidden: int = 0

    @nn.compact
    def __call__(self, text):
        x = text.astype(jnp.float32)
        if self.hidden:
            x = jax.nn.gelu(nn.Dense(self.hidden, name="hidden")(x))
        return nn.Dense(self.dim, name="out")(x)


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
