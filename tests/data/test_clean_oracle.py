"""The vectorised cleaning equals the former string-based cleaning (``reference_clean``) on
random messy logs, whether the file is read by the Arrow fast path or as plain strings."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recjax.config.schema import CleanConfig
from recjax.data.clean import clean
from recjax.data.columns import ColumnTable
from recjax.data.readers import read_atomic_dataset
from recjax.types import RawTable
from tests.data import reference_clean

USERS = ["1", "2", "10", " 2", "007", "7", "-3", "", "NA", "u9"]
ITEMS = ["a", "b", "c", "d ", "None", "", "12"]
RATINGS = ["1", "2.5", "4", " 5", "5.0", "x", "inf", "nan", "", "3"]
STAMPS = ["10", "11", "11", "12.5", "9", "", "abc", "1e3"]
BEHAVIORS = ["view", "buy", " view", "", "unknown"]


def same(a, b):
    for f in ("user_ids", "item_ids", "ratings", "timestamps", "behaviors"):
        got, want = getattr(a.interactions, f), getattr(b.interactions, f)
        assert got.dtype == want.dtype, f
        np.testing.assert_array_equal(got, want, err_msg=f)
    np.testing.assert_array_equal(a.id_maps.user_raw, b.id_maps.user_raw)
    np.testing.assert_array_equal(a.id_maps.item_raw, b.id_maps.item_raw)
    assert a.id_maps.behaviors == b.id_maps.behaviors
    assert [(s.name, s.rows_before, s.rows_after, s.filled, dict(s.details)) for s in a.report] \
        == [(s.name, s.rows_before, s.rows_after, s.filled, dict(s.details)) for s in b.report]
    for fa, fb in ((a.item_features, b.item_features), (a.user_features, b.user_features)):
        assert set(fa) == set(fb)
        for k in fa:
            np.testing.assert_array_equal(fa[k], fb[k])


row = st.tuples(st.sampled_from(USERS), st.sampled_from(ITEMS), st.sampled_from(RATINGS),
                st.sampled_from(STAMPS), st.sampled_from(BEHAVIORS))
config = st.builds(
    CleanConfig, dedup=st.sampled_from(["first", "last", "max_rating", "none"]),
    min_rating=st.sampled_from([None, 2.0, 4.0]), max_rating=st.sampled_from([None, 4.5]),
    behaviors=st.sampled_from([None, ("view",), ("view", "buy")]),
    user_core=st.integers(0, 3), item_core=st.integers(0, 3))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(row, min_size=1, max_size=40), config, st.booleans(), st.booleans())
def test_clean_matches_reference(tmp_path, rows, cfg, with_behavior, with_side):
    d = tmp_path / "log"
    d.mkdir(exist_ok=True)
    cols = ["user_id:token", "item_id:token", "rating:float", "timestamp:float"]
    cols += ["behavior:token"] if with_behavior else []
    body = ["\t".join(r[: len(cols)]) for r in rows]
    (d / "log.inter").write_text("\t".join(cols) + "\n" + "\n".join(body) + "\n")
    for f in ("log.item", "log.user"):
        (d / f).unlink(missing_ok=True)
    if with_side:
        (d / "log.item").write_text("item_id:token\ttitle:token_seq\tyear:token\n"
                                    "a\tAlpha\t1990\nb\t\t\nzz\tZed\t2001\nb\tdup\t1\n")
        (d / "log.user").write_text("user_id:token\tage:token\n1\t30\n7\tNA\n")
    typed = read_atomic_dataset(d, typed=True)
    plain = read_atomic_dataset(d, typed=False)
    assert isinstance(plain.interactions, RawTable)
    try:
        want = reference_clean.clean(plain, cfg)
    except ValueError as e:  # EmptyDatasetError: every path must fail the same way
        for raw in (typed, plain):
            try:
                clean(raw, cfg)
            except ValueError as got:
                assert str(got) == str(e)
            else:
                raise AssertionError("expected an error: " + str(e)) from None
        return
    for raw in (typed, plain):
        same(clean(raw, cfg), want)


def test_fast_path_is_taken_for_a_regular_file(tmp_path):
    d = tmp_path / "ok"
    d.mkdir()
    (d / "ok.inter").write_text("user_id:token\titem_id:token\trating:float\n1\ta\tx\n2\tb\t3\n")
    table = read_atomic_dataset(d, typed=True).interactions
    assert isinstance(table, ColumnTable)  # "x" made the rating column strings, not a fallback
    assert list(table.lines) == [2, 3]
