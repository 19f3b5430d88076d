import json

import pytest

from recjax.report import collect_runs, summarize, write_report


def fake_run(root, name, layers, seed, ndcg, finished=True):
    d = root / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps(
        {"model": {"num_layers": layers, "name": "lightgcn"}, "train": {"seed": seed},
         "run": {"name": "sweep"}}))
    if finished:
        (d / "metrics.json").write_text(json.dumps({"valid": {"ndcg@10": ndcg},
                                                    "test": {"ndcg@10": ndcg + 0.01}}))
        (d / "run.json").write_text(json.dumps({"timings": {"total": 2.0}, "epochs": 5}))


def test_groups_over_seeds_with_mean_and_std(tmp_path):
    fake_run(tmp_path, "a", 1, 0, 0.2)
    fake_run(tmp_path, "b", 1, 1, 0.4)
    fake_run(tmp_path, "c", 2, 0, 0.5)
    fake_run(tmp_path, "d", 2, 1, 0.9, finished=False)  # unfinished runs are left out
    runs = collect_runs(tmp_path)
    assert len(runs) == 3
    keys, groups = summarize(runs, ("valid/ndcg@10", "test/ndcg@10"))
    assert keys == ["model.num_layers"]
    g1 = next(g for g in groups if g["model.num_layers"] == 1)
    assert g1["n"] == 2
    assert g1["valid/ndcg@10"][0] == pytest.approx(0.3)
    assert g1["valid/ndcg@10"][1] == pytest.approx(0.1414, abs=1e-4)
    paths = write_report(tmp_path, metrics=("valid/ndcg@10", "test/ndcg@10"))
    assert "0.3000 ± 0.1414" in paths["markdown"].read_text()


def test_empty_directory_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no finished runs"):
        write_report(tmp_path)


def test_sweep_over_experiments_is_grouped_by_run_name(tmp_path):
    for name, layers in (("exp_a", 1), ("exp_b", 2)):
        for seed in (0, 1):
            d = tmp_path / f"{name}{seed}"
            d.mkdir()
            (d / "config.json").write_text(json.dumps(
                {"model": {"num_layers": layers}, "train": {"seed": seed},
                 "run": {"name": name}}))
            (d / "metrics.json").write_text(json.dumps({"valid": {"ndcg@10": 0.1},
                                                        "test": {"ndcg@10": 0.2}}))
    keys, groups = summarize(collect_runs(tmp_path))
    assert keys == ["run.name"] and sorted(g["n"] for g in groups) == [2, 2]
