import jax
import jax.numpy as jnp
import numpy as np
import pytest

from recjax.eval.ranking import Ranker, jitter_scores, prepare_ranking, top_k
from tests.conftest import make_interactions


def positive_nan_top_k(top_k):
    """``top_k`` as on a GPU or ARM, whose canonical NaN is positive (x86's is negative, which
    hides a NaN by sinking it): every NaN is made positive first, and ranks first."""
    return lambda x, k: top_k(jnp.where(jnp.isnan(x), jnp.nan, x), k)


def test_tie_noise_keeps_masked_scores_masked():
    scores = jnp.asarray([[2.0, -jnp.inf, 0.0, -jnp.inf, -3.0, -jnp.inf]])
    masked = np.isneginf(np.asarray(scores))
    key = jax.random.key(0)
    # The unguarded expression: -inf + u * (1 + |-inf|) = -inf + inf = NaN.
    u = jax.random.uniform(key, scores.shape) * 1e-6
    assert np.isnan(np.asarray(scores + u * (1.0 + jnp.abs(scores))))[masked].all()
    out = np.asarray(jitter_scores(scores, key, 1e-6))
    assert not np.isnan(out).any() and np.isneginf(out[masked]).all()
    np.testing.assert_allclose(out[~masked], np.asarray(scores)[~masked], rtol=1e-5, atol=1e-5)
    assert np.all(out[~masked] >= np.asarray(scores)[~masked])
    assert not np.isin(np.asarray(positive_nan_top_k(jax.lax.top_k)(out, 3)[1]),
                       np.nonzero(masked[0])[0]).any()


def test_tie_noise_never_ranks_history_items_with_positive_nan(monkeypatch):
    # One user; the four history items score highest, the relevant item 5 is the best of the
    # rest. With masked scores turned into positive NaN, the history would fill the top 2.
    ue = jnp.ones((1, 1))
    ie = jnp.asarray([[9.0], [8.0], [7.0], [6.0], [1.0], [2.0]])
    train = make_interactions([0, 0, 0, 0], [0, 1, 2, 3], num_users=1, num_items=6)
    test = make_interactions([0], [5], num_users=1, num_items=6)
    task = prepare_ranking(test, [train], chunk_size=4)
    monkeypatch.setattr(jax.lax, "top_k", positive_nan_top_k(jax.lax.top_k))
    with jax.disable_jit():  # so the patched top_k is the one traced
        m = Ranker((1, 2), tie_noise=1e-6)(ue, ie, task)
    assert m["hit@1"] == 1.0 and m["mrr@2"] == 1.0


@pytest.mark.parametrize("score", [5.0, 300.0])
def test_tie_noise_breaks_ties_of_equal_nonzero_scores_uniformly(score):
    # Every item ties at a nonzero score. Relative noise of 1e-6 is only ~8 float32 ulps of the
    # score, so it leaves ~16 distinct levels, and ties within a level would still go by item
    # index. Each user's relevant items are the 20 lowest ids of 200: with uniform tie-breaking
    # recall@10 is 10/200 = 0.05 in expectation (index order inside the levels gives ~0.085).
    nu, ni = 300, 200
    ue = jnp.ones((nu, 1))
    ie = jnp.full((ni, 1), score)
    users, items = np.meshgrid(np.arange(nu), np.arange(20), indexing="ij")
    test = make_interactions(users.ravel(), items.ravel(), num_users=nu, num_items=ni)
    recall = Ranker((10,), tie_noise=1e-6)(ue, ie, prepare_ranking(test, [], 64))["recall@10"]
    assert recall == pytest.approx(0.05, abs=0.012)


def test_top_k_masks_history_of_repeated_users():
    # A user asked for twice (in one chunk and across chunks) is masked on every row.
    rng = np.random.default_rng(2)
    nu, ni = 6, 12
    pairs = np.unique(rng.integers(0, [nu, ni], size=(40, 2)), axis=0)
    hist = make_interactions(pairs[:, 0], pairs[:, 1], num_users=nu, num_items=ni)
    ue, ie = jnp.asarray(rng.normal(size=(nu, 3))), jnp.asarray(rng.normal(size=(ni, 3)))
    users = np.array([3, 3, 1, 3, 0, 1, 3])
    items, scores = top_k(ue, ie, users, [hist], 4, chunk_size=2)
    alone, _ = top_k(ue, ie, np.unique(users), [hist], 4, chunk_size=2)
    for row, u in enumerate(users):
        assert not set(items[row]) & set(hist.item_ids[hist.user_ids == u].tolist())
        assert items[row].tolist() == alone[np.searchsorted(np.unique(users), u)].tolist()
