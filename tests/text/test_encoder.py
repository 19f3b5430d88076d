"""Parity with the real all-MiniLM-L6-v2 checkpoint, padding invariance, layouts."""

import numpy as np
import pytest

from recjax.text.encode import TextEncoder, pack_rows


def cosine(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_tokenizer_matches_reference_ids(minilm, reference):
    ids = minilm.tokenizer(reference["sentences"]).ids
    for i, (ours, ref) in enumerate(zip(ids, reference["input_ids"])):
        assert ours.tolist() == ref, f"sentence {i}: {reference['sentences'][i]!r}"
    assert minilm.tokenizer.max_length == 256  # sentence_bert_config.json, not tokenizer.json
    assert max(len(x) for x in ids) == 256  # the long sentence is truncated there


def test_common_words_are_not_unk(minilm):
    words = "the movie about travel photography reading music love war comedy drama".split()
    ids = minilm.tokenizer([" ".join(words)]).ids[0]
    assert minilm.tokenizer.unk_id not in ids.tolist()
    assert len(ids) == len(words) + 2


@pytest.mark.parametrize("packing", [True, False])
def test_embeddings_match_reference(minilm, reference, packing):
    ours, _ = minilm.encode(reference["sentences"], packing=packing)
    ref = reference["embeddings"]
    assert ours.shape == ref.shape and ours.dtype == np.float32
    assert cosine(ours, ref).min() > 0.9999
    assert np.abs(ours - ref).max() < 1e-4


def test_padding_and_packing_invariance(minilm):
    s = "A photography art book about travel."
    others = ["x " * n for n in range(1, 60, 7)] + ["a much longer text " * 20]
    alone, _ = minilm.encode([s], packing=False, buckets=(16,))
    for packing in (True, False):
        batch, _ = minilm.encode(others[:3] + [s] + others[3:], packing=packing)
        assert np.abs(batch[3] - alone[0]).max() < 1e-5
    # Empty text: [CLS] [SEP], a finite unit vector; the order of results is the input order.
    out, stats = minilm.encode(["", s, ""])
    assert np.isfinite(out).all() and np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)
    assert np.abs(out[1] - alone[0]).max() < 1e-5 and np.allclose(out[0], out[2])
    assert stats.padded_tokens >= stats.num_tokens


def test_bfloat16_close_to_float32(reference):
    enc = TextEncoder(dtype="bfloat16")
    ours, _ = enc.encode(reference["sentences"][:12])
    assert ours.dtype == np.float32
    assert cosine(ours, reference["embeddings"][:12]).min() > 0.99


def test_pack_rows_fills_rows_and_places_every_text_once():
    rng = np.random.default_rng(0)
    lengths = np.r_[rng.integers(2, 40, 500), rng.integers(65, 200, 30)]
    rows = pack_rows(lengths, np.arange(len(lengths)), (64, 128, 256))
    placed = [i for width_rows in rows.values() for r in width_rows for i in r]
    assert sorted(placed) == list(range(len(lengths)))
    for width, width_rows in rows.items():
        assert all(lengths[r].sum() <= width for r in width_rows)
    capacity = sum(w * len(r) for w, r in rows.items())
    assert lengths.sum() / capacity > 0.9  # rows are nearly full
    with pytest.raises(ValueError, match="longer than the widest row"):
        pack_rows(np.array([300]), np.arange(1), (64, 256))


def test_bad_inputs(minilm):
    with pytest.raises(TypeError, match="text 1 is NoneType"):
        minilm.encode(["ok", None])
    with pytest.raises(ValueError, match="batch_tokens=100 is smaller than the longest bucket"):
        minilm.encode(["ok"], batch_tokens=100)
    with pytest.raises(ValueError, match="dtype 'float16' is unknown"):
        TextEncoder(dtype="float16")
