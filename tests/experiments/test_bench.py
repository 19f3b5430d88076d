"""recjax-bench end to end on the smoke suite: leaderboard files, row order, resume."""

import csv
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from experiments.bench import Suite
from experiments.config import CONF_DIR
from recjax.config.io import from_dict

SUITES = sorted(p.stem for p in (Path(CONF_DIR) / "bench" / "suite").glob("*.yaml"))


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def finished_mtimes(out):
    return {p.parent.relative_to(out).as_posix(): p.stat().st_mtime_ns
            for p in out.rglob("metrics.json")}


@pytest.mark.parametrize("name", SUITES)
def test_suites_compose_and_name_real_experiments(name):
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("bench", overrides=[f"suite={name}"])
    suite = from_dict(Suite, OmegaConf.to_container(cfg.suite, resolve=True))
    assert suite.name == name
    assert any(e.baseline for e in suite.entries)
    for e in suite.entries:
        assert (Path(CONF_DIR) / "experiment" / f"{e.experiment}.yaml").exists()


def test_ml100k_suite_matches_the_issue():
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("bench", overrides=["suite=ml100k"])
    assert list(cfg.suite.split_seeds) == [2020, 2021, 2022, 2023, 2024]
    assert {e.name for e in cfg.suite.entries if e.baseline} == {"pop", "itemknn", "ease"}
    assert [e.name for e in cfg.suite.entries if not e.baseline] == [
        "mf", "lightgcn", "ngcf", "simgcl", "xsimgcl", "text_gnn"]


def test_smoke_bench_writes_leaderboard_and_resumes(cli, tmp_path):
    out = tmp_path / "smoke"
    # Two of the four entries (a baseline and a GNN) keep the default test run short; the
    # whole suite runs in the slow test below.
    args = ("suite=smoke", f"out={out}", "only=[pop,lightgcn]")
    first = cli("bench", *args, timeout=600)
    assert "4 runs, 0 finished, 4 to train" in first.stdout
    assert "[4/4] lightgcn split 2 train 0: valid ndcg@10" in first.stdout
    for ext in ("md", "csv", "png"):
        assert (out / f"leaderboard.{ext}").stat().st_size > 0
    rows = read_csv(out / "leaderboard.csv")
    assert sorted(r["model"] for r in rows) == ["lightgcn", "pop"]
    valid = [float(r["valid_ndcg@10_mean"]) for r in rows]
    assert valid == sorted(valid, reverse=True)
    assert all(r["runs"] == "2" and r["paired_splits"] == "2" for r in rows)
    gnn = next(r for r in rows if r["model"] == "lightgcn")
    assert 0.0 <= float(gnn["p_value"]) <= 1.0 and int(gnn["parameters"]) > 0
    assert float(gnn["peak_rss_mb"]) > 50 and float(gnn["seconds_per_epoch"]) > 0
    md = (out / "leaderboard.md").read_text()
    assert "leads on valid ndcg@10" in md and "best baseline (pop)" in md
    run = out / "lightgcn" / "split1" / "train0"
    assert {"config.json", "run.json", "metrics.json", "bench.json"} <= {
        p.name for p in run.iterdir()}
    before = finished_mtimes(out)
    assert len(before) == 4

    # Everything finished: no training, nothing rewritten.
    again = cli("bench", *args)
    assert "4 runs, 4 finished, 0 to train" in again.stdout and "[1/" not in again.stdout
    assert finished_mtimes(out) == before

    # One run lost its result: only that run trains again.
    (out / "pop" / "split2" / "train0" / "metrics.json").unlink()
    third = cli("bench", *args)
    assert "4 runs, 3 finished, 1 to train" in third.stdout
    assert "[1/1] pop split 2 train 0" in third.stdout
    after = finished_mtimes(out)
    assert set(after) == set(before)
    assert {k for k in after if after[k] != before[k]} == {"pop/split2/train0"}
    # Hydra wrote nothing into the working directory of the command (the repository root).
    assert not (Path(CONF_DIR).parent / "bench.log").exists()


def test_unknown_entry_is_one_line_error(cli, tmp_path):
    proc = cli("bench", "suite=smoke", f"out={tmp_path}", "only=[nope]", check=False)
    assert proc.returncode == 2
    assert "recjax-bench: error: unknown suite entries ['nope']" in proc.stderr


@pytest.mark.slow
def test_whole_smoke_suite(cli, tmp_path):
    out = tmp_path / "smoke"
    cli("bench", "suite=smoke", f"out={out}", timeout=900)
    rows = read_csv(out / "leaderboard.csv")
    assert sorted(r["model"] for r in rows) == ["ease", "lightgcn", "mf", "pop"]
    valid = [float(r["valid_ndcg@10_mean"]) for r in rows]
    assert valid == sorted(valid, reverse=True)
    assert sum(r["best_baseline"] == "True" for r in rows) == 1


def test_a_finished_run_of_another_config_is_stale(tmp_path):
    """After recjax-tune rewrites an experiment file, a resumed suite must not keep the runs
    of the old values: the composed config is compared with the run's config.json."""
    import json

    from experiments.bench import job_config, set_aside, stale_changes
    from recjax.bench import Job

    job = Job("lightgcn", "smoke", ("model.num_layers=1",), 1, 0)
    run = tmp_path / job.rel_dir
    run.mkdir(parents=True)
    cfg = job_config(job)
    (run / "config.json").write_text(json.dumps({**cfg, "run": {"name": "x"}}))
    (run / "metrics.json").write_text("{}")
    assert stale_changes(job, run) == []
    cfg["train"]["learning_rate"] = 0.5
    (run / "config.json").write_text(json.dumps(cfg))
    changes = stale_changes(job, run)
    assert len(changes) == 1 and changes[0].startswith("train.learning_rate: 0.5 != ")
    moved = set_aside(run)
    assert not run.exists() and (moved / "metrics.json").exists()


def test_a_run_from_before_new_schema_fields_is_not_stale(tmp_path):
    """A run whose config.json predates fields added to the schema since (e.g.
    model.text_tower) reads them as their defaults, as load_run does: not stale."""
    import json

    from experiments.bench import job_config, stale_changes
    from recjax.bench import Job

    job = Job("lightgcn", "smoke", ("model.num_layers=1",), 1, 0)
    run = tmp_path / job.rel_dir
    run.mkdir(parents=True)
    cfg = job_config(job)
    del cfg["model"]["text_tower"], cfg["train"]["text_learning_rate"]
    (run / "config.json").write_text(json.dumps(cfg))
    assert stale_changes(job, run) == []
    cfg["model"]["num_layers"] = 3
    (run / "config.json").write_text(json.dumps(cfg))
    assert [c.split(":")[0] for c in stale_changes(job, run)] == ["model.num_layers"]
