import math

import jax.numpy as jnp
import numpy as np
import pytest

from recjax.eval.metrics import auc, classification_metrics, ranking_metrics
from recjax.eval.ranking import Ranker, prepare_ranking, top_k
from tests.conftest import make_interactions


def test_metrics_by_hand():
    # User 0: relevant {a, b}; ranked list hits at positions 2 and 3.
    # User 1: relevant {c}; hit at position 1.   User 2: relevant {d}; no hit.
    hits = np.array([[0, 1, 1], [1, 0, 0], [0, 0, 0]], bool)
    n = np.array([2, 1, 1])
    m = {k: np.asarray(v) for k, v in ranking_metrics(jnp.asarray(hits), jnp.asarray(n),
                                                       (1, 3)).items()}
    assert m["recall@3"].tolist() == [1.0, 1.0, 0.0]
    assert m["precision@1"].tolist() == [0.0, 1.0, 0.0]
    assert m["hit@1"].tolist() == [0.0, 1.0, 0.0]
    np.testing.assert_allclose(m["mrr@3"], [0.5, 1.0, 0.0])
    dcg = 1 / math.log2(3) + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3)
    np.testing.assert_allclose(m["ndcg@3"], [dcg / idcg, 1.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(m["precision@3"], [2 / 3, 1 / 3, 0.0], rtol=1e-6)


def numpy_reference(user_emb, item_emb, relevant, history, ks):
    """Brute force: score, mask history minus the relevant items (RecBole) with -inf, stable
    argsort, metrics per user."""
    out = {f"{m}@{k}": [] for m in ("recall", "ndcg", "mrr", "hit", "precision") for k in ks}
    for u in np.unique(relevant.user_ids):
        s = user_emb[u] @ item_emb.T
        rel = set(relevant.item_ids[relevant.user_ids == u].tolist())
        for h in history:
            seen = set(h.item_ids[h.user_ids == u].tolist()) - rel
            s[list(seen)] = -np.inf
        order = np.argsort(-s, kind="stable")
        for k in ks:
            top = order[:k]
            hit = np.array([i in rel for i in top], float)
            dcg = (hit / np.log2(np.arange(2, k + 2))).sum()
            idcg = (1 / np.log2(np.arange(2, min(len(rel), k) + 2))).sum()
            out[f"recall@{k}"].append(hit.sum() / len(rel))
            out[f"precision@{k}"].append(hit.sum() / k)
            out[f"hit@{k}"].append(float(hit.any()))
            out[f"ndcg@{k}"].append(dcg / idcg)
            first = np.nonzero(hit)[0]
            out[f"mrr@{k}"].append(1 / (first[0] + 1) if len(first) else 0.0)
    return {k: float(np.mean(v)) for k, v in out.items()}


@pytest.mark.parametrize("chunk_size", [7, 64])
def test_full_ranking_matches_numpy_reference(chunk_size):
    rng = np.random.default_rng(0)
    nu, ni = 50, 40
    pairs = np.unique(rng.integers(0, [nu, ni], size=(700, 2)), axis=0)
    rng.shuffle(pairs)
    train = make_interactions(pairs[:500, 0], pairs[:500, 1], num_users=nu, num_items=ni)
    test = make_interactions(pairs[500:, 0], pairs[500:, 1], num_users=nu, num_items=ni)
    ue = rng.normal(size=(nu, 6)).astype(np.float32)
    ie = rng.normal(size=(ni, 6)).astype(np.float32)
    task = prepare_ranking(test, [train], chunk_size)
    ours = Ranker((1, 5, 10))(jnp.asarray(ue), jnp.asarray(ie), task)
    ref = numpy_reference(ue, ie, test, [train], (1, 5, 10))
    for k, v in ref.items():
        assert ours[k] == pytest.approx(v, abs=1e-5), k
    assert task.num_users == len(np.unique(test.user_ids))


def test_history_item_that_is_also_relevant_stays_rankable():
    # RecBole masks history - positives. One user, items scored 4, 3, 2, 1; train {0, 1},
    # test {1, 3} (item 1 in both, as with dedup=none or several behaviours). Mask {0} only:
    # ranking 1, 2, 3 -> hits at ranks 1 and 3 (masking item 1 too would rank 2, 3, 0).
    ue = jnp.ones((1, 1))
    ie = jnp.asarray([[4.0], [3.0], [2.0], [1.0]])
    train = make_interactions([0, 0], [0, 1], num_users=1, num_items=4)
    test = make_interactions([0, 0], [1, 3], num_users=1, num_items=4)
    m = Ranker((1, 3))(ue, ie, prepare_ranking(test, [train]))
    assert m["recall@1"] == pytest.approx(0.5) and m["hit@1"] == 1.0 and m["mrr@1"] == 1.0
    assert m["ndcg@1"] == pytest.approx(1.0) and m["precision@1"] == 1.0
    assert m["recall@3"] == pytest.approx(1.0) and m["precision@3"] == pytest.approx(2 / 3)
    idcg = 1 + 1 / math.log2(3)
    assert m["ndcg@3"] == pytest.approx((1 + 1 / math.log2(4)) / idcg, rel=1e-6)
    # Serving still never recommends a seen item.
    items, _ = top_k(ue, ie, np.array([0]), [train], 2)
    assert items.tolist() == [[2, 3]]


@pytest.mark.parametrize("chunk_size", [5, 64])
def test_overlapping_history_and_relevant_match_numpy_reference(chunk_size):
    # Pairs drawn independently for train, valid and test overlap, as without deduplication.
    rng = np.random.default_rng(5)
    nu, ni = 30, 20
    parts = [rng.integers(0, [nu, ni], size=(n, 2)) for n in (200, 60, 80)]
    train, valid, test = (make_interactions(p[:, 0], p[:, 1], num_users=nu, num_items=ni)
                          for p in parts)
    assert np.isin(test.pairs(), train.pairs()).sum() > 10
    ue = rng.normal(size=(nu, 5)).astype(np.float32)
    ie = rng.normal(size=(ni, 5)).astype(np.float32)
    for relevant, history in ((valid, [train]), (test, [train, valid])):
        ours = Ranker((1, 5, 10))(jnp.asarray(ue), jnp.asarray(ie),
                                  prepare_ranking(relevant, history, chunk_size))
        ref = numpy_reference(ue, ie, relevant, history, (1, 5, 10))
        for k, v in ref.items():
            assert ours[k] == pytest.approx(v, abs=1e-5), k


def test_top_k_never_returns_seen_items_and_is_ordered():
    rng = np.random.default_rng(1)
    nu, ni = 30, 25
    pairs = np.unique(rng.integers(0, [nu, ni], size=(300, 2)), axis=0)
    hist = make_interactions(pairs[:, 0], pairs[:, 1], num_users=nu, num_items=ni)
    ue, ie = rng.normal(size=(nu, 4)), rng.normal(size=(ni, 4))
    users = np.arange(nu)
    seen = np.bincount(hist.user_ids, minlength=nu)
    k = int(ni - seen.max())
    items, scores = top_k(jnp.asarray(ue), jnp.asarray(ie), users, [hist], k, chunk_size=8)
    for u in users:
        assert not set(items[u]) & set(hist.item_ids[hist.user_ids == u].tolist())
        assert np.all(np.diff(scores[u]) <= 0)
        np.testing.assert_allclose(scores[u], (ie @ ue[u])[items[u]], rtol=1e-5)
    with pytest.raises(ValueError, match="k=26 must be between 1 and the catalogue size"):
        top_k(jnp.asarray(ue), jnp.asarray(ie), users, [hist], 26)


def test_k_larger_than_catalogue():
    inter = make_interactions([0, 1], [0, 1])
    task = prepare_ranking(inter, [])
    with pytest.raises(ValueError, match="K=50 is larger than the catalogue \\(2 items\\)"):
        Ranker((10, 50))(jnp.ones((2, 3)), jnp.ones((2, 3)), task)


def test_auc_and_classification_against_brute_force():
    rng = np.random.default_rng(3)
    labels = rng.random(200) < 0.4
    scores = np.round(rng.normal(size=200), 1)  # ties on purpose
    pos, neg = scores[labels], scores[~labels]
    brute = np.mean([(p > q) + 0.5 * (p == q) for p in pos for q in neg])
    assert auc(labels, scores) == pytest.approx(brute)
    m = classification_metrics(labels, scores)
    assert m["accuracy"] == pytest.approx(np.mean((scores > 0) == labels))
    p = 1 / (1 + np.exp(-scores))
    assert m["logloss"] == pytest.approx(-np.mean(labels * np.log(p) + (~labels) * np.log(1 - p)))
