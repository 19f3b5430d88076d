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
