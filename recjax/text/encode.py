"""Batched, jit-compiled, cached text encoding: ``encode_texts(texts) -> float32 [n, dim]``.

Texts are tokenized once and sorted by length. Every batch has a fixed shape ``[rows, width]``
with ``rows = batch_tokens // width``, so XLA compiles one program per width and never sees a
ragged shape; a short last batch is filled with empty rows whose outputs are discarded.

Two layouts, chosen by ``packing`` (measured in ``benchmarks/text_encode.py``):

* packed (default): texts are packed several to a row of one of a few widths (64/128/256),
  each a segment with its own positions and a block-diagonal attention mask, pooled per
  segment. Almost no compute goes to padding, which is what bounds a CPU (short item titles
  would otherwise be padded to 1.5x their length on average).
* bucketed: one text per row, padded to the smallest of a few length buckets.

Results return in input order and are identical between layouts up to float rounding (tested).
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from recjax.text import cache as text_cache
from recjax.text.bert import pool_segments, segment_attention_mask
from recjax.text.tokenizer import Tokenizer, default_max_length
from recjax.text.weights import load_bert

DEFAULT_CHECKPOINT = "all-MiniLM-L6-v2"
DEFAULT_BUCKETS = (16, 32, 64, 128, 256)
DEFAULT_PACK_WIDTHS = (64, 128, 256)
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def resolve_checkpoint(checkpoint: str | os.PathLike | None) -> Path:
    """A registry name (default all-MiniLM-L6-v2, fetched and cached) or a local directory."""
    from recjax.data import registry

    name = str(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT
    if name in registry.RESOURCES and registry.RESOURCES[name].kind == "checkpoint":
        return registry.fetch(name)
    path = Path(name).expanduser()
    if not path.is_dir():
        known = sorted(k for k, v in registry.RESOURCES.items() if v.kind == "checkpoint")
        raise FileNotFoundError(f"checkpoint {name!r} is neither a registered checkpoint "
                                f"({known}) nor a directory")
    return path


@dataclass(frozen=True)
class EncodeStats:
    """What one call did: counts, tokens, compile and run time, cache hit."""

    num_texts: int
    num_tokens: int
    padded_tokens: int
    seconds: float
    cache_hit: bool


class TextEncoder:
    """A loaded checkpoint plus its jitted encode function (one compilation per bucket)."""

    def __init__(self, checkpoint=None, dtype: str = "float32", max_length: int | None = None,
                 pooling: str = "mean", normalize: bool = True):
        if dtype not in DTYPES:
            raise ValueError(f"dtype {dtype!r} is unknown; use one of {sorted(DTYPES)}")
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling {pooling!r} is unknown; use 'mean' or 'cls'")
        self.directory = resolve_checkpoint(checkpoint)
        self.module, self.config, self.params = load_bert(self.directory, DTYPES[dtype])
        self.tokenizer = Tokenizer(self.directory, max_length)
        # Out-of-range position ids would be clamped by the gather, not rejected.
        if self.tokenizer.max_length > self.config.max_positions:
            raise ValueError(f"max_length {self.tokenizer.max_length} exceeds the checkpoint's "
                             f"{self.config.max_positions} positions (max_position_embeddings "
                             f"{self.config.max_position_embeddings}, offset "
                             f"{self.config.position_offset})")
        self.dtype, self.pooling, self.normalize = dtype, pooling, normalize
        self.dim = self.config.hidden_size
        self.fingerprint = text_cache.checkpoint_fingerprint(self.directory)

        def encode_batch(params, ids, positions, segments, num_slots):
            mask = segment_attention_mask(segments)
            hidden = self.module.apply(params, ids, mask, position_ids=positions)
            return pool_segments(hidden, segments, positions, num_slots, pooling, normalize)

        self._encode_batch = jax.jit(encode_batch, static_argnums=4)

    def settings(self, template: str = "") -> dict:
        return encode_settings(self.fingerprint, self.tokenizer.max_length, self.pooling,
                               self.normalize, self.dtype, template)


    def encode(self, texts: Sequence[str], batch_tokens: int = 1024,
               buckets: Sequence[int] = DEFAULT_BUCKETS, packing: bool = True,
               pack_widths: Sequence[int] = DEFAULT_PACK_WIDTHS, progress: bool | None = None,
               ) -> tuple[np.ndarray, EncodeStats]:
        """Encode without the cache. Returns ``(vectors [n, dim] float32, stats)``."""
        t0 = time.perf_counter()
        texts = list(texts)
        ids = self.tokenizer(texts).ids
        out = np.zeros((len(texts), self.dim), np.float32)
        if not texts:
            return out, EncodeStats(0, 0, 0, 0.0, False)
        max_len = self.tokenizer.max_length
        if packing:
            widths = sorted({min(w, max_len) for w in pack_widths} | {max_len})
        else:
            widths = sorted({min(b, max_len) for b in buckets} | {max_len})
        if batch_tokens < max(widths):
            raise ValueError(f"batch_tokens={batch_tokens} is smaller than the longest bucket "
                             f"({max(widths)} tokens)")
        lengths = np.array([len(x) for x in ids])
        if packing:
            rows = pack_rows(lengths, np.arange(len(ids)), widths)
        else:
            rows: dict[int, list[list[int]]] = {}
            for i in np.argsort(lengths, kind="stable"):
                width = widths[int(np.searchsorted(widths, lengths[i]))]
                rows.setdefault(width, []).append([int(i)])
        jobs, padded = [], 0
        for width, width_rows in sorted(rows.items()):
            per_batch = batch_tokens // width
            slots = max(len(r) for r in width_rows)
            slots = 1 if slots == 1 else max_slots(width)
            for start in range(0, len(width_rows), per_batch):
                jobs.append(_assemble(width_rows[start:start + per_batch], ids, per_batch, width,
                                      slots, self.tokenizer.pad_id))
                padded += per_batch * width
        bar = _progress(len(jobs), progress)
        pending = [(index, self._encode_batch(self.params, x, pos, seg, slots))
                   for index, x, pos, seg, slots in jobs]  # asynchronous dispatch
        for index, result in pending:
            result = np.asarray(result)
            valid = index >= 0
            out[index[valid]] = result[valid]
            bar.update(1)
        bar.close()
        return out, EncodeStats(len(texts), int(lengths.sum()), padded,
                                time.perf_counter() - t0, False)


def encode_settings(fingerprint: str, max_length: int, pooling: str, normalize: bool,
                    dtype: str, template: str) -> dict:
    """Everything that determines the vectors (the cache key), besides the texts."""
    return {"checkpoint": fingerprint, "max_length": max_length, "pooling": pooling,
            "normalize": normalize, "dtype": dtype, "template": template}


def max_slots(width: int) -> int:
    """Most texts one packed row can hold: every text has at least [CLS] and [SEP]."""
    return width // 2


def pack_rows(lengths: np.ndarray, indices: np.ndarray, widths: Sequence[int]
              ) -> dict[int, list[list[int]]]:
    """Pack texts into rows, first-fit decreasing: the longest unplaced text opens a row of the
    smallest width in ``widths`` that holds it, and the row is topped up with the longest
    unplaced texts that still fit. Returns ``{width: rows of text indices}``."""
    widths = sorted(widths)
    top = int(lengths[indices].max(initial=0))
    if top > widths[-1]:
        raise ValueError(f"a text of {top} tokens is longer than the widest row {widths[-1]}")
    by_length: list[list[int]] = [[] for _ in range(top + 1)]
    for i in indices[np.argsort(-lengths[indices], kind="stable")][::-1]:
        by_length[lengths[i]].append(int(i))  # each list pops in input order
    rows: dict[int, list[list[int]]] = {}
    remaining = len(indices)
    while remaining:
        while not by_length[top]:
            top -= 1
        width = widths[int(np.searchsorted(widths, top))]
        row, room, length = [], width, top
        while length > 0 and len(row) < max_slots(width):
            if by_length[length]:
                row.append(by_length[length].pop())
                room -= length
                length = min(room, length)
            else:
                length -= 1
        rows.setdefault(width, []).append(row)
        remaining -= len(row)
    return rows


def _assemble(batch_rows, ids, num_rows, width, slots, pad_id):
    """Arrays for one batch: token ids, positions, segment ids (0 = padding) and, per slot,
    the text index it holds (-1 for none)."""
    x = np.full((num_rows, width), pad_id, np.int32)
    pos = np.zeros((num_rows, width), np.int32)
    seg = np.zeros((num_rows, width), np.int32)
    index = np.full((num_rows, slots), -1, np.int64)
    for r, row in enumerate(batch_rows):
        at = 0
        for s, i in enumerate(row):
            n = len(ids[i])
            x[r, at:at + n] = ids[i]
            pos[r, at:at + n] = np.arange(n)
            seg[r, at:at + n] = s + 1
            index[r, s] = i
            at += n
    return index, x, pos, seg, slots


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress(total: int, progress: bool | None):
    if progress is None:
        progress = sys.stderr.isatty() and total > 4
    if not progress:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="encoding", unit="batch", leave=False)


@functools.lru_cache(maxsize=2)
def load_encoder(checkpoint: str | None = None, dtype: str = "float32",
                 max_length: int | None = None, pooling: str = "mean",
                 normalize: bool = True) -> TextEncoder:
    """A :class:`TextEncoder`, kept for reuse within the process (its compiled programs too)."""
    return TextEncoder(checkpoint, dtype, max_length, pooling, normalize)


def encode_texts(texts: Sequence[str], checkpoint: str | os.PathLike | None = None, *,
                 batch_tokens: int = 1024, buckets: Sequence[int] = DEFAULT_BUCKETS,
                 packing: bool = True, pack_widths: Sequence[int] = DEFAULT_PACK_WIDTHS,
                 pooling: str = "mean", normalize: bool = True, dtype: str = "float32",
                 max_length: int | None = None, template: str = "",
                 cache: bool | str | os.PathLike = True, progress: bool | None = None,
                 return_stats: bool = False):
    """Encode texts with a pretrained BERT-family checkpoint; float32 ``[len(texts), dim]``.

    Args:
      texts: strings (an empty string is a valid text: it encodes ``[CLS] [SEP]``, or
        ``<s> </s>``).
      checkpoint: registry name or local Hugging Face directory of a BERT or RoBERTa / XLM-R
        model (:data:`recjax.text.bert.MODEL_TYPES`); default all-MiniLM-L6-v2.
      batch_tokens: tokens per compiled batch (rows = batch_tokens // width).
      buckets: padded lengths for texts not packed (one compilation each).
      packing: pack texts several to a row (see the module docstring); pack_widths: the row
        lengths to pack into (one compilation each).
      pooling: ``mean`` over the attention mask or ``cls``. normalize: L2-normalise rows.
      dtype: compute dtype, ``float32`` or ``bfloat16`` (accelerators); output is float32.
      template: the template that produced the texts, recorded in the cache key.
      cache: True for the default cache dir, a path for another, False to skip it.
      return_stats: also return :class:`EncodeStats`.
    """
    texts = list(texts)
    ckpt = None if checkpoint is None else str(checkpoint)
    cache_dir = (None if cache is False else
                 text_cache.default_cache_dir() if cache is True else Path(cache))
    if cache_dir is None:
        enc = load_encoder(ckpt, dtype, max_length, pooling, normalize)
        vectors, stats = enc.encode(texts, batch_tokens, buckets, packing, pack_widths, progress)
        return (vectors, stats) if return_stats else vectors
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"text {i} is {type(t).__name__} ({t!r}), expected str")
    # The key needs only the checkpoint's fingerprint: a hit never loads the model.
    directory = resolve_checkpoint(ckpt)
    settings = encode_settings(text_cache.checkpoint_fingerprint(directory),
                               max_length or default_max_length(directory), pooling,
                               normalize, dtype, template)
    key = text_cache.cache_key(texts, **settings)
    with text_cache.entry_lock(cache_dir, key):
        t0 = time.perf_counter()
        hit = text_cache.load(cache_dir, key, len(texts))
        if hit is not None:
            stats = EncodeStats(len(texts), 0, 0, time.perf_counter() - t0, True)
            return (hit, stats) if return_stats else hit
        enc = load_encoder(ckpt, dtype, max_length, pooling, normalize)
        vectors, stats = enc.encode(texts, batch_tokens, buckets, packing, pack_widths, progress)
        text_cache.store(cache_dir, key, vectors, **settings, checkpoint_dir=str(enc.directory))
    return (vectors, stats) if return_stats else vectors
