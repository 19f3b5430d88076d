"""Token-level inputs of the end-to-end text tower: every node text's hidden states below the
trainable layers, computed once with the pretrained BERT and cached on disk.

The tower (:class:`recjax.models.towers.TextTower` with an encoder) runs only the top
``layers`` transformer layers inside the model; the embeddings and the layers below them are
frozen, so their output is a constant of training: :func:`token_states` computes it once
(keyed like the vector cache of :mod:`recjax.text.cache`, plus the cut) and the train step
reads it as data. Texts are packed several to a row with :func:`recjax.text.encode.pack_rows`
and :func:`recjax.text.encode._assemble`, as the frozen encoder packs them, but into rows of
one width (the smallest pack width that holds the longest text), so the rows form one array
``[rows, width, dim]`` and a random subset of rows has a static shape.

Text ids: items ``[0, num_items)``, then users ``[num_items, num_items + num_users)`` when
the dataset has user texts (``num_users = 0`` otherwise).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from recjax.text import cache as text_cache
from recjax.text.bert import BertConfig, encode_layers, segment_attention_mask
from recjax.text.encode import _assemble, encode_settings, load_encoder, pack_rows

LAYOUT_VERSION = 1


@struct.dataclass
class TokenStates:
    """The cached lower part of the text encoder, for every node text.

    hidden: float32 ``[rows, width, dim]``, the output of layer ``cut - 1`` (the embeddings
      when ``cut == 0``); positions, segments: int32 ``[rows, width]`` (segment 0 is padding);
      text_ids: int32 ``[rows, slots]``, the text in each slot of a row (-1: none).
    top_params: the pretrained weights of layers ``[cut, num_hidden_layers)``
      (``{"layer_<i>": ...}``), used only to initialise the model's copy.
    """

    hidden: jnp.ndarray
    positions: jnp.ndarray
    segments: jnp.ndarray
    text_ids: jnp.ndarray
    top_params: dict
    config: BertConfig = struct.field(pytree_node=False)
    cut: int = struct.field(pytree_node=False)
    num_items: int = struct.field(pytree_node=False)
    num_users: int = struct.field(pytree_node=False)
    pooling: str = struct.field(pytree_node=False, default="mean")
    normalize: bool = struct.field(pytree_node=False, default=True)
    dtype: str = struct.field(pytree_node=False, default="float32")

    @property
    def num_rows(self) -> int:
        return self.hidden.shape[0]

    @property
    def num_texts(self) -> int:
        return self.num_items + self.num_users

    @property
    def layers(self) -> int:
        """Transformer layers above the cache (run, and trained or adapted, in the model)."""
        return self.config.num_hidden_layers - self.cut

    @property
    def lower_parameter_count(self) -> int:
        """Parameters of the embeddings and layers below the cut: frozen, used only to build
        ``hidden`` (and to encode new texts at serving)."""
        c = self.config
        d, ff = c.hidden_size, c.intermediate_size
        embeddings = (c.vocab_size + c.max_position_embeddings + c.type_vocab_size + 2) * d
        layer = 4 * (d * d + d) + 2 * d + (d * ff + ff) + (ff * d + d) + 2 * d
        return embeddings + self.cut * layer


def pack_width(lengths: np.ndarray, widths: Sequence[int], max_length: int) -> int:
    """The smallest of ``widths`` (capped at ``max_length``) that holds the longest text."""
    options = sorted({min(w, max_length) for w in widths} | {max_length})
    top = int(lengths.max(initial=1))
    return next(w for w in options if w >= top)


def token_states(texts: Sequence[str], num_items: int, checkpoint, layers: int, *,
                 pooling: str = "mean", normalize: bool = True, dtype: str = "float32",
                 max_length: int | None = None, pack_widths: Sequence[int] = (64, 128, 256),
                 batch_tokens: int = 1024, template: str = "",
                 cache: bool | str | Path = True) -> TokenStates:
    """:class:`TokenStates` of ``texts`` (items first, ``num_items`` of them, then users)
    with the top ``layers`` layers of ``checkpoint`` left to the model.

    The hidden states are cached under a key of the texts, every setting that changes them
    (checkpoint fingerprint, max length, dtype, template, cut, width) and the layout version;
    tokens, positions, segments and text ids are recomputed (cheap and deterministic).
    """
    texts = list(texts)
    enc = load_encoder(None if checkpoint is None else str(checkpoint), dtype, max_length,
                       pooling, normalize)
    config = enc.config
    if not 0 <= layers <= config.num_hidden_layers:
        raise ValueError(f"model.text_layers={layers}: the checkpoint has "
                         f"{config.num_hidden_layers} layers (use 0 to "
                         f"{config.num_hidden_layers})")
    cut = config.num_hidden_layers - layers
    ids = enc.tokenizer(texts).ids
    lengths = np.array([len(x) for x in ids])
    width = pack_width(lengths, pack_widths, enc.tokenizer.max_length)
    rows = pack_rows(lengths, np.arange(len(ids)), [width])[width]
    slots = max(len(r) for r in rows)
    text_ids, x, pos, seg, _ = _assemble(rows, ids, len(rows), width, slots,
                                         enc.tokenizer.pad_id)
    settings = {**encode_settings(enc.fingerprint, enc.tokenizer.max_length, pooling,
                                  normalize, dtype, template),
                "token_states": {"cut": cut, "width": width, "layout": LAYOUT_VERSION}}
    hidden = _cached_hidden(enc, texts, settings, cache, x, pos, seg, cut, batch_tokens)
    top = {f"layer_{i}": enc.params["params"][f"layer_{i}"]
           for i in range(cut, config.num_hidden_layers)}
    return TokenStates(jnp.asarray(hidden), jnp.asarray(pos), jnp.asarray(seg),
                       jnp.asarray(text_ids.astype(np.int32)), top, config, cut, num_items,
                       len(texts) - num_items, pooling, normalize, dtype)


def _cached_hidden(enc, texts, settings, cache, x, pos, seg, cut, batch_tokens) -> np.ndarray:
    rows, width = x.shape
    dim = enc.config.hidden_size
    cache_dir = (None if cache is False else
                 text_cache.default_cache_dir() if cache is True else Path(cache))
    if cache_dir is None:
        return lower_hidden(enc, x, pos, seg, cut, batch_tokens)
    key = text_cache.cache_key(texts, **settings)
    with text_cache.entry_lock(cache_dir, key):
        hit = text_cache.load(cache_dir, key, rows * width)
        if hit is not None:
            return hit.reshape(rows, width, dim)
        t0 = time.perf_counter()
        hidden = lower_hidden(enc, x, pos, seg, cut, batch_tokens)
        text_cache.store(cache_dir, key, hidden.reshape(rows * width, dim), **settings,
                         checkpoint_dir=str(enc.directory), seconds=time.perf_counter() - t0)
    return hidden


def lower_hidden(enc, ids, positions, segments, cut: int, batch_tokens: int = 1024
                 ) -> np.ndarray:
    """float32 ``[rows, width, dim]``: the pretrained encoder ``enc``
    (:class:`recjax.text.encode.TextEncoder`) up to layer ``cut - 1`` on packed rows."""
    rows, width = ids.shape
    per_batch = max(batch_tokens // width, 1)

    @jax.jit
    def run(params, x, p, s):
        h = encode_layers(enc.config, params, x, segment_attention_mask(s), 0, cut,
                          position_ids=p, dtype=enc.module.dtype)
        return h.astype(jnp.float32)

    out = np.zeros((rows, width, enc.config.hidden_size), np.float32)
    for start in range(0, rows, per_batch):
        stop = min(start + per_batch, rows)
        pad = per_batch - (stop - start)  # one compiled shape: the last batch is padded
        x, p, s = (np.pad(a[start:stop], ((0, pad), (0, 0))) for a in (ids, positions, segments))
        out[start:stop] = np.asarray(run(enc.params, x, p, s))[: stop - start]
    return out


def new_token_states(like: TokenStates, texts: Sequence[str], checkpoint,
                     max_length: int | None = None, pack_widths: Sequence[int] = (64, 128, 256),
                     ) -> TokenStates:
    """States of texts the model never saw (new users or items at serving), with ``like``'s
    cut and settings, not cached: all of them count as items (``num_users = 0``)."""
    return token_states(texts, len(texts), checkpoint, like.layers, pooling=like.pooling,
                        normalize=like.normalize, dtype=like.dtype, max_length=max_length,
                        pack_widths=pack_widths, cache=False)
