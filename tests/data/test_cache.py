"""The cleaned-dataset cache: reused while nothing changes, rebuilt when a file, the config or
an entry's bytes change, and never left half-written."""

import json
import os
import warnings
from pathlib import Path

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
    assert set(meta["files"]) == {p.name for p in entry.iterdir()} - {"meta.json",
                                                                      "manifest.json"}
    manifest = json.loads((entry / "manifest.json").read_text())
    assert set(manifest["files"]) == {p.name for p in entry.iterdir()} - {"manifest.json"}
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


def test_code_digest_covers_every_module_on_the_cleaning_path(toy, monkeypatch):
    """Each recjax.data module a load imports (staging too: large files are cleaned out of
    core) is part of the key, and so are the pyarrow and numpy versions."""
    import sys

    import pyarrow as pa

    d, cfg = toy
    load(cfg, cache=False)
    from recjax.data import staging  # noqa: F401 - the out-of-core path of load

    used = {Path(m.__file__).resolve() for name, m in list(sys.modules.items())
            if name.startswith("recjax.data") and getattr(m, "__file__", None)}
    hashed = {p.resolve() for p in C.code_files()}
    assert used <= hashed
    for name in ("staging.py", "columns.py", "readers.py", "split.py", "clean.py"):
        assert any(p.name == name for p in hashed), name
    key = C.cache_key(cfg, {})
    monkeypatch.setattr(pa, "__version__", "0.0.1")
    assert C.cache_key(cfg, {}) != key
    monkeypatch.undo()
    monkeypatch.setattr(np, "__version__", "0.0.1")
    assert C.cache_key(cfg, {}) != key


def _edit_in_place(path, offset, byte):
    """Overwrite one byte without changing size or modification time (as a careless tool
    or a restored backup may)."""
    st = path.stat()
    with open(path, "r+b") as f:
        f.seek(offset)
        old = f.read(1)
        assert old != byte
        f.seek(offset)
        f.write(byte)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_mtime_ns == st.st_mtime_ns and path.stat().st_size == st.st_size


@pytest.mark.parametrize("whole", [True, False])
def test_mid_file_edit_with_restored_mtime_invalidates(tmp_path, monkeypatch, whole):
    """A same-size edit in the middle of a file, mtime set back: small files are hashed whole;
    large ones (sampled) still differ in change time, which utime cannot restore."""
    d = tmp_path / "big"
    d.mkdir()
    n = 160_000  # > 2 MiB: beyond the first and last MiB the former fingerprint sampled
    rows = "".join(f"u{k % 997:05d}\ti{k % 1231:05d}\t{1 + k % 5}\n" for k in range(n))
    inter = d / "big.inter"
    inter.write_text("user_id:token\titem_id:token\trating:float\n" + rows)
    assert inter.stat().st_size > 2 * 2**20 + 4096
    if not whole:
        monkeypatch.setattr(C, "WHOLE_FILE_BYTES", 1 << 20, raising=False)
    cfg = DataConfig(name="big", path=str(d))
    calls = count_builds(monkeypatch)
    before = load(cfg)
    mid = inter.stat().st_size // 2
    text = inter.read_bytes()
    at = text.index(b"\ti", mid) + 1  # the first byte of an item id: i0... -> j0...
    _edit_in_place(inter, at, b"j")
    after = load(cfg)
    assert len(calls) == 2
    assert after[0].num_items == before[0].num_items + 1


@pytest.mark.parametrize("edit", ["meta_name", "meta_report", "manifest", "swap"])
def test_hand_edited_entry_is_rebuilt_with_a_warning(toy, monkeypatch, _private_cleaned_cache,
                                                      edit):
    """Every file of an entry, meta.json included, is checked against the manifest, and the
    manifest against its own hash."""
    d, cfg = toy
    good = load(cfg)
    entry = next(p for p in _private_cleaned_cache.iterdir() if not p.name.startswith("."))
    meta_path = entry / "meta.json"
    meta = json.loads(meta_path.read_text())
    if edit == "meta_name":
        meta["name"] = "toy2"
        meta_path.write_text(json.dumps(meta, indent=1))
    elif edit == "meta_report":
        meta["report"][0]["rows_after"] += 1
        meta_path.write_text(json.dumps(meta, indent=1))
    elif edit == "manifest":
        m = json.loads((entry / "manifest.json").read_text())
        m["files"]["meta.json"] = "0" * 64
        (entry / "manifest.json").write_text(json.dumps(m))
    else:  # valid Parquet, wrong part: the test rows served as the train rows
        (entry / "train.parquet").write_bytes((entry / "test.parquet").read_bytes())
    calls = count_builds(monkeypatch)
    with pytest.warns(UserWarning, match="cache entry .* is unusable"):
        rebuilt = load(cfg)
    assert len(calls) == 1
    assert_same(rebuilt, good)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_same(load(cfg), good)
    assert len(calls) == 1


def test_unwritable_cache_directory_warns_once_and_cleans(toy, monkeypatch, tmp_path):
    d, cfg = toy
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("RECJAX_DATA_CACHE_DIR", str(blocker / "cleaned"))
    monkeypatch.setattr(C, "_UNUSABLE_WARNED", set(), raising=False)
    fresh = load(cfg, cache=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first, second = load(cfg), load(cfg)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "cannot be used" in messages[0], messages
    assert_same(first, fresh)
    assert_same(second, fresh)


def test_a_read_only_entry_directory_still_loads(toy, monkeypatch, tmp_path):
    """A failing save (e.g. the disk full) returns the cleaned data with the one warning."""
    d, cfg = toy
    monkeypatch.setattr(C, "_UNUSABLE_WARNED", set(), raising=False)

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(C, "save", full)
    with pytest.warns(UserWarning, match="No space left"):
        got = load(cfg)
    assert_same(got, load(cfg, cache=False))


def test_prune_removes_entries_and_reports_bytes(toy, monkeypatch, _private_cleaned_cache):
    d, cfg = toy
    load(cfg)
    load(DataConfig(**{**vars(cfg), "split": SplitConfig(seed=4)}))
    (_private_cleaned_cache / ".tmp-toy-0123456789abcdef0123-x1y2").mkdir()  # a killed job
    entries = [p for p in _private_cleaned_cache.iterdir() if not p.name.startswith(".")]
    size = sum(f.stat().st_size for p in entries for f in p.iterdir())
    removed, freed, busy = C.prune()
    assert (removed, busy) == (2, 0) and freed == size
    assert list(_private_cleaned_cache.iterdir()) == []
    calls = count_builds(monkeypatch)
    load(cfg)
    assert len(calls) == 1
    assert C.prune(_private_cleaned_cache / "absent") == (0, 0, 0)


def test_prune_leaves_an_entry_in_use(toy, _private_cleaned_cache):
    d, cfg = toy
    load(cfg)
    entry = next(p for p in _private_cleaned_cache.iterdir() if not p.name.startswith("."))
    lock = C._lock(_private_cleaned_cache / f".{entry.name}.lock")
    try:
        assert C.prune() == (0, 0, 1)
        assert entry.is_dir()
    finally:
        C._unlock(lock)
    assert C.prune()[0] == 1


def test_test_session_keeps_the_cache_off_in_subprocesses(tmp_path):
    """tests/conftest.py turns the cache off for the whole run, also for the CLIs tests start
    in subprocesses (they inherit os.environ); a test opts in with ``data_cache``."""
    import subprocess
    import sys

    from tests import conftest

    assert conftest.SESSION_ENV == {"RECJAX_DATA_CACHE": "0"}
    d = tmp_path / "toy"
    d.mkdir()
    (d / "toy.inter").write_text("user_id:token\titem_id:token\n1\t2\n2\t3\n")
    code = ("import os, sys; from tests import conftest; conftest.pytest_configure(None); "
            "import subprocess; sys.exit(subprocess.call([sys.executable, '-c', "
            "'from recjax.config.schema import DataConfig, SplitConfig; "
            "from recjax.data.datasets import load; "
            f"load(DataConfig(name=\"toy\", path=\"{d}\", split=SplitConfig(ratios=(1.0, 0.0, "
            "0.0))))']))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECJAX_DATA_CACHE")}
    env["RECJAX_DATA"] = str(tmp_path / "home")
    root = Path(__file__).parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=root)
    assert not (tmp_path / "home" / "cleaned").exists()
    env["RECJAX_DATA_CACHE"] = "1"  # the same child with the cache on does write there
    subprocess.run([sys.executable, "-c", code.replace("conftest.pytest_configure(None); ",
                                                       "")], check=True, env=env, cwd=root)
    assert (tmp_path / "home" / "cleaned").is_dir()
