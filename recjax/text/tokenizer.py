"""The tokenizer, built in exactly one place from a local checkpoint directory.

With a ``tokenizer.json`` we use the Rust ``tokenizers`` library directly (fast, exact); a
directory with only ``vocab.txt`` goes through ``transformers.AutoTokenizer.from_pretrained``
on the *directory*. (In transformers 5, ``BertTokenizerFast(vocab_file=...)`` silently builds a
tiny vocabulary that maps every word to ``[UNK]``; loading from the directory is correct.)
RoBERTa-family checkpoints (XLM-R, paraphrase-multilingual, multilingual-e5) ship a
``tokenizer.json`` too: a SentencePiece Unigram or byte-level BPE model whose post-processor
adds ``<s> ... </s>``, with ``<pad>``/``<unk>`` in place of ``[PAD]``/``[UNK]``.

Maximum length: all-MiniLM-L6-v2's ``tokenizer.json`` pads and truncates at 128, while its
sentence-transformers config (``sentence_bert_config.json``) says 256 and the published
embeddings were made at 256. We follow ``sentence_bert_config.json`` when present (so vectors
match sentence-transformers), else the positions the encoder has (``max_position_embeddings``
less RoBERTa's offset: 512 of 514); padding is ours (length buckets), never the file's fixed
padding.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Tokenized:
    """Token ids per text, without padding: a list of int32 arrays ([CLS] ... [SEP] or
    <s> ... </s>)."""

    ids: list[np.ndarray]


class Tokenizer:
    """Encodes texts to unpadded id sequences, truncated to ``max_length``."""

    def __init__(self, directory: str | os.PathLike, max_length: int | None = None):
        directory = Path(directory)
        self.directory = directory
        self.max_length = max_length or default_max_length(directory)
        if (directory / "tokenizer.json").is_file():
            from tokenizers import Tokenizer as RustTokenizer

            self._rust = RustTokenizer.from_file(str(directory / "tokenizer.json"))
        elif (directory / "vocab.txt").is_file():
            self._rust = _from_transformers(directory)
        else:
            raise FileNotFoundError(f"{directory}: no tokenizer.json or vocab.txt")
        self._rust.no_padding()
        self._rust.enable_truncation(self.max_length)
        # Padding only fills rows (padded keys are masked), but use the checkpoint's own id.
        pad_id = self._special_id("[PAD]", "<pad>")
        self.pad_id = 0 if pad_id is None else pad_id
        self.unk_id = self._special_id("[UNK]", "<unk>")
        self.vocab_size = self._rust.get_vocab_size()

    def _special_id(self, *tokens: str) -> int | None:
        ids = [self._rust.token_to_id(t) for t in tokens]
        return next((i for i in ids if i is not None), None)

    def __call__(self, texts: list[str]) -> Tokenized:
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"text {i} is {type(t).__name__} ({t!r}), expected str")
        encs = self._rust.encode_batch(list(texts))
        return Tokenized([np.asarray(e.ids, dtype=np.int32) for e in encs])

    def tokens(self, text: str) -> list[str]:
        return self._rust.encode(text).tokens

    def decode(self, ids) -> str:
        """Ids -> text, special tokens dropped."""
        return self._rust.decode([int(i) for i in ids])


def _from_transformers(directory: Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(directory))
    backend = getattr(tok, "backend_tokenizer", None) or getattr(tok, "_tokenizer", None)
    if backend is None:
        raise ValueError(f"{directory}: transformers built no fast tokenizer from vocab.txt")
    return backend


def default_max_length(directory: Path) -> int:
    st = directory / "sentence_bert_config.json"
    if st.is_file():
        return int(json.loads(st.read_text())["max_seq_length"])
    cfg = directory / "config.json"
    if cfg.is_file():
        from recjax.text.bert import BertConfig

        return BertConfig.from_json(cfg).max_positions
    return 512
