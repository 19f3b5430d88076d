"""Closed-form baselines against float64 numpy references, a hand-worked case, and EASE's
optimality conditions."""

from __future__ import annotations

import numpy as np
import pytest

from recjax.models import closed_form_math as cf


def random_binary(seed, num_users=40, num_items=25, density=0.2):
    rng = np.random.default_rng(seed)
    x = (rng.random((num_users, num_items)) < density).astype(np.float32)
    x[:, -1] = 0.0  # an item nobody has: ItemKNN's eps and EASE's l2 keep it finite
    return x


def ease_reference(x, l2):
    x = x.astype(np.float64)
    p = np.linalg.inv(x.T @ x + l2 * np.eye(x.shape[1]))
    b = p / -np.diag(p)
    np.fill_diagonal(b, 0.0)
    return b


def itemknn_reference(x, k, shrink):
    """RecBole's ComputeSimilarity(method="item") loop, column by column, in float64."""
    x = x.astype(np.float64)
    norms = np.sqrt((x**2).sum(0))
    num_items = x.shape[1]
    w = np.zeros((num_items, num_items))
    for j in range(num_items):
        line = x.T @ x[:, j]
        line[j] = 0.0
        line = line / (norms[j] * norms + shrink + 1e-6)
        top = np.argsort(-line, kind="stable")[: min(k, num_items)]
        w[top, j] = line[top]
    return w


# X = [[1,1,0],[0,1,1]], l2 = 1: G = [[2,1,0],[1,3,1],[0,1,2]], det 8,
# P = [[5,-2,1],[-2,4,-2],[1,-2,5]] / 8, B_ij = -P_ij / P_jj.
HAND_X = np.array([[1, 1, 0], [0, 1, 1]], np.float32)
HAND_EASE = np.array([[0, 1 / 2, -1 / 5], [2 / 5, 0, 2 / 5], [-1 / 5, 1 / 2, 0]])


def test_interaction_matrix_binary_with_duplicates():
    x = cf.interaction_matrix(np.array([0, 0, 1, 2, 0]), np.array([1, 1, 2, 0, 3]), 4, 5)
    want = np.zeros((4, 5), np.float32)
    want[[0, 1, 2, 0], [1, 2, 0, 3]] = 1.0
    assert x.dtype == np.float32 and x.shape == (4, 5)
    np.testing.assert_array_equal(np.asarray(x), want)


def test_popularity_counts_users():
    np.testing.assert_array_equal(np.asarray(cf.popularity(HAND_X)), [1, 2, 1])
    x = random_binary(0)
    np.testing.assert_array_equal(np.asarray(cf.popularity(x)), x.sum(0))


def test_ease_hand_computed():
    b = np.asarray(cf.ease_weights(HAND_X, 1.0))
    assert b.dtype == np.float32
    np.testing.assert_allclose(b, HAND_EASE, atol=1e-6)


@pytest.mark.parametrize("l2", [0.5, 10.0, 200.0])
def test_ease_matches_float64_reference(l2):
    x = random_binary(1)
    b = np.asarray(cf.ease_weights(x, l2))
    ref = ease_reference(x, l2)
    np.testing.assert_allclose(b, ref, atol=2e-5 * np.abs(ref).max())
    np.testing.assert_array_equal(np.diag(b), 0.0)


def test_ease_is_the_constrained_minimum():
    """Stationarity of ||X - XB||^2 + l2 ||B||^2 + 2 sum_j mu_j B_jj: (G B - X^T X)_ij = 0 off
    the diagonal (the diagonal is absorbed by the multipliers mu), and feasibility diag(B) = 0;
    a feasible perturbation never lowers the objective."""
    l2 = 3.0
    x = random_binary(2).astype(np.float64)
    b = np.asarray(cf.ease_weights(x.astype(np.float32), l2), np.float64)
    gram = x.T @ x
    residual = (gram + l2 * np.eye(len(gram))) @ b - gram
    off = residual * (1 - np.eye(len(gram)))
    assert np.abs(off).max() < 1e-4 * np.abs(gram).max()
    np.testing.assert_array_equal(np.diag(b), 0.0)

    def objective(w):
        return np.sum((x - x @ w) ** 2) + l2 * np.sum(w**2)

    rng = np.random.default_rng(0)
    for _ in range(5):
        d = rng.normal(size=b.shape) * 1e-2
        np.fill_diagonal(d, 0.0)
        assert objective(b + d) > objective(b)


def test_itemknn_hand_computed():
    # Items 0..2 with norms sqrt2, sqrt3, 1; dots 01 = 2, 12 = 1, 02 = 0. With k = 1 each
    # target's best source: 0 <- 1, 1 <- 0, 2 <- 1.
    x = np.array([[1, 1, 0], [0, 1, 1], [1, 1, 0]], np.float32)
    for shrink in (0.0, 1.0):
        s01 = 2 / (np.sqrt(6) + shrink + 1e-6)
        s12 = 1 / (np.sqrt(3) + shrink + 1e-6)
        want = np.array([[0, s01, 0], [s01, 0, s12], [0, 0, 0]])
        np.testing.assert_allclose(np.asarray(cf.itemknn_weights(x, 1, shrink)), want, rtol=1e-6)


@pytest.mark.parametrize("k,shrink", [(3, 0.0), (5, 10.0), (100, 0.0)])
def test_itemknn_matches_recbole_reference(k, shrink):
    x = random_binary(3)
    b = np.asarray(cf.itemknn_weights(x, k, shrink))
    np.testing.assert_allclose(b, itemknn_reference(x, k, shrink), atol=1e-6)


def test_itemknn_topk_per_target_column():
    x = random_binary(4, num_users=60, num_items=30, density=0.3)
    k = 4
    b = np.asarray(cf.itemknn_weights(x, k, 2.0))
    sim = np.asarray(cf.item_cosine_similarity(x, 2.0))
    # Before the top-k: symmetric, zero diagonal, cosine in [0, 1).
    np.testing.assert_allclose(sim, sim.T, rtol=1e-6)
    np.testing.assert_array_equal(np.diag(sim), 0.0)
    assert sim.min() >= 0 and sim.max() < 1
    # After: at most k non-zeros per column (target item), none on the diagonal, each column
    # keeping its k largest similarities; rows are not limited, so B is no longer symmetric.
    assert ((b != 0).sum(axis=0) <= k).all()
    assert ((b != 0).sum(axis=0) == k).any()
    np.testing.assert_array_equal(np.diag(b), 0.0)
    for j in range(b.shape[1]):
        kept = b[:, j][b[:, j] != 0]
        np.testing.assert_allclose(np.sort(kept)[::-1], np.sort(sim[:, j])[::-1][: len(kept)])
    assert not np.allclose(b, b.T)


def test_scores_through_ranking_path():
    """recjax's scoring (user_emb @ item_emb.T, history masked) gives X @ B for EASE/ItemKNN
    (user_emb = X, item_emb = B.T) and popularity for Pop (user_emb = ones)."""
    from recjax.eval.ranking import masked_scores

    x = random_binary(5)
    users = np.arange(4)
    no_history = np.zeros((4, 1), np.int32), np.full((4, 1), x.shape[1], np.int32)
    for b in (cf.ease_weights(x, 5.0), cf.itemknn_weights(x, 3, 0.0)):
        scores = masked_scores(x, np.asarray(b).T, users, *no_history, x.shape[1])
        np.testing.assert_allclose(np.asarray(scores), x[:4] @ np.asarray(b), rtol=1e-5, atol=1e-6)
    pop = np.asarray(cf.popularity(x))[:, None]
    scores = masked_scores(
        np.ones((x.shape[0], 1), np.float32), pop, users, *no_history, x.shape[1]
    )
    np.testing.assert_array_equal(np.asarray(scores), np.tile(x.sum(0), (4, 1)))


def test_check_fits_error_names_items_and_memory():
    needed = cf.dense_item_memory_bytes(50_000, copies=4)
    assert needed == 4 * 50_000**2 * 4
    with pytest.raises(
        ValueError,
        match=r"EASE on 50,000 items needs about 37\.25 GiB .*"
        r"only 8\.00 GiB is available",
    ):
        cf.check_fits(50_000, "EASE", available_bytes=8 * 2**30)
    assert cf.check_fits(1000, "ItemKNN", available_bytes=8 * 2**30) == 3 * 1000**2 * 4
    with pytest.raises(ValueError, match="valid: \\['EASE', 'ItemKNN'\\]"):
        cf.check_fits(10, "SLIM", available_bytes=2**30)


def test_available_memory_is_positive_on_this_machine():
    free = cf.available_memory_bytes()
    assert free is None or free > 0
    cf.check_fits(10, "EASE")  # tiny: fits anywhere, and reads the real free memory
