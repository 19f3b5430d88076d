import math

import numpy as np
import pytest

from recjax.text.lexical import BM25, fuse, terms


def test_terms_cjk_bigrams_words_prefixes_and_stop_words():
    assert terms("我喜欢阅读、旅行和摄影") == [
        "我喜", "喜欢", "欢阅", "阅读", "旅行", "行和", "和摄", "摄影"]
    assert terms("I like Travelling and photography!") == [
        "travelling", "trave*", "photography", "photo*"]
    assert terms("书") == ["书"]
    # NFKC: full-width letters and digits are the ASCII ones.
    assert terms("ＡＢＣ ２０２４") == ["abc", "2024"]
    assert terms("") == [] and terms(None) == []


def test_bm25_matches_the_formula_by_hand():
    docs = ["travel photography book", "travel guide", "cooking"]
    k1, b = 1.2, 0.75
    index = BM25(docs, k1=k1, b=b)
    # Term lists: d0 = travel, trave*, photography, photo*, book (5); d1 = travel, trave*,
    # guide (3); d2 = cooking, cooki* (2); avgdl = 10 / 3.
    lengths, avgdl, n = [5, 3, 2], 10 / 3, 3

    def part(tf, df, dl):
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        return idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))

    # Query terms: travel, trave*, photographs, photo*.
    got = index.scores("travel photographs")
    want = [2 * part(1, 2, lengths[0]) + part(1, 1, lengths[0]), 2 * part(1, 2, lengths[1]),
            0.0]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # Repeating a query term does not count twice; an unknown term adds nothing.
    np.testing.assert_allclose(index.scores("travel travel zebra"),
                               [2 * part(1, 2, 5), 2 * part(1, 2, 3), 0.0], rtol=1e-12)


def test_bm25_finds_the_chinese_overlap_a_dense_english_model_would_miss():
    docs = ["一本关于旅行的摄影艺术书籍", "讲解构图和光线的摄影教程", "省钱旅行的路线和技巧",
            "一百道家常菜谱"]
    s = BM25(docs).scores("我喜欢阅读、旅行和摄影")
    assert int(np.argmax(s)) == 0 and s[3] == 0.0
    assert s[0] > s[1] > 0 and s[0] > s[2] > 0


def test_fuse_standardises_the_model_and_scales_bm25_by_its_best_match():
    dense = np.array([1.0, 2.0, 3.0, -np.inf])
    lexical = np.array([9.0, 0.0, 0.0, 18.0])  # the excluded item's match does not count
    fused = fuse(dense, lexical, 1.0)
    assert fused[3] == -np.inf
    z = lambda x: (x - x.mean()) / x.std()  # noqa: E731
    np.testing.assert_allclose(fused[:3], z(dense[:3]) + np.array([1.0, 0.0, 0.0]))
    # The best match is worth `weight` standard deviations of the model's scores: at 1 the
    # model's leader stays first, at 3 the lexical match overtakes it.
    assert int(np.argmax(fused)) == 2 and int(np.argmax(fuse(dense, lexical, 3.0))) == 0
    # No lexical match, or weight 0: the model's order untouched.
    np.testing.assert_allclose(fuse(dense, np.zeros(4), 5.0)[:3], z(dense[:3]))
    np.testing.assert_allclose(fuse(dense, lexical, 0.0)[:3], z(dense[:3]))
    with pytest.raises(ValueError, match="weight"):
        fuse(dense, lexical, -1.0)
    with pytest.raises(ValueError, match="same shape"):
        fuse(dense, lexical[:2], 1.0)
    with pytest.raises(ValueError, match="NaN"):
        fuse(np.array([1.0, np.nan]), np.zeros(2), 1.0)


def test_one_weak_match_cannot_take_over_a_large_catalogue():
    """A z-score of a sparse channel grows like sqrt(#items); the best-match scaling does not."""
    rng = np.random.default_rng(0)
    dense = rng.normal(size=1682)
    lexical = np.zeros(1682)
    weak = int(np.argsort(dense)[600])  # a middling item by the model
    lexical[weak] = 0.3
    fused = fuse(dense, lexical, 2.0)
    rank = int(np.flatnonzero(np.argsort(-fused) == weak)[0]) + 1
    assert rank > 50  # still ranked by the model, lifted by 2 standard deviations at most


def test_cjk_runs_split_from_latin_letters_and_digits():
    assert terms("2024年旅行摄影") == ["2024", "年旅", "旅行", "行摄", "摄影"]
    assert terms("40升户外登山包")[:2] == ["40", "升户"]
