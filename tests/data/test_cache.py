"""The cleaned-dataset cache: reused while nothing changes, rebuilt when a file, the config or
an entry's bytes change, and never left half-written."""

import json
import os
import warnings

import numpy as np
import pytest

from recjax.config.schema import CleanConfig, DataConfig, SplitConfig
from recjax.data import cache as C
from recjax.data import datasets
from recjax.data.datasets import load


def assert_same(a, b):
    (da, sa), (db, sb) = a, b
    assert da.name == db.name and da.report == db.report
    for x, y in ((da.interactions, db.interactions), (sa.train, sb.train),
                 (sa.valid, sb.valid), (sa.test, sb.test)):
        assert (x.num_users, x.num_items) == (y.num_users, y.num_items)
        for f in ("user_ids", "item_ids", "ratings", "timestamps", "behaviors"):
            u, v = getattr(x, f), getattr(y, f)
            assert u.dtype == v.dtype, f
            np.testing.assert_array_equal(u, v)
    assert list(da.id_maps.user_raw) == list(db.id_maps.user_raw)
    assert list(da.id_maps.item_raw) == list(db.id_maps.item_raw)
    assert da.id_maps.behaviors == db.id_maps.behaviors
    for fa, fb in ((da.item_features, db.item_features), (da.user_features, db.user_features)):
        assert list(fa) == list(fb)
        for k in fa:
            assert fa[k].dtype == fb[k].dtype
            assert fa[k].tolist() == fb[k].tolist()
    np.testing.assert_array_equal(sa.cold_item_ids, sb.cold_item_ids)
    assert sa.cold_item_ids.dtype == sb.cold_item_ids.dtype
    assert dict(sa.dropped) == dict(sb.dropped)


@pytest.fixture
def toy(tmp_path):
    d = tmp_path / "toy"
    d.mkdir()
    rng = np.random.default_rng(0)
    rows = [f"u{u}\ti{i}\t{r}\t{t}\t{b}" for u, i, r, t, b in zip(
        rng.integers(0, 30, 600), rng.integers(0, 40, 600), rng.integers(1, 6, 600),
        rng.integers(0, 10**6, 600), rng.choice(["view", "buy"], 600))]
    (d / "toy.inter").write_text("user_id:token\titem_id:token\trating:float\t"
                                 "timestamp:float\tbehavior:token\n" + "\n".join(rows) + "\n")
    items = [f"i{i}\tTitle {i}\t{1990 + i if i % 7 else ''}\tDrama Comedy" for i in range(40)]
    (d / "toy.item").write_text("item_id:token\tmovie_title:token_seq\trelease_year:token\t"
                                "class:token_seq\n" + "\n".join(items) + "\n")
    cfg = DataConfig(name="toy", path=str(d), clean=CleanConfig(user_core=2),
                     split=SplitConfig(method="cold_item", cold_fraction=0.2, seed=3))
    return d, cfg


def count_builds(monkeypatch):
    calls = []
    real = datasets.clean

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(datasets, "clean", counting)
    return calls


def test_reuse_gives_the_same_dataset_and_split(toy, monkeypatch, _private_cleaned_cache):
    d, cfg = toy
    calls = count_builds(monkeypatch)
    fresh = load(cfg, cache=False)
    first = load(cfg)
    again = [load(cfg) for _ in range(3)]  # a sweep: one clean, then loads
    assert len(calls) == 2  # the uncached load and the first cached one
    assert_same(first, fresh)
    for a in again:
        assert_same(a, fresh)
    assert len(fresh[1].cold_item_ids) and fresh[1].dropped is not None
    entries = [p for p in _private_cleaned_cache.iterdir() if not p.name.startswith(".")]
    assert len(entries) == 1 and (entries[0] / "meta.json").is_file()


def test_invalidation_by_file_and_config(toy, monkeypatch):
    d, cfg = toy
    calls = count_builds(monkeypatch)
    load(cfg)
    load(DataConfig(**{**vars(cfg), "split": SplitConfig(seed=4)}))  # another config
    assert len(calls) == 2
    inter = d / "toy.inter"
    text = inter.read_text()
    inter.write_text(text.replace("\tbuy\n", "\tbye\n", 1))  # same size, new content
    changed = load(cfg)
    assert len(calls) == 3
    assert_same(changed, load(cfg, cache=False))
    st = inter.stat()
    os.utime(inter, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: rebuilt
    load(cfg)
    assert len(calls) == 5  # the uncached load above counts too


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete_meta", "bad_json"])
def test_corrupted_entry_is_rebuilt_with_a_warning(toy, monkeypatch, _private_cleaned_cache,
                                                    damage):
    d, cfg = toy
    good = load(cfg)
    entry = next(p for p in _private_cleaned_cache.iterdir() if not p.name.startswith("."))
    target = entry / "interactions.parquet"
    data = bytearray(target.read_bytes())
    if damage == "flip":
        for k in range(100, len(data) - 100, 97):
            data[k] ^= 0xFF
        target.write_bytes(bytes(data))
    elif damage == "truncate":
        target.write_bytes(bytes(data[: len(data) // 2]))
    elif damage == "delete_meta":
        (entry / "meta.json").unlink()
    else:
        (entry / "meta.json").write_text("{not json")
    calls = count_builds(monkeypatch)
    with pytest.warns(UserWarning, match="cache entry .* is unusable"):
        rebuilt = load(cfg)
    assert len(calls) == 1
    assert_same(rebuilt, good)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_same(load(cfg), good)  # the rebuilt entry is valid
    assert len(calls) == 1


def test_failed_build_leaves_nothing(toy, monkeypatch, _private_cleaned_cache):
    d, cfg = toy

    def broken(*a, **k):
        raise RuntimeError("killed mid-clean")

    monkeypatch.setattr(datasets, "clean", broken)
    with pytest.raises(RuntimeError, match="killed"):
        load(cfg)
    assert [p for p in _private_cleaned_cache.iterdir() if not p.name.endswith(".lock")] == []


def test_entry_records_what_it_holds(toy, _private_cleaned_cache):
    d, cfg = toy
    ds, sp = load(cfg)
    entry = next(p for p in _private_cleaned_cache.iterdir() if not p.name.startswith("."))
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["num_users"] == ds.num_users and meta["name"] == "toy"
    assert set(meta["files"]) == {p.name for p in entry.iterdir()} - {"meta.json"}
    assert [s["name"] for s in meta["report"]][-1] == "remap"


def test_ml100k_through_the_cache_is_unchanged(ml100k_dir):
    from tests.data.test_ml100k_identity import GOLDEN, fingerprint

    for _ in range(2):  # built, then loaded
        ds, sp = load(DataConfig())
        got = fingerprint(ds)
        assert got == GOLDEN["default"]
        assert (len(sp.train), len(sp.valid), len(sp.test)) == (80_808, 9_596, 9_596)


def test_code_change_changes_the_key(monkeypatch):
    cfg = DataConfig()
    key = C.cache_key(cfg, {})
    monkeypatch.setattr(C, "_code_digest", lambda: "other code")
    assert C.cache_key(cfg, {}) != key


def test_loaded_arrays_are_writable_like_fresh_ones(toy):
    d, cfg = toy
    load(cfg)
    ds, sp = load(cfg)  # from the entry
    for x in (ds.interactions, sp.train):
        for f in ("user_ids", "item_ids", "ratings", "timestamps", "behaviors"):
            assert getattr(x, f).flags.writeable


def test_csv_file_outside_the_directory_invalidates(tmp_path, monkeypatch):
    from recjax.config.schema import CsvConfig

    d = tmp_path / "d"
    d.mkdir()
    log = tmp_path / "log.csv"
    log.write_text("user_id,item_id\na,x\nb,y\n")
    cfg = DataConfig(name="outside", path=str(d), format="csv",
                     csv=CsvConfig(interactions="../log.csv"),
                     split=SplitConfig(ratios=(1.0, 0.0, 0.0)))
    assert load(cfg)[0].num_items == 2
    log.write_text("user_id,item_id\na,x\nb,y\nc,z\n")
    assert load(cfg)[0].num_items == 3
