"""Tiny random checkpoints (2 layers, hidden 16) written in Hugging Face layout: a BERT with a
WordPiece ``tokenizer.json``, and an XLM-RoBERTa with a SentencePiece-style Unigram one."""

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
        "embeddings.token_type_embeddings.weight": r(cfg.get("type_vocab_size", 2), d),
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


# XLM-R's layout: fairseq specials first, SentencePiece pieces ("▁" marks a word start) with
# their log-probabilities, <mask> last. "photography" splits in two; "▁我" starts Chinese.
PIECES = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -3.0),
          ("▁i", -2.0), ("▁like", -2.0), ("▁reading", -2.0), ("▁travel", -2.0),
          ("▁and", -2.0), ("▁photo", -2.5), ("graphy", -2.5), (".", -2.0), (",", -2.0),
          ("▁the", -2.0), ("▁cat", -2.0), ("▁a", -2.0), ("▁book", -2.0),
          ("▁我", -3.5), ("喜欢", -3.0), ("阅读", -3.0), ("、", -3.0),
          ("旅行", -3.0), ("和", -3.0), ("摄影", -3.0), ("<mask>", 0.0)]
ROBERTA_PAD_ID = 1


def roberta_tokenizer():
    """A Unigram ``tokenizers.Tokenizer`` laid out like XLM-R's ``tokenizer.json``."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    tok = Tokenizer(models.Unigram(PIECES, unk_id=3, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(),
                                           normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)])
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>",
                            AddedToken("<mask>", lstrip=True, special=True)])
    return tok


def roberta_state_dict(cfg: dict, seed: int = 0, prefix: str = "roberta."
                       ) -> dict[str, np.ndarray]:
    """With ``prefix``, an ``XLMRobertaForMaskedLM`` state (``roberta.*`` plus an unused
    ``lm_head``, no pooler); without, an ``XLMRobertaModel`` state (with its pooler)."""
    sd = state_dict(cfg, seed)
    if not prefix:
        return sd
    rng = np.random.default_rng(seed + 1)
    d, v = cfg["hidden_size"], cfg["vocab_size"]
    r = lambda *s: rng.normal(0, 0.2, s).astype(np.float32)
    out = {prefix + k: x for k, x in sd.items() if not k.startswith("pooler.")}
    out.update({"lm_head.dense.weight": r(d, d), "lm_head.dense.bias": r(d),
                "lm_head.layer_norm.weight": 1 + r(d), "lm_head.layer_norm.bias": r(d),
                "lm_head.decoder.weight": r(v, d), "lm_head.bias": r(v)})
    return out


def roberta_config(**overrides) -> dict:
    # 66 rows: 2 skipped by the padding offset, 64 usable (as XLM-R's 514 leave 512).
    return {"model_type": "xlm-roberta", "vocab_size": len(PIECES), "hidden_size": 16,
            "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 32,
            "hidden_act": "gelu", "max_position_embeddings": 66, "type_vocab_size": 1,
            "layer_norm_eps": 1e-5, "pad_token_id": ROBERTA_PAD_ID, "bos_token_id": 0,
            "eos_token_id": 2, "position_embedding_type": "absolute", **overrides}


def write_tiny_roberta_checkpoint(directory: Path, prefix: str = "roberta.", seed: int = 0,
                                  state: dict | None = None, **overrides) -> Path:
    from safetensors.numpy import save_file

    directory.mkdir(parents=True, exist_ok=True)
    cfg = roberta_config(**overrides)
    (directory / "config.json").write_text(json.dumps(cfg))
    roberta_tokenizer().save(str(directory / "tokenizer.json"))
    save_file(state if state is not None else roberta_state_dict(cfg, seed, prefix),
              str(directory / "model.safetensors"))
    return directory
