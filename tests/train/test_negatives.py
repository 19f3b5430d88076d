import jax
import jax.numpy as jnp
import numpy as np
import pytest

from recjax.graph import build_graph
from recjax.train.negatives import is_train_positive, lower_bound, sample_negatives
from tests.conftest import make_interactions


def random_train(seed, num_users=25, num_items=40, relation="none"):
    """Random rows with repeats; user 0 has every item, users 1-4 have none."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 300))
    users = rng.integers(5, num_users, n)
    items = rng.integers(0, num_items, n)
    users = np.r_[np.zeros(num_items, int), users]
    items = np.r_[np.arange(num_items), items]
    behaviors = rng.integers(0, 3, len(users)) if relation == "behavior" else None
    return make_interactions(users, items, behaviors=behaviors, num_users=num_users,
                             num_items=num_items)


@pytest.mark.parametrize("seed,relation", [(0, "none"), (1, "none"), (2, "behavior")])
def test_is_train_positive_matches_numpy(seed, relation):
    train = random_train(seed, relation=relation)
    truth = np.zeros((train.num_users, train.num_items), bool)
    truth[train.user_ids, train.item_ids] = True
    users, items = np.meshgrid(np.arange(train.num_users), np.arange(train.num_items),
                               indexing="ij")
    for dense_limit in (1 << 26, 0):
        g = build_graph(train, relation=relation, dense_limit=dense_limit)
        assert (g.positives is None) == (dense_limit == 0)
        got = np.asarray(is_train_positive(g, jnp.asarray(users), jnp.asarray(items)))
        np.testing.assert_array_equal(got, truth)
        assert got[0].all() and not got[1:5].any()
        # Broadcasting: [batch, 1] users against [k] items.
        got_b = is_train_positive(g, jnp.arange(train.num_users)[:, None],
                                  jnp.arange(train.num_items)[None, :])
        np.testing.assert_array_equal(np.asarray(got_b), truth)


def test_rejection_sampling_avoids_positives_without_dense_table():
    train = random_train(3)
    g = build_graph(train, dense_limit=0)
    truth = np.zeros((train.num_users, train.num_items), bool)
    truth[train.user_ids, train.item_ids] = True
    users = jnp.arange(1, train.num_users)  # user 0 has every item: nothing to avoid
    neg = np.asarray(sample_negatives(jax.random.key(1), g, users, 16, reject=True, tries=16))
    assert not truth[np.repeat(np.asarray(users), 16), neg.reshape(-1)].any()


def test_lower_bound_matches_searchsorted():
    rng = np.random.default_rng(4)
    values = np.sort(rng.integers(0, 30, 200)).astype(np.int32)
    lo = rng.integers(0, 200, 500)
    hi = np.minimum(lo + rng.integers(0, 60, 500), 200)
    target = rng.integers(-2, 33, 500)
    ref = np.array([a + np.searchsorted(values[a:b], t) for a, b, t in zip(lo, hi, target)])
    v = jnp.asarray(values)
    got = lower_bound(lambda i: v[jnp.minimum(i, 199)], jnp.asarray(lo, jnp.int32),
                      jnp.asarray(hi, jnp.int32), jnp.asarray(target, jnp.int32), 8)
    np.testing.assert_array_equal(np.asarray(got), ref)


def test_lower_bound_midpoint_does_not_overflow_int32():
    # A virtual sorted run value(i) = i near the top of int32: lo + hi would wrap negative.
    top = 2**31 - 1
    lo = jnp.asarray([top - 10, 2**30, 0], jnp.int32)
    hi = jnp.asarray([top, top, top], jnp.int32)
    target = jnp.asarray([top - 3, top - 1, 2**30 + 7], jnp.int32)
    got = lower_bound(lambda i: i, lo, hi, target, 31)
    assert np.asarray(got).tolist() == [top - 3, top - 1, 2**30 + 7]
