"""The tokenizer, built in exactly one place from a local checkpoint directory.

With a ``tokenizer.json`` we use the Rust ``tokenizers`` library directly (fast, exact); a
directory with only ``vocab.txt`` goes through ``transformers.AutoTokenizer.from_pretrained``
on the *directory*. (In transformers 5, ``BertTokenizerFast(vocab_file=...)`` silently builds a
tiny vocabulary that maps every word to ``[UNK]``; loading from the directory is correct.)

Maximum length: all-MiniLM-L6-v2's ``tokenizer.json`` pads and truncates at 128, while its
sentence-transformers config (``sentence_bert_config.json``) says 256 and the published
embeddings were made at 256. We follow ``sentence_bert_config.json`` when present (so vectors
match sentence-transformers), else ``max_position_embeddings``; padding is ours (length buckets),
never the file's fixed padding.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Tokenized:
    """Token ids per text, without padding: a list of int32 arrays ([CLS] ... [SEP])."""

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
        self.pad_id = self._rust.token_to_id("[PAD]") or 0
        self.unk_id = self._rust.token_to_id("[UNK]")
        self.vocab_size = self._rust.get_vocab_size()

    def __call__(self, texts: list[str]) -> Tokenized:
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"text {i} is {type(t).__name__} ({t!r}), expected str")
        encs = self._rust.encode_batch(list(texts))
        return Tokenized([np.asarray(e.ids, dtype=np.int32) for e in encs])

    def tokens(self, text: str) -> list[str]:
        return self._rust.encode(text).tokens


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
        return int(json.loads(cfg.read_text()).get("max_position_embeddings", 512))
    return 512
