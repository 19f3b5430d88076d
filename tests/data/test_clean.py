import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recjax.config.schema import CleanConfig
from recjax.data.clean import EmptyDatasetError, clean, k_core_mask
from recjax.types import RawDataset, RawTable


def table(source="t.inter", lines=None, types=None, **cols):
    n = len(next(iter(cols.values())))
    arrs = {}
    for k, v in cols.items():
        a = np.empty(n, object)
        a[:] = v
        arrs[k] = a
    kinds = {k: "float" if k in ("rating", "timestamp") else "token" for k in cols}
    kinds.update(types or {})
    return RawTable(source, arrs, kinds, np.asarray(lines or range(2, n + 2)))


def step(ds, prefix):
    return next(s for s in ds.report if s.name.startswith(prefix))


def test_invalid_rows_are_counted_per_reason_not_coerced():
    raw = RawDataset("t", table(user_id=["1", "", "2", "3", "4"],
                                item_id=["a", "b", "", "c", "d"],
                                rating=["4", "5", "3", "x", "inf"],
                                timestamp=["10", "11", "12", "13", "14"]))
    ds = clean(raw)
    s = step(ds, "invalid")
    assert (s.rows_before, s.rows_after) == (5, 1)
    assert s.details == {"missing user_id": 1, "missing item_id": 1, "rating not a number": 2}
    with pytest.raises(ValueError, match=r"t.inter, line 3: missing user_id \(4 invalid"):
        clean(raw, CleanConfig(on_invalid="raise"))


@pytest.mark.parametrize("policy, rating", [("first", 2.0), ("last", 5.0), ("max_rating", 5.0),
                                            ("none", None)])
def test_dedup_policies(policy, rating):
    # (1, a) three times: rated 2 at t=5, 5 at t=9, 1 at t=7; the file order is not the time order.
    raw = RawDataset("t", table(user_id=["1", "1", "1", "2"], item_id=["a", "a", "a", "a"],
                                rating=["5", "2", "1", "3"], timestamp=["9", "5", "7", "1"]))
    ds = clean(raw, CleanConfig(dedup=policy))
    s = step(ds, "duplicates")
    x = ds.interactions
    if policy == "none":
        assert s.removed == 0 and len(x) == 4
        return
    assert s.removed == 2
    assert float(x.ratings[x.user_ids == 0][0]) == rating


def test_dedup_keeps_distinct_behaviours():
    raw = RawDataset("t", table(user_id=["1", "1", "1"], item_id=["a", "a", "a"],
                                behavior=["view", "purchase", "view"]))
    ds = clean(raw)
    assert len(ds.interactions) == 2
    assert ds.id_maps.behaviors == ("purchase", "view")
    assert sorted(ds.interactions.behaviors.tolist()) == [0, 1]


def test_value_filter():
    raw = RawDataset("t", table(user_id=["1", "1", "2", "2"], item_id=["a", "b", "a", "b"],
                                rating=["1", "4", "5", "3"]))
    ds = clean(raw, CleanConfig(min_rating=3.5))
    s = step(ds, "filter")
    assert s.removed == 2 and s.details == {"rating < 3.5": 2}
    assert sorted(ds.interactions.ratings.tolist()) == [4.0, 5.0]


def brute_force_core(u, i, ku, ki):
    """Largest row subset where every present user has >= ku rows and item >= ki (the k-core
    is the unique maximal such subset)."""
    n = len(u)
    best = ()
    for r in range(n, -1, -1):
        for rows in itertools.combinations(range(n), r):
            uu, ii = u[list(rows)], i[list(rows)]
            if all((uu == x).sum() >= ku for x in uu) and all((ii == x).sum() >= ki for x in ii):
                return set(rows)
    return set(best)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=10,
                unique=True), st.integers(1, 3), st.integers(1, 3))
def test_k_core_is_the_maximal_core(pairs, ku, ki):
    u = np.array([p[0] for p in pairs])
    i = np.array([p[1] for p in pairs])
    keep, _ = k_core_mask(u, i, ku, ki)
    assert set(np.nonzero(keep)[0]) == brute_force_core(u, i, ku, ki)


def test_k_core_iterates_to_fixed_point():
    # Removing item c (1 row) drops user 3 below 2, which then drops item b below 2.
    raw = RawDataset("t", table(user_id=["1", "1", "2", "2", "3", "3"],
                                item_id=["a", "d", "a", "d", "b", "c"]))
    ds = clean(raw, CleanConfig(user_core=2, item_core=2))
    s = step(ds, "k-core")
    assert s.removed == 2 and s.details["rounds"] >= 1
    assert ds.num_users == 2 and ds.num_items == 2


def test_empty_after_filtering_names_the_step():
    raw = RawDataset("toy", table(user_id=["1", "2"], item_id=["a", "b"]))
    with pytest.raises(EmptyDatasetError, match="empty after the 'k-core .user>=3"):
        clean(raw, CleanConfig(user_core=3))


def test_side_information_filled_and_aligned():
    inter = table(user_id=["10", "2", "2"], item_id=["a", "b", "c"])
    items = table(source="t.item", item_id=["a", "b", "c", "zzz"],
                  title=["Alpha", "unknown", "Gamma", "Unused"],
                  year=["1990", "", "2000", "1800"], genres=["Drama Comedy", "", "x", "y"],
                  types={"title": "token_seq", "genres": "token_seq"})
    users = table(source="t.user", user_id=["2"], age=["30"], occupation=["writer"])
    ds = clean(RawDataset("t", inter, items, users))
    f = ds.item_features
    assert list(f["title"]) == ["Alpha", "", "Gamma"]
    assert list(f["year"]) == [1990.0, 1995.0, 2000.0]  # median of the known years
    assert list(f["genres"]) == [("Drama", "Comedy"), ("unknown",), ("x",)]
    # Users are remapped numerically: "2" -> 0, "10" -> 1; user 10 has no side row.
    assert list(ds.id_maps.user_raw) == ["2", "10"]
    assert list(ds.user_features["occupation"]) == ["writer", "unknown"]
    assert list(ds.user_features["age"]) == [30.0, 30.0]
    s = step(ds, "side-info")
    assert s.details["item rows without interactions"] == 1
    assert s.details["users without a side row"] == 1
    assert s.filled == 1 + 1 + 1 + 1 + 1


def test_remap_round_trip():
    raw = RawDataset("t", table(user_id=["7", "3", "7"], item_id=["b", "a", "c"]))
    ds = clean(raw)
    ids = ds.id_maps
    x = ds.interactions
    assert x.user_ids.dtype == np.int32 and x.item_ids.dtype == np.int32
    assert [ids.user_raw[u] for u in x.user_ids] == ["7", "3", "7"]
    assert [ids.item_raw[i] for i in x.item_ids] == ["b", "a", "c"]
    assert ids.user_index("7") == 1 and list(ids.item_index(["c", "a"])) == [2, 0]
    with pytest.raises(KeyError, match="unknown user id '99'"):
        ids.user_index("99")


def test_real_ml100k_counts(ml100k_dir):
    from recjax.data.datasets import load_dataset

    ds = load_dataset("ml-100k")
    assert (ds.num_users, ds.num_items, len(ds.interactions)) == (943, 1682, 100_000)
    assert ds.item_features["title"][0] == "Toy Story"
    assert ds.item_features["genres"][0] == ("Animation", "Children's", "Comedy")
    assert not np.isnan(ds.item_features["year"]).any()
    assert set(ds.user_features) == {"age", "gender", "occupation", "zip_code"}
