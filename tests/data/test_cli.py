import pytest

from recjax.data.cli import main


def test_recjax_data_ml100k(ml100k_dir, capsys):
    assert main(["ml-100k"]) == 0
    out = capsys.readouterr().out
    assert "users            943" in out
    assert "items            1,682" in out
    assert "interactions     100,000" in out
    assert "train        80,808" in out


def test_recjax_data_unknown_dataset(capsys):
    assert main(["ml-99k"]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'ml-99k'" in err and "ml-100k" in err


def test_recjax_data_csv_directory_with_kcore_emptying(tmp_path, capsys):
    d = tmp_path / "toy"
    d.mkdir()
    (d / "toy.inter").write_text("user_id:token\titem_id:token\n1\t2\n")
    assert main(["toy", "--path", str(d), "--user-core", "2"]) == 2
    assert "is empty after the 'k-core" in capsys.readouterr().err


def test_recjax_data_out_of_core_matches(tmp_path, capsys):
    from recjax.data.synthetic import write_synthetic_log

    d = tmp_path / "ml"
    write_synthetic_log(d, 4000, "ml-25m", seed=0)
    assert main(["ml", "--path", str(d), "--user-core", "3"]) == 0
    in_memory = capsys.readouterr().out
    assert main(["ml", "--path", str(d), "--user-core", "3", "--out-of-core"]) == 0
    staged = capsys.readouterr().out
    assert "read and clean out of core" in staged
    # Everything but the timing line is identical.
    assert in_memory.rsplit("time:", 1)[0] == staged.rsplit("time:", 1)[0]


def test_recjax_data_prune_cache(tmp_path, capsys, _private_cleaned_cache):
    from recjax.config.schema import DataConfig, SplitConfig
    from recjax.data.datasets import load

    d = tmp_path / "toy"
    d.mkdir()
    (d / "toy.inter").write_text("user_id:token\titem_id:token\n1\t2\n2\t3\n")
    load(DataConfig(name="toy", path=str(d), split=SplitConfig(ratios=(1.0, 0.0, 0.0))))
    entry = next(p for p in _private_cleaned_cache.iterdir() if not p.name.startswith("."))
    size = sum(f.stat().st_size for f in entry.iterdir())
    assert main(["--prune-cache"]) == 0
    out = capsys.readouterr().out
    assert out == (f"pruned the cleaned-data cache {_private_cleaned_cache}: removed 1 entry, "
                   f"freed {size:,} bytes ({size / 2**20:.1f} MiB)\n")
    assert not entry.exists()
    assert main(["--prune-cache"]) == 0
    assert "removed 0 entries, freed 0 bytes" in capsys.readouterr().out


def test_recjax_data_needs_a_dataset(capsys):
    with pytest.raises(SystemExit):
        main([])
    assert "give a dataset (or --prune-cache)" in capsys.readouterr().err
