import json

import jax
import numpy as np
import pytest

from recjax.text.weights import CheckpointError, load_bert
from tests.text.numpy_reference import numpy_bert
from tests.text.tiny_checkpoint import state_dict, write_tiny_checkpoint

CFG = {"vocab_size": 20, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 4,
       "intermediate_size": 32, "max_position_embeddings": 64}


def test_tiny_checkpoint_matches_numpy_reference(tiny_dir):
    from recjax.text.encode import TextEncoder

    enc = TextEncoder(str(tiny_dir))
    texts = ["i like reading , travel and photography .", "the cat", ""]
    ours, _ = enc.encode(texts)
    sd = state_dict({**CFG}, seed=0)
    for t, row in zip(texts, ours):
        ids = enc.tokenizer([t]).ids[0]
        np.testing.assert_allclose(row, numpy_bert(sd, ids), atol=2e-5)


def test_bert_prefix_and_gamma_beta_names(tmp_path):
    plain = load_bert(write_tiny_checkpoint(tmp_path / "plain"))[2]
    prefixed = load_bert(write_tiny_checkpoint(tmp_path / "pre", prefix="bert."))[2]
    sd = state_dict({**CFG, "model_type": "bert"}, seed=0)
    old = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias",
                                                                     "LayerNorm.beta"): v
           for k, v in sd.items()}
    gamma = load_bert(write_tiny_checkpoint(tmp_path / "old", state=old))[2]
    for other in (prefixed, gamma):
        assert jax.tree_util.tree_all(jax.tree_util.tree_map(np.array_equal, plain, other))


def test_missing_unexpected_and_misshapen_weights(tmp_path):
    sd = state_dict(CFG, seed=0)
    del sd["encoder.layer.1.output.dense.weight"]
    sd["encoder.layer.1.attention.self.rotary.weight"] = np.zeros(3, np.float32)
    sd["encoder.layer.0.intermediate.dense.bias"] = np.zeros(31, np.float32)
    d = write_tiny_checkpoint(tmp_path / "bad", state=sd)
    with pytest.raises(CheckpointError) as e:
        load_bert(d)
    msg = str(e.value)
    assert "missing weights (1): ['encoder.layer.1.output.dense.weight']" in msg
    assert "unexpected weights (1): ['encoder.layer.1.attention.self.rotary.weight']" in msg
    assert "encoder.layer.0.intermediate.dense.bias: checkpoint (31,), expected (32,)" in msg


def test_bad_checkpoint_directories(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_bert(tmp_path / "nowhere")
    d = write_tiny_checkpoint(tmp_path / "bin")
    (d / "model.safetensors").rename(d / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"no model.safetensors \(found \['pytorch_model"):
        load_bert(d)
    d = write_tiny_checkpoint(tmp_path / "garbled")
    (d / "model.safetensors").write_bytes(b"\x00\x01 not safetensors")
    with pytest.raises(CheckpointError, match="cannot read safetensors"):
        load_bert(d)
    d = write_tiny_checkpoint(tmp_path / "distilbert", model_type="distilbert")
    with pytest.raises(CheckpointError, match=r"model_type 'distilbert' is not supported; "
                       r"recjax's encoder implements model_type \['bert', 'roberta', "
                       r"'xlm-roberta'\]"):
        load_bert(d)
    d = write_tiny_checkpoint(tmp_path / "badjson")
    (d / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_bert(d)
    d = write_tiny_checkpoint(tmp_path / "act", hidden_act="mish")
    with pytest.raises(CheckpointError, match="hidden_act 'mish' is not supported"):
        load_bert(d)


def test_vocab_only_checkpoint_uses_transformers_tokenizer(tmp_path, tiny_dir):
    from recjax.text.tokenizer import Tokenizer

    d = write_tiny_checkpoint(tmp_path / "vocab_only")
    (d / "tokenizer.json").unlink()
    (d / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True,
                                                         "tokenizer_class": "BertTokenizer"}))
    texts = ["I like Reading, travel and photography.", "the zebra"]
    a, b = Tokenizer(d)(texts).ids, Tokenizer(tiny_dir)(texts).ids
    assert [x.tolist() for x in a] == [x.tolist() for x in b]
    assert 1 in a[1].tolist()  # "zebra" is [UNK] in the tiny vocab, and only it
