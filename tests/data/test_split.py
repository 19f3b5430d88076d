import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recjax.config.schema import SplitConfig
from recjax.data import split as S
from tests.conftest import make_interactions


def random_inter(seed, n_users=30, n_items=40, n=400):
    rng = np.random.default_rng(seed)
    pairs = np.unique(rng.integers(0, [n_users, n_items], size=(n, 2)), axis=0)
    return make_interactions(pairs[:, 0], pairs[:, 1], timestamps=rng.random(len(pairs)),
                             num_users=n_users, num_items=n_items)


def keys(part):
    return set(part.pairs().tolist())


def check_partition(inter, sp):
    tr, va, te = keys(sp.train), keys(sp.valid), keys(sp.test)
    assert not (tr & va) and not (tr & te) and not (va & te)
    assert len(tr) + len(va) + len(te) + sum(sp.dropped.values()) == len(inter)
    assert tr | va | te <= keys(inter)


def check_warm_users(sp):
    train_users = set(sp.train.user_ids.tolist())
    assert set(sp.valid.user_ids.tolist()) <= train_users
    assert set(sp.test.user_ids.tolist()) <= train_users


WARM = [SplitConfig(method=m) for m in ("random", "temporal", "global_temporal", "loo")] + [
    SplitConfig(method="kfold", fold=f, num_folds=3) for f in range(3)]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(WARM))
def test_warm_splits_partition_and_warm_users(seed, cfg):
    inter = random_inter(seed)
    sp = S.split(inter, cfg)
    check_partition(inter, sp)
    check_warm_users(sp)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["cold_item", "cold_user"]),
       st.floats(0.1, 0.5))
def test_cold_splits_hold_out_entirely(seed, method, frac):
    inter = random_inter(seed)
    sp = S.split(inter, SplitConfig(method=method, cold_fraction=frac, seed=seed))
    check_partition(inter, sp)
    if method == "cold_item":
        cold = set(sp.cold_item_ids.tolist())
        assert cold and not cold & set(sp.train.item_ids.tolist())
        assert cold & set(np.r_[sp.valid.item_ids, sp.test.item_ids].tolist())
        check_warm_users(sp)  # users of cold items are known
    else:
        cold = set(sp.cold_user_ids.tolist())
        assert cold and not cold & set(sp.train.user_ids.tolist())
        seen_items = set(sp.train.item_ids.tolist())
        assert set(np.r_[sp.valid.item_ids, sp.test.item_ids].tolist()) <= seen_items


def test_recbole_ratio_rounding():
    tr, va, te = S._ratio_counts(np.array([1, 2, 3, 5, 10, 20, 27]), (0.8, 0.1, 0.1))
    assert tr.tolist() == [1, 1, 1, 3, 8, 16, 23]
    assert va.tolist() == [0, 0, 1, 1, 1, 2, 2]
    assert te.tolist() == [0, 1, 1, 1, 1, 2, 2]


def test_random_split_is_seeded():
    inter = random_inter(0)
    a, b = S.split_random(inter, seed=1), S.split_random(inter, seed=1)
    c = S.split_random(inter, seed=2)
    assert keys(a.test) == keys(b.test)
    assert keys(a.test) != keys(c.test)


def test_temporal_split_orders_by_time_within_user():
    inter = random_inter(3)
    sp = S.split_temporal(inter)
    for u in np.unique(sp.test.user_ids):
        assert sp.train.timestamps[sp.train.user_ids == u].max() < \
            sp.test.timestamps[sp.test.user_ids == u].min()


def test_leave_one_out_takes_latest():
    inter = make_interactions([0, 0, 0, 1, 1, 2], [0, 1, 2, 0, 1, 2],
                              timestamps=[3, 1, 2, 5, 4, 1])
    sp = S.split_leave_one_out(inter)
    assert sorted(zip(sp.test.user_ids.tolist(), sp.test.item_ids.tolist())) == [(0, 0), (1, 0)]
    assert list(zip(sp.valid.user_ids.tolist(), sp.valid.item_ids.tolist())) == [(0, 2)]
    assert sorted(sp.train.user_ids.tolist()) == [0, 1, 2]


def test_kfold_tests_every_row_once():
    inter = random_inter(5)
    k = 4
    counts = {}
    for f in range(k):
        for key in keys(S.split_kfold(inter, k, f, seed=9).test):
            counts[key] = counts.get(key, 0) + 1
    deg = np.bincount(inter.user_ids, minlength=inter.num_users)
    eligible = {p for p, u in zip(inter.pairs().tolist(), inter.user_ids) if deg[u] >= 2}
    assert set(counts) == eligible and set(counts.values()) == {1}


def test_global_temporal_cut():
    inter = make_interactions([0, 0, 1, 1, 0, 2], [0, 1, 0, 1, 2, 2],
                              timestamps=[1, 2, 3, 4, 5, 6])
    sp = S.split_global_temporal(inter, (4, 1, 1))
    assert sorted(sp.train.timestamps.tolist()) == [1, 2, 3, 4]
    assert sp.valid.timestamps.tolist() == [5]
    assert len(sp.test) == 0 and sp.dropped == {"valid/test rows of users without train rows": 1}


def test_bad_split_config():
    with pytest.raises(ValueError, match="split method 'rnd' is unknown"):
        SplitConfig(method="rnd")
    with pytest.raises(ValueError, match="fold 5 is not in"):
        SplitConfig(method="kfold", fold=5, num_folds=5)


def test_real_ml100k_random_split(ml100k_dir):
    from recjax.data.datasets import load_dataset

    inter = load_dataset("ml-100k").interactions
    sp = S.split_random(inter, (0.8, 0.1, 0.1), seed=2020)
    check_partition(inter, sp)
    # The sizes follow from the per-user rounding rule alone (not the seed).
    assert (len(sp.train), len(sp.valid), len(sp.test)) == (80_808, 9_596, 9_596)
