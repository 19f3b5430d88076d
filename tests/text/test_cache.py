import multiprocessing as mp

import numpy as np
import pytest

from recjax.text import cache
from recjax.text.encode import encode_texts, load_encoder

TEXTS = ["i like travel", "a book about photography", "", "the cat"]


def test_second_call_is_a_hit_and_identical(tiny_dir, tmp_path, monkeypatch):
    a, sa = encode_texts(TEXTS, tiny_dir, cache=tmp_path, return_stats=True)
    assert not sa.cache_hit
    enc = load_encoder(str(tiny_dir))
    monkeypatch.setattr(enc, "encode", lambda *a, **k: pytest.fail("encoder ran on a hit"))
    b, sb = encode_texts(TEXTS, tiny_dir, cache=tmp_path, return_stats=True)
    assert sb.cache_hit and np.array_equal(a, b)


def test_key_depends_on_every_setting(tiny_dir, tmp_path):
    encode_texts(TEXTS, tiny_dir, cache=tmp_path)
    encode_texts(TEXTS, tiny_dir, cache=tmp_path, template="{title}")
    encode_texts(TEXTS, tiny_dir, cache=tmp_path, pooling="cls")
    encode_texts(TEXTS[::-1], tiny_dir, cache=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 4


@pytest.mark.parametrize("damage", ["truncate", "flip", "meta"])
def test_corrupted_entries_are_rebuilt(tiny_dir, tmp_path, damage):
    a = encode_texts(TEXTS, tiny_dir, cache=tmp_path)
    (npy,) = tmp_path.glob("*.npy")
    meta = npy.with_suffix(".json")
    if damage == "truncate":
        npy.write_bytes(npy.read_bytes()[:100])
    elif damage == "flip":
        raw = bytearray(npy.read_bytes())
        raw[-1] ^= 0xFF
        npy.write_bytes(bytes(raw))
    else:
        meta.write_text("{broken")
    with pytest.warns(UserWarning, match="is invalid"):
        b, stats = encode_texts(TEXTS, tiny_dir, cache=tmp_path, return_stats=True)
    assert not stats.cache_hit and np.array_equal(a, b)
    assert cache.load(tmp_path, npy.stem, len(TEXTS)) is not None  # rebuilt entry is valid


def _writer(args):
    directory, root, seed = args
    rng = np.random.default_rng(seed)
    arr = np.full((50, 8), 1.5, np.float32)
    for _ in range(20):
        cache.store(root, "samekey", arr, note=int(rng.integers(9)))
        got = cache.load(root, "samekey", 50)
        assert got is None or np.array_equal(got, arr)
    return True


def test_concurrent_writers_never_expose_partial_entries(tmp_path):
    with mp.get_context("spawn").Pool(3) as pool:
        assert all(pool.map(_writer, [(None, tmp_path, s) for s in range(3)]))
    assert np.array_equal(cache.load(tmp_path, "samekey", 50), np.full((50, 8), 1.5, np.float32))
    assert not list(tmp_path.glob(".*.tmp"))
