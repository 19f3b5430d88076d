"""Out-of-core cleaning gives the in-memory result (report included), with tiny blocks and
many staging files so that every row boundary case is crossed."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recjax.config.schema import CleanConfig
from recjax.data.clean import clean
from recjax.data.datasets import read_directory
from recjax.data.readers import DataFormatError
from recjax.data.staging import clean_out_of_core
from tests.data.test_clean_oracle import BEHAVIORS, ITEMS, RATINGS, STAMPS, USERS, same

row = st.tuples(st.sampled_from(USERS), st.sampled_from(ITEMS), st.sampled_from(RATINGS),
                st.sampled_from(STAMPS), st.sampled_from(BEHAVIORS))
config = st.builds(
    CleanConfig, dedup=st.sampled_from(["first", "last", "max_rating", "none"]),
    min_rating=st.sampled_from([None, 2.0]), behaviors=st.sampled_from([None, ("view",)]),
    user_core=st.integers(0, 3), item_core=st.integers(0, 3),
    on_invalid=st.sampled_from(["drop", "drop", "raise"]))


def outcome(fn):
    try:
        return fn(), None
    except ValueError as e:
        return None, str(e)


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(row, min_size=1, max_size=60), config, st.booleans(), st.booleans(),
       st.booleans(), st.sampled_from([1, 3, 20]))
def test_out_of_core_equals_in_memory(tmp_path, rows, cfg, with_behavior, with_time, with_side,
                                      n_buckets):
    d = tmp_path / "log"
    d.mkdir(exist_ok=True)
    for f in d.iterdir():
        f.unlink()
    cols = ["user_id:token", "item_id:token", "rating:float"]
    cols += ["timestamp:float"] if with_time else []
    cols += ["behavior:token"] if with_behavior else []
    keep = [0, 1, 2] + ([3] if with_time else []) + ([4] if with_behavior else [])
    body = "\n".join("\t".join(r[k] for k in keep) for r in rows)
    (d / "log.inter").write_text("\t".join(cols) + "\n" + body + "\n")
    if with_side:
        (d / "log.item").write_text("item_id:token\ttitle:token_seq\na\tAlpha\nzz\tZed\n")
    size = (d / "log.inter").stat().st_size
    want, want_err = outcome(lambda: clean(read_directory(d), cfg))
    got, got_err = outcome(lambda: clean_out_of_core(
        d, cfg=cfg, workdir=tmp_path / "w", block_bytes=128,
        bucket_bytes=max(1, size // n_buckets)))
    assert got_err == want_err
    if want is not None:
        same(got, want)
        assert got.name == want.name


def test_csv_layout_and_blocks(tmp_path):
    from recjax.data.synthetic import write_synthetic_log

    d = tmp_path / "ml"
    write_synthetic_log(d, 20_000, "ml-25m", seed=1, chunk_rows=3_000)
    for cfg in (CleanConfig(), CleanConfig(dedup="max_rating", user_core=5, item_core=5)):
        want = clean(read_directory(d), cfg)
        got = clean_out_of_core(d, cfg=cfg, block_bytes=16 << 10, bucket_bytes=50_000)
        same(got, want)
        assert want.report[1].removed > 0  # the log has repeats for dedup to remove
    assert not list(tmp_path.glob("recjax-staging-*"))


def test_errors_name_the_line(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "bad.inter").write_text("user_id:token\titem_id:token\n1\t2\n\n3\n4\t5\t6\n")
    with pytest.raises(DataFormatError, match=r"line 4: expected 2 fields, found 1 \(2 ragged"):
        clean_out_of_core(d, block_bytes=16)
    (d / "bad.inter").write_bytes(b"user_id:token\titem_id:token\n1\t2\n3\tCaf\xe9\n")
    with pytest.raises(DataFormatError, match=r"line 3: bytes b'.xe9' are not valid utf-8"):
        clean_out_of_core(d)
    (d / "bad.inter").write_text("user_id:token\titem_id:token\trating:float\n1\t2\t4\n"
                                 "3\t4\tfive\n")
    with pytest.raises(ValueError, match=r"bad.inter, line 3: rating not a number"):
        clean_out_of_core(d, cfg=CleanConfig(on_invalid="raise"))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "u.data").write_text("1\t2\t3\t4\n")
    with pytest.raises(FileNotFoundError, match="out-of-core cleaning reads RecBole atomic"):
        clean_out_of_core(tmp_path / "other")


def test_memory_holds_one_block_not_the_file(tmp_path):
    """The staging files hold numbers only, split by user: no file is the whole log."""
    import pyarrow.parquet as pq

    from recjax.data import staging

    d = tmp_path / "big"
    d.mkdir()
    rng = np.random.default_rng(0)
    lines = [f"u{u}\ti{i}" for u, i in rng.integers(0, 500, size=(5000, 2))]
    (d / "big.inter").write_text("user_id:token\titem_id:token\n" + "\n".join(lines) + "\n")
    seen = []
    real = staging._write

    def spy(path, rows):
        seen.append(pq.read_metadata(path).num_rows)
        real(path, rows)

    staging._write = spy
    try:
        ds = clean_out_of_core(d, block_bytes=4096, bucket_bytes=10_000)
    finally:
        staging._write = real
    assert len(seen) > 3 and max(seen) < 5000 and sum(seen) == 5000
    assert len(ds.interactions) == len(set(lines))  # dedup across blocks, within buckets


def test_load_cleans_big_files_out_of_core(tmp_path, monkeypatch):
    from recjax.config.schema import DataConfig
    from recjax.data import staging
    from recjax.data.datasets import load
    from recjax.data.synthetic import write_synthetic_log

    d = tmp_path / "ml"
    write_synthetic_log(d, 5_000, "ml-25m", seed=2)
    cfg = DataConfig(name="ml", path=str(d))
    in_memory = load(cfg, cache=False)
    calls = []
    real = staging.clean_out_of_core
    monkeypatch.setattr(staging, "clean_out_of_core",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setenv("RECJAX_OUT_OF_CORE_BYTES", "1000")
    out_of_core = load(cfg, cache=False)
    assert calls == [1]
    same(out_of_core[0], in_memory[0])
    np.testing.assert_array_equal(out_of_core[1].test.item_ids, in_memory[1].test.item_ids)


def test_staging_files_go_to_disk_next_to_the_cache(tmp_path, monkeypatch):
    """Not to $TMPDIR, often a RAM-backed tmpfs that would hold the rows kept out of memory:
    $RECJAX_STAGING_DIR, else $RECJAX_DATA/staging."""
    from recjax.data import staging
    from recjax.data.synthetic import write_synthetic_log

    d = tmp_path / "log"
    write_synthetic_log(d, 500, "atomic", seed=0)
    seen = []
    real = staging._clean

    def spy(layout, name, cfg, root, *a):
        seen.append((root.parent, sorted(p.name for p in root.iterdir())))
        return real(layout, name, cfg, root, *a)

    monkeypatch.setattr(staging, "_clean", spy)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "ram"))
    monkeypatch.delenv("RECJAX_STAGING_DIR", raising=False)
    monkeypatch.setenv("RECJAX_DATA", str(tmp_path / "data"))
    clean_out_of_core(d)
    monkeypatch.setenv("RECJAX_STAGING_DIR", str(tmp_path / "disk"))
    clean_out_of_core(d)
    assert [s[0] for s in seen] == [tmp_path / "data" / "staging", tmp_path / "disk"]
    assert list((tmp_path / "disk").iterdir()) == []  # removed at the end
