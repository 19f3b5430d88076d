"""A tiny random BERT checkpoint (2 layers, hidden 16) written in Hugging Face layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "i", "like", "reading", "travel",
         "and", "photography", "a", "book", "about", "film", "music", "the", "cat", ".", ","]


def state_dict(cfg: dict, seed: int = 0, prefix: str = "") -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    d, ff = cfg["hidden_size"], cfg["intermediate_size"]
    r = lambda *s: rng.normal(0, 0.2, s).astype(np.float32)
    sd = {
        "embeddings.word_embeddings.weight": r(cfg["vocab_size"], d),
        "embeddings.position_embeddings.weight": r(cfg["max_position_embeddings"], d),
        "embeddings.token_type_embeddings.weight": r(2, d),
        "embeddings.LayerNorm.weight": 1 + r(d), "embeddings.LayerNorm.bias": r(d),
        "embeddings.position_ids": np.arange(cfg["max_position_embeddings"])[None],
        "pooler.dense.weight": r(d, d), "pooler.dense.bias": r(d),
    }
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            sd[p + f"attention.self.{name}.weight"] = r(d, d)
            sd[p + f"attention.self.{name}.bias"] = r(d)
        sd[p + "attention.output.dense.weight"] = r(d, d)
        sd[p + "attention.output.dense.bias"] = r(d)
        sd[p + "attention.output.LayerNorm.weight"] = 1 + r(d)
        sd[p + "attention.output.LayerNorm.bias"] = r(d)
        sd[p + "intermediate.dense.weight"] = r(ff, d)
        sd[p + "intermediate.dense.bias"] = r(ff)
        sd[p + "output.dense.weight"] = r(d, ff)
        sd[p + "output.dense.bias"] = r(d)
        sd[p + "output.LayerNorm.weight"] = 1 + r(d)
        sd[p + "output.LayerNorm.bias"] = r(d)
    return {(k if k.startswith("pooler") else prefix + k): v for k, v in sd.items()}


def write_tiny_checkpoint(directory: Path, prefix: str = "", seed: int = 0,
                          state: dict | None = None, **overrides) -> Path:
    from safetensors.numpy import save_file
    from tokenizers import BertWordPieceTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    cfg = {"model_type": "bert", "vocab_size": len(WORDS), "hidden_size": 16,
           "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 32,
           "hidden_act": "gelu", "max_position_embeddings": 64, "type_vocab_size": 2,
           "layer_norm_eps": 1e-12, **overrides}
    (directory / "config.json").write_text(json.dumps(cfg))
    (directory / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    tok = BertWordPieceTokenizer(str(directory / "vocab.txt"), lowercase=True)
    tok.save(str(directory / "tokenizer.json"))
    save_file(state if state is not None else state_dict(cfg, seed, prefix),
              str(directory / "model.safetensors"))
    return directory
