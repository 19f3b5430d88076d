import numpy as np
import pytest

from recjax.data.split import split_cold_items, split_cold_users
from recjax.eval.coldstart import cold_tasks, evaluate_cold, popularity_scores, text_knn_scores
from tests.conftest import make_interactions


def data(seed=0):
    rng = np.random.default_rng(seed)
    pairs = np.unique(rng.integers(0, [40, 60], size=(900, 2)), axis=0)
    return make_interactions(pairs[:, 0], pairs[:, 1], num_users=40, num_items=60)


def test_cold_item_tasks_rank_only_their_kind():
    sp = split_cold_items(data(), 0.25, seed=1)
    tasks = cold_tasks(sp)
    cold = np.zeros(60, bool)
    cold[sp.cold_item_ids] = True
    assert np.array_equal(np.asarray(tasks["cold"].candidates), cold)
    assert np.array_equal(np.asarray(tasks["warm"].candidates), ~cold)
    # An oracle that scores exactly the test items highest gets hit@10 = 1 on both parts.
    ue = np.zeros((40, 60), np.float32)
    ue[sp.test.user_ids, sp.test.item_ids] = 1
    out = evaluate_cold(ue, np.eye(60, dtype=np.float32), tasks, ks=(10,))
    assert out["cold"]["hit@10"] == pytest.approx(1.0)
    assert out["warm"]["hit@10"] == pytest.approx(1.0)


def test_popularity_cannot_rank_cold_items():
    sp = split_cold_items(data(), 0.25, seed=1)
    ue, ie = popularity_scores(sp)
    assert np.all(ie[sp.cold_item_ids] == 0)  # every cold item ties at zero


def test_text_knn_is_the_mean_of_liked_item_texts():
    sp = split_cold_users(data(), 0.25, seed=2)
    rng = np.random.default_rng(0)
    item_text, user_text = rng.normal(size=(60, 8)), rng.normal(size=(40, 8))
    ue, ie = text_knn_scores(sp, item_text, user_text)
    u = int(sp.train.user_ids[0])
    liked = ie[sp.train.item_ids[sp.train.user_ids == u]].mean(0)
    np.testing.assert_allclose(ue[u], liked / np.linalg.norm(liked), rtol=1e-5)
    c = int(sp.cold_user_ids[0])
    np.testing.assert_allclose(ue[c], user_text[c] / np.linalg.norm(user_text[c]), rtol=1e-5)
    assert set(cold_tasks(sp)) == {"warm", "cold"}


def test_warm_split_has_no_cold_tasks():
    from recjax.data.split import split_random

    with pytest.raises(ValueError, match="no cold items or users"):
        cold_tasks(split_random(data()))


def test_ties_are_not_broken_by_item_index():
    from recjax.data.split import split_random
    from recjax.eval.ranking import Ranker, prepare_ranking

    sp = split_random(data(), seed=4)
    task = prepare_ranking(sp.test, [sp.train])
    zeros = (np.zeros((40, 2), np.float32), np.zeros((60, 2), np.float32))
    # Every item ties: index order would favour the test items with the smallest ids.
    low = sp.test.item_ids < 10
    biased = sp.test.take(np.nonzero(low)[0])
    by_index = Ranker((10,))(*zeros, prepare_ranking(biased, [sp.train]))["recall@10"]
    random_ties = Ranker((10,), tie_noise=1e-6)(*zeros, prepare_ranking(biased, [sp.train]))
    assert by_index > 0.5 and random_ties["recall@10"] < 0.4
    assert Ranker((10,), tie_noise=1e-6)(*zeros, task)["recall@10"] < 0.4
