import numpy as np

from recjax.text.cli import main


def test_recjax_encode_ml100k_then_cache_hit(ml100k_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RECJAX_TEXT_CACHE", str(tmp_path / "cache"))
    assert main(["ml-100k", "--out", str(tmp_path / "out")]) == 0
    first = capsys.readouterr().out
    assert "items  1,682" in first and "users    943" in first and "miss" in first
    items = np.load(tmp_path / "out" / "items.npy")
    assert items.shape == (1682, 384) and np.isfinite(items).all()
    assert main(["ml-100k"]) == 0
    second = capsys.readouterr().out
    assert second.count(" hit ") == 2


def test_recjax_encode_bad_checkpoint(ml100k_dir, tmp_path, capsys):
    assert main(["ml-100k", "--checkpoint", str(tmp_path / "nope")]) == 2
    assert "neither a registered checkpoint" in capsys.readouterr().err
