"""RoBERTa / XLM-R checkpoints: weight names, offset positions, the Unigram tokenizer, and parity
of packed and unpacked encoding with an independent numpy forward pass."""

import json

import jax
import numpy as np
import pytest

from recjax.text.bert import BertConfig
from recjax.text.encode import TextEncoder, pack_rows
from recjax.text.tokenizer import Tokenizer
from recjax.text.weights import CheckpointError, load_bert
from tests.text.numpy_reference import numpy_bert, numpy_roberta, roberta_position_ids
from tests.text.tiny_checkpoint import (
    ROBERTA_PAD_ID,
    roberta_config,
    roberta_state_dict,
    write_tiny_roberta_checkpoint,
)

# Short texts pack several to a row; the long one is truncated to all 64 positions, so its
# last token reads the last row of the 66-row position table.
TEXTS = ["i like reading, travel and photography.", "the cat", "", "a book",
         "我喜欢阅读、旅行和摄影", "the zebra", "i like the cat. " * 20, "travel and photography",
         "i", "the book, the cat"]


@pytest.fixture(scope="module")
def roberta_dir(tmp_path_factory):
    return write_tiny_roberta_checkpoint(tmp_path_factory.mktemp("roberta"))


@pytest.fixture(scope="module")
def roberta(roberta_dir):
    return TextEncoder(str(roberta_dir))


@pytest.fixture(scope="module")
def sd():
    return roberta_state_dict(roberta_config(), seed=0, prefix="")


def test_position_ids_follow_hugging_face():
    ids = np.array([[0, 7, 8, 2, 1, 1], [0, 2, 1, 1, 1, 1]])
    assert roberta_position_ids(ids, 1).tolist() == [[2, 3, 4, 5, 1, 1], [2, 3, 1, 1, 1, 1]]


def test_config_offsets_positions_by_the_padding_index(roberta_dir, tmp_path):
    cfg = BertConfig.from_json(roberta_dir / "config.json")
    assert (cfg.model_type, cfg.position_offset, cfg.max_positions) == ("xlm-roberta", 2, 64)
    # RobertaConfig's pad_token_id defaults to 1, not BERT's 0.
    raw = roberta_config(model_type="roberta")
    del raw["pad_token_id"]
    (tmp_path / "config.json").write_text(json.dumps(raw))
    assert BertConfig.from_json(tmp_path / "config.json").position_offset == 2
    assert BertConfig().position_offset == 0


def test_tokenizer_round_trip(roberta):
    tok = roberta.tokenizer
    assert (tok.pad_id, tok.unk_id, tok.max_length) == (ROBERTA_PAD_ID, 3, 64)
    assert tok.tokens(TEXTS[0]) == ["<s>", "▁i", "▁like", "▁reading", ",", "▁travel", "▁and",
                                    "▁photo", "graphy", ".", "</s>"]
    assert tok.tokens(TEXTS[4]) == ["<s>", "▁我", "喜欢", "阅读", "、", "旅行", "和", "摄影",
                                    "</s>"]
    ids = tok(TEXTS).ids
    assert ids[2].tolist() == [0, 2]
    assert ids[5].tolist() == [0, 14, 4, 3, 2]  # "zebra" is <unk>, after a bare "▁"
    assert len(ids[6]) == 64 and ids[6][-1] == 2  # truncated, </s> kept
    for i in (0, 1, 3, 4, 7, 8, 9):
        assert ids[i][0] == 0 and ids[i][-1] == 2 and tok.unk_id not in ids[i]
        assert tok.decode(ids[i]) == TEXTS[i]


@pytest.mark.parametrize("packing", [True, False])
def test_encoder_matches_numpy_roberta(roberta, sd, packing):
    ids = roberta.tokenizer(TEXTS).ids
    if packing:  # the check is only worth something if rows really hold several texts
        rows = pack_rows(np.array([len(x) for x in ids]), np.arange(len(ids)), (16, 32, 64))
        assert max(len(r) for width_rows in rows.values() for r in width_rows) >= 3
    ours, _ = roberta.encode(TEXTS, packing=packing, pack_widths=(16, 32, 64),
                             buckets=(8, 16, 64))
    for i, x in enumerate(ids):
        np.testing.assert_allclose(ours[i], numpy_roberta(sd, x, ROBERTA_PAD_ID), atol=2e-5,
                                   err_msg=f"text {i}: {TEXTS[i]!r}")


def test_reference_without_offset_disagrees(roberta, sd):
    """The parity test can fail: BERT positions (0, 1, ...) or an offset of padding_idx rather
    than padding_idx + 1 give clearly different vectors on the same checkpoint."""
    ours, _ = roberta.encode(TEXTS[:2])
    for i in range(2):
        ids = roberta.tokenizer([TEXTS[i]]).ids[0]
        for positions in (np.arange(len(ids)), np.arange(len(ids)) + ROBERTA_PAD_ID):
            wrong = numpy_bert(sd, ids, 1e-5, position_ids=positions)
            assert np.abs(ours[i] - wrong).max() > 1e-2


def test_cls_pooling_takes_each_segments_first_token(roberta_dir, sd):
    enc = TextEncoder(str(roberta_dir), pooling="cls")
    ours, _ = enc.encode(TEXTS, pack_widths=(16, 32, 64))
    for i, x in enumerate(enc.tokenizer(TEXTS).ids):
        np.testing.assert_allclose(ours[i], numpy_roberta(sd, x, ROBERTA_PAD_ID, pooling="cls"),
                                   atol=2e-5)


def test_bert_with_sentencepiece_tokenizer_keeps_bert_positions(tmp_path, sd):
    """Multilingual MiniLMs pair model_type bert with an XLM-R tokenizer: no offset there."""
    enc = TextEncoder(str(write_tiny_roberta_checkpoint(tmp_path / "mminilm", model_type="bert",
                                                        layer_norm_eps=1e-12)))
    assert enc.config.position_offset == 0 and enc.tokenizer.pad_id == ROBERTA_PAD_ID
    ours, _ = enc.encode(TEXTS, pack_widths=(16, 32, 64))
    for i, x in enumerate(enc.tokenizer(TEXTS).ids):
        np.testing.assert_allclose(ours[i], numpy_bert(sd, x), atol=2e-5)


def test_roberta_prefix_lm_head_and_plain_names_load_alike(tmp_path):
    prefixed = load_bert(write_tiny_roberta_checkpoint(tmp_path / "mlm"))
    plain = load_bert(write_tiny_roberta_checkpoint(tmp_path / "model", prefix=""))
    assert prefixed[1].type_vocab_size == 1
    assert prefixed[2]["params"]["embeddings"]["token_type_embeddings"]["embedding"].shape == (
        1, 16)
    assert jax.tree_util.tree_all(jax.tree_util.tree_map(np.array_equal, prefixed[2], plain[2]))


def test_roberta_shape_and_length_errors(tmp_path, roberta_dir):
    cfg = roberta_config()
    bad = roberta_state_dict(cfg, seed=0)
    bad["roberta.embeddings.position_embeddings.weight"] = bad[
        "roberta.embeddings.position_embeddings.weight"][:64]
    d = write_tiny_roberta_checkpoint(tmp_path / "short", state=bad)
    with pytest.raises(CheckpointError, match=r"position_embeddings.weight: checkpoint "
                                              r"\(64, 16\), expected \(66, 16\)"):
        load_bert(d)
    with pytest.raises(ValueError, match=r"max_length 65 exceeds the checkpoint's 64 positions"):
        TextEncoder(str(roberta_dir), max_length=65)


def test_public_encode_texts_on_roberta(roberta_dir, roberta, tmp_path):
    from recjax.text import encode_texts

    a = encode_texts(TEXTS, roberta_dir, cache=tmp_path)
    b, _ = roberta.encode(TEXTS)
    assert a.shape == (len(TEXTS), 16) and np.abs(a - b).max() < 1e-6
    assert Tokenizer(roberta_dir).max_length == 64
