"""A BERT encoder in Flax Linen, parameter-compatible with Hugging Face BERT checkpoints.

transformers 5 ships no Flax models, so this is our own. Submodule names mirror the Hugging
Face state-dict names (``embeddings/word_embeddings``, ``layer_0/attention/query`` ...) so
:mod:`recjax.text.weights` maps a checkpoint by renaming (and transposing Dense kernels).

Shapes: ``input_ids``: int32 ``[batch, seq]``; ``attention_mask``: ``[batch, seq]`` (which
tokens are real) or ``[batch, seq, seq]`` (which query may attend to which key: block-diagonal
for several texts packed into one row, see :func:`segment_attention_mask`); hidden states
``[batch, seq, dim]``; pooled output ``[batch, dim]`` or ``[batch, slots, dim]`` when packed.

Checkpoint families (``model_type`` in ``config.json``, see :data:`MODEL_TYPES`): BERT, and
RoBERTa / XLM-RoBERTa (xlm-roberta-*, paraphrase-multilingual-mpnet, multilingual-e5-base),
whose layers are BERT's but whose position ids start after the padding index. (Multilingual
MiniLMs such as multilingual-e5-small are ``bert`` with an XLM-R tokenizer: BERT positions.)
``position_ids`` given to the encoder always count from 0 within each text; the embedding adds
the family's offset, so packed segments and ordinary rows get the same positions.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS = {
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),  # HF "gelu" is the exact erf form
    "gelu_new": lambda x: jax.nn.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: jax.nn.gelu(x, approximate=True),
    "gelu_fast": lambda x: jax.nn.gelu(x, approximate=True),
    "relu": jax.nn.relu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
}


# model_type -> whether position ids are offset by the padding index. Hugging Face's RoBERTa
# (create_position_ids_from_input_ids) numbers real tokens pad_token_id + 1, + 2, ... so with
# pad_token_id 1 the first token reads row 2 of the position table.
MODEL_TYPES = {"bert": False, "roberta": True, "xlm-roberta": True}
# Defaults of the Hugging Face config classes that differ from BERT's, for config.json files
# that leave them out.
FAMILY_DEFAULTS = {"roberta": {"pad_token_id": 1}, "xlm-roberta": {"pad_token_id": 1}}


@dataclass(frozen=True)
class BertConfig:
    """The fields of a Hugging Face ``config.json`` that the encoder uses."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    hidden_act: str = "gelu"
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    model_type: str = "bert"

    def __post_init__(self):
        if self.model_type not in MODEL_TYPES:
            raise ValueError(f"model_type {self.model_type!r} is not supported; supported: "
                             f"{sorted(MODEL_TYPES)}")
        if self.max_positions < 1:
            raise ValueError(f"max_position_embeddings {self.max_position_embeddings} leaves "
                             f"no position after the offset {self.position_offset}")
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"hidden_act {self.hidden_act!r} is not supported; "
                             f"supported: {sorted(ACTIVATIONS)}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by "
                             f"num_attention_heads {self.num_attention_heads}")

    @property
    def position_offset(self) -> int:
        """Row of the position table that a text's first token reads."""
        return self.pad_token_id + 1 if MODEL_TYPES[self.model_type] else 0

    @property
    def max_positions(self) -> int:
        """The most tokens one text may have (RoBERTa's 514 rows leave 512)."""
        return self.max_position_embeddings - self.position_offset

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> BertConfig:
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no such file (a checkpoint needs config.json)"
                                    ) from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        model_type = raw.get("model_type", "bert")
        if model_type not in MODEL_TYPES:
            # Other families differ in ways that still load (DistilBERT renames every weight,
            # DeBERTa adds relative attention): refuse rather than produce wrong vectors.
            raise ValueError(f"{path}: model_type {model_type!r} is not supported; recjax's "
                             f"encoder implements model_type {sorted(MODEL_TYPES)} (BERT, "
                             f"MiniLM, Chinese and multilingual BERT; RoBERTa, XLM-R, "
                             f"multilingual-e5, paraphrase-multilingual)")
        if raw.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{path}: position_embedding_type "
                             f"{raw['position_embedding_type']!r} is not supported")
        names = {f.name for f in fields(cls)}
        values = {**FAMILY_DEFAULTS.get(model_type, {}), **raw, "model_type": model_type}
        try:
            return cls(**{k: v for k, v in values.items() if k in names})
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None


class BertEmbeddings(nn.Module):
    config: BertConfig
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, input_ids, token_type_ids, position_ids):
        c = self.config
        embed = lambda n, name: nn.Embed(n, c.hidden_size, dtype=self.dtype, name=name)
        x = (embed(c.vocab_size, "word_embeddings")(input_ids)
             + embed(c.max_position_embeddings, "position_embeddings")(
                 position_ids + c.position_offset)
             + embed(c.type_vocab_size, "token_type_embeddings")(token_type_ids))
        return nn.LayerNorm(c.layer_norm_eps, dtype=self.dtype, name="LayerNorm")(x)


class LoraDense(nn.Module):
    """``x @ kernel + bias + (alpha / rank) * (x @ lora_a) @ lora_b``: a Dense layer (same
    ``kernel``/``bias`` names, so pretrained weights load into it) plus a rank-``rank``
    adapter (Hu et al. 2021). ``lora_b`` starts at zero, so the layer starts as the base."""

    features: int
    rank: int
    alpha: float
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        d_in = x.shape[-1]
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (d_in, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        # torch's kaiming_uniform(a=sqrt(5)) on A, as PEFT does: U(-1/sqrt(d_in), 1/sqrt(d_in)).
        a = self.param("lora_a", nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform"),
                       (d_in, self.rank))
        b = self.param("lora_b", nn.initializers.zeros, (self.rank, self.features))
        x, kernel, bias, a, b = nn.dtypes.promote_dtype(x, kernel, bias, a, b, dtype=self.dtype)
        return x @ kernel + bias + (x @ a) @ b * (self.alpha / self.rank)


def dense_layer(lora_rank: int, lora_alpha: float):
    """The Dense class of a BERT layer: ``nn.Dense``, or :class:`LoraDense` at a rank > 0."""
    if not lora_rank:
        return nn.Dense
    return lambda features, dtype, name: LoraDense(features, lora_rank, lora_alpha, dtype,
                                                   name=name)


class BertAttention(nn.Module):
    """Multi-head self-attention with the residual LayerNorm (HF ``attention.*``); with
    ``lora_rank > 0`` every projection carries a LoRA adapter (:class:`LoraDense`)."""

    config: BertConfig
    dtype: jnp.dtype = jnp.float32
    lora_rank: int = 0
    lora_alpha: float = 1.0

    @nn.compact
    def __call__(self, x, attention_mask):
        c = self.config
        heads, head_dim = c.num_attention_heads, c.hidden_size // c.num_attention_heads
        dense = dense_layer(self.lora_rank, self.lora_alpha)

        def project(name):
            t = dense(c.hidden_size, dtype=self.dtype, name=name)(x)
            return t.reshape(*t.shape[:-1], heads, head_dim)

        # Padded keys are masked out; padded queries still compute (pooling ignores them),
        # which keeps every shape static.
        mask = attention_mask.astype(bool)
        mask = mask[:, None, None, :] if mask.ndim == 2 else mask[:, None, :, :]
        ctx = jax.nn.dot_product_attention(project("query"), project("key"), project("value"),
                                           mask=mask)
        ctx = ctx.reshape(*ctx.shape[:-2], c.hidden_size)
        out = dense(c.hidden_size, dtype=self.dtype, name="output")(ctx)
        return nn.LayerNorm(c.layer_norm_eps, dtype=self.dtype, name="LayerNorm")(x + out)


class BertLayer(nn.Module):
    """One transformer layer; ``lora_rank > 0`` adds adapters to its attention and FFN."""

    config: BertConfig
    dtype: jnp.dtype = jnp.float32
    lora_rank: int = 0
    lora_alpha: float = 1.0

    @nn.compact
    def __call__(self, x, attention_mask):
        c = self.config
        dense = dense_layer(self.lora_rank, self.lora_alpha)
        x = BertAttention(c, self.dtype, self.lora_rank, self.lora_alpha, name="attention")(
            x, attention_mask)
        h = dense(c.intermediate_size, dtype=self.dtype, name="intermediate")(x)
        h = dense(c.hidden_size, dtype=self.dtype, name="output")(ACTIVATIONS[c.hidden_act](h))
        return nn.LayerNorm(c.layer_norm_eps, dtype=self.dtype, name="output_LayerNorm")(x + h)


class BertLayers(nn.Module):
    """Layers ``[start, config.num_hidden_layers)`` on given hidden states (the top of a BERT
    whose lower part is cached), each named ``layer_<i>`` as in :class:`BertEncoder`, so
    pretrained weights copy over by path. ``remat`` recomputes each layer's activations in
    the backward pass (``jax.checkpoint``) instead of storing them."""

    config: BertConfig
    start: int
    dtype: jnp.dtype = jnp.float32
    lora_rank: int = 0
    lora_alpha: float = 1.0
    remat: bool = False

    @nn.compact
    def __call__(self, x, attention_mask):
        layer = nn.remat(BertLayer) if self.remat else BertLayer
        for i in range(self.start, self.config.num_hidden_layers):
            x = layer(self.config, self.dtype, self.lora_rank, self.lora_alpha,
                      name=f"layer_{i}")(x, attention_mask)
        return x


class BertEncoder(nn.Module):
    """Token ids -> last hidden states ``[batch, seq, dim]``.

    ``position_ids`` count from 0 within each text (default: ``arange(seq)`` per row); the
    checkpoint's :attr:`BertConfig.position_offset` is added in the embedding.
    """

    config: BertConfig
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, input_ids, attention_mask, token_type_ids=None, position_ids=None):
        if token_type_ids is None:
            token_type_ids = jnp.zeros_like(input_ids)
        if position_ids is None:
            position_ids = jnp.broadcast_to(jnp.arange(input_ids.shape[-1]), input_ids.shape)
        x = BertEmbeddings(self.config, self.dtype, name="embeddings")(
            input_ids, token_type_ids, position_ids)
        for i in range(self.config.num_hidden_layers):
            x = BertLayer(self.config, self.dtype, name=f"layer_{i}")(x, attention_mask)
        return x


def segment_attention_mask(segment_ids):
    """``[batch, seq, seq]``: tokens attend within their own segment; 0 marks padding."""
    same = segment_ids[:, :, None] == segment_ids[:, None, :]
    return same & (segment_ids[:, None, :] > 0)


def pool_segments(hidden, segment_ids, position_ids, num_slots: int, mode: str = "mean",
                  normalize: bool = True, logits=None):
    """Per-segment sentence vectors ``[batch, num_slots, dim]`` in float32.

    Segment ``s`` (1-based) of row ``b`` lands in slot ``s - 1``. ``mean`` averages the
    segment's tokens; ``cls`` takes its first token (position 0). Empty slots give zeros, not
    NaN. An ordinary padded batch is the case ``segment_ids = attention_mask``, one slot.
    With ``logits`` ``[batch, seq]`` (mean mode), tokens are weighted by their softmax within
    the segment (attention pooling); all-equal logits give exactly the mean.
    """
    if mode not in ("mean", "cls"):
        raise ValueError(f"pooling {mode!r} is unknown; use 'mean' or 'cls'")
    hidden = hidden.astype(jnp.float32)
    onehot = (segment_ids[..., None] == jnp.arange(1, num_slots + 1)).astype(jnp.float32)
    if mode == "cls":
        onehot = onehot * (position_ids == 0)[..., None]
    if logits is not None:
        if mode != "mean":
            raise ValueError("attention pooling (logits) weights a segment's tokens; it "
                             "needs mode='mean'")
        # Softmax within each segment; subtracting the segment's own maximum (a constant per
        # segment) keeps exp finite and changes no weight. (The row's maximum would underflow
        # a whole segment whose logits sit ~100 below another segment's.)
        logits = logits.astype(jnp.float32)
        seg_max = jnp.max(jnp.where(onehot > 0, logits[..., None], -jnp.inf), axis=1)
        seg_max = jnp.where(jnp.isfinite(seg_max), seg_max, 0.0)
        shift = jax.lax.stop_gradient(jnp.einsum("bts,bs->bt", onehot, seg_max))
        onehot = onehot * jnp.exp(jnp.where(segment_ids > 0, logits - shift, 0.0))[..., None]
        sums = jnp.einsum("bts,btd->bsd", onehot, hidden)
        total = onehot.sum(axis=1)
        out = sums / jnp.where(total > 0, total, 1.0)[..., None]
    else:
        sums = jnp.einsum("bts,btd->bsd", onehot, hidden)
        out = sums / jnp.maximum(onehot.sum(axis=1), 1.0)[..., None]
    if normalize:
        # Empty slots (all zero) take the norm of ones instead: the norm's gradient at zero is
        # NaN, which would poison a trained encoder. Filled slots are unchanged.
        filled = (onehot.sum(axis=1) > 0)[..., None]
        norm = jnp.linalg.norm(jnp.where(filled, out, 1.0), axis=-1, keepdims=True)
        out = out / jnp.maximum(norm, 1e-12)
    return out


def pool(hidden, attention_mask, mode: str = "mean", normalize: bool = True):
    """Sentence vectors ``[batch, dim]`` of an ordinary padded batch (see :func:`pool_segments`)."""
    mask = attention_mask.astype(jnp.int32)
    positions = jnp.broadcast_to(jnp.arange(mask.shape[-1]), mask.shape)
    return pool_segments(hidden, mask, positions, 1, mode, normalize)[:, 0]


def encode_layers(config: BertConfig, params, hidden_or_ids, attention_mask, start: int,
                  stop: int, position_ids=None, dtype=jnp.float32):
    """Run layers ``[start, stop)`` of a BERT with ``params`` (a :class:`BertEncoder`'s
    ``{"params": ...}``): from token ids through the embeddings when ``start == 0``, else
    from the hidden states ``[batch, seq, dim]`` that layer ``start - 1`` produced. What the
    end-to-end text tower caches below its trainable layers (:mod:`recjax.text.tokens`)."""
    p = params["params"]
    x = hidden_or_ids
    if start == 0:
        if position_ids is None:
            position_ids = jnp.broadcast_to(jnp.arange(x.shape[-1]), x.shape)
        x = BertEmbeddings(config, dtype).apply({"params": p["embeddings"]}, x,
                                                 jnp.zeros_like(x), position_ids)
    for i in range(start, stop):
        x = BertLayer(config, dtype).apply({"params": p[f"layer_{i}"]}, x, attention_mask)
    return x
