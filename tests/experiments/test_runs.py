"""End to end through the entrypoints: smoke training, bad input, kill-and-resume, sweeps."""

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.experiments.conftest import ROOT


def metrics(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())


def test_smoke_run_writes_a_complete_run_directory(cli, tmp_path):
    out = cli("train", "experiment=smoke", f"hydra.run.dir={tmp_path}").stdout
    assert "ndcg@10" in out and f"run directory: {tmp_path}" in out
    for name in ("config.json", "run.json", "metrics.jsonl", "metrics.json", "curves.png"):
        assert (tmp_path / name).exists(), name
    m = metrics(tmp_path)
    assert set(m) == {"valid", "test"} and 0 < m["test"]["ndcg@10"] <= 1
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["status"] == "finished" and info["seeds"]["train"] == 2020
    assert "jax" in info["environment"]
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == info["epochs"]
    # Evaluating the finished run reproduces its test metrics.
    ev = cli("evaluate", f"run_dir={tmp_path}").stdout
    assert f"{m['test']['ndcg@10']:.4f}" in ev
    # The same directory with another config is refused, with one line and status 2.
    bad = cli("train", "experiment=smoke", "model.dim=8", f"hydra.run.dir={tmp_path}",
              check=False)
    assert bad.returncode == 2
    assert "holds a run of another configuration" in bad.stderr
    assert "model.dim: 16 != 8" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("args, message", [
    (["model.name=lightgnc"], "unknown model 'lightgnc'"),
    (["data.name=ml-99k"], "unknown dataset 'ml-99k'"),
])
def test_bad_input_is_one_clear_line(cli, tmp_path, args, message):
    proc = cli("train", "experiment=smoke", *args, f"hydra.run.dir={tmp_path}", check=False)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "metrics.json").exists()
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "failed"


def test_corrupted_checkpoint_is_reported(cli, tmp_path):
    cli("train", "experiment=smoke", f"hydra.run.dir={tmp_path}")
    for f in (tmp_path / "checkpoints").rglob("*"):
        if f.is_file() and "state" in f.parts:
            f.write_bytes(b"garbage")
    proc = cli("train", "experiment=smoke", f"hydra.run.dir={tmp_path}", check=False)
    assert proc.returncode == 2 and "cannot be restored" in proc.stderr
    assert not (tmp_path / "metrics.json").exists()


def test_kill_at_arbitrary_step_then_resume_matches_uninterrupted(cli, tmp_path):
    args = ["experiment=smoke", "train.epochs=40", "train.patience=100",
            "run.checkpoint_every=3", "run.plot=false"]
    full, killed = tmp_path / "full", tmp_path / "killed"
    cli("train", *args, f"hydra.run.dir={full}")
    proc = subprocess.Popen([sys.executable, "-m", "experiments.train", *args,
                             f"hydra.run.dir={killed}"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    ckpts = killed / "checkpoints"
    while time.time() < deadline:  # wait for the second checkpoint, then kill mid-epoch
        if ckpts.exists() and any(p.name.isdigit() and int(p.name) >= 6
                                  for p in ckpts.iterdir()):
            break
        time.sleep(0.05)
    time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "metrics.json").exists()
    cli("train", *args, f"hydra.run.dir={killed}")
    info = json.loads((killed / "run.json").read_text())
    assert info["resumed_from_epoch"] is not None and info["resumed_from_epoch"] >= 6
    assert metrics(killed) == metrics(full)
    assert (killed / "metrics.jsonl").read_text() .count("\n") == 40


def test_smoke_multirun_and_report(cli, tmp_path):
    sweep = tmp_path / "sweep"
    cli("train", "-m", "experiment=smoke", "model.num_layers=1,2", "train.seed=0,1",
        "run.plot=false", f"hydra.sweep.dir={sweep}")
    out = cli("report", str(sweep)).stdout
    assert "4 runs, grouped by model.num_layers" in out
    assert out.count(" ± ") >= 4  # mean ± std over the two seeds
    for name in ("report.md", "report.csv", "report.png"):
        assert (sweep / name).exists()
    rows = (sweep / "report.csv").read_text().splitlines()
    assert len(rows) == 5 and rows[0].startswith("run_dir,model.num_layers,train.seed")


def test_vectorized_sweep_through_the_entrypoint(cli, tmp_path):
    out = cli("train", "experiment=smoke", "sweep.vectorize.seed=[0,1]", "run.plot=false",
              f"hydra.run.dir={tmp_path}").stdout
    assert "2 configurations trained together in one program" in out
    for i in (0, 1):
        cfg = json.loads((tmp_path / f"config_{i}" / "config.json").read_text())
        assert cfg["train"]["seed"] == i and cfg["sweep"]["vectorize"]["seed"] == []
        assert set(metrics(tmp_path / f"config_{i}")) == {"valid", "test"}
    report = cli("report", str(tmp_path)).stdout
    assert "2 runs" in report


def test_mesh_path_on_one_device_matches_plain(cli, tmp_path):
    cli("train", "experiment=smoke", "run.plot=false", f"hydra.run.dir={tmp_path / 'a'}")
    cli("train", "experiment=smoke", "run.plot=false", "parallel=data",
        f"hydra.run.dir={tmp_path / 'b'}")
    a, b = metrics(tmp_path / "a"), metrics(tmp_path / "b")
    for k in a["test"]:
        assert a["test"][k] == pytest.approx(b["test"][k], abs=1e-5)


def test_recommend_cli_on_a_run(cli, tmp_path):
    cli("train", "experiment=smoke", "run.plot=false", f"hydra.run.dir={tmp_path}")
    out = cli("recommend", f"run_dir={tmp_path}", "user=u3", "k=5").stdout
    assert "top 5 for user u3" in out and out.count("\n") >= 7
    out = cli("recommend", f"run_dir={tmp_path}", "liked=i1,i2", "k=3").stdout
    assert "liked ['i1', 'i2']" in out
    bad = cli("recommend", f"run_dir={tmp_path}", "text=reading, travel", check=False)
    assert bad.returncode == 2 and "has no text tower" in bad.stderr
    bad = cli("recommend", f"run_dir={tmp_path}", "usr=1", check=False)
    assert bad.returncode == 2 and "unknown argument 'usr=1'" in bad.stderr
    (tmp_path / "out.csv").unlink(missing_ok=True)
    cli("recommend", f"run_dir={tmp_path}", f"batch={tmp_path / 'out.csv'}", "k=2")
    assert (tmp_path / "out.csv").read_text().startswith("user,rank,item,title,score")


def test_cold_item_split_reports_warm_and_cold_from_recjax_train(cli, tmp_path):
    """A cold-item split through Hydra: negatives from warm items only, warm and cold test
    metrics apart in metrics.json, cold items' ID rows zeroed in the served parameters."""
    cli("train", "experiment=smoke", "data.split.method=cold_item", "run.plot=false",
        f"hydra.run.dir={tmp_path}")
    m = metrics(tmp_path)
    assert {"valid", "test", "test_warm", "test_cold"} <= set(m)
    assert 0 < m["test_warm"]["ndcg@10"] <= 1 and 0 <= m["test_cold"]["ndcg@10"] <= 1
    assert not any("/" in k for k in m["test"])  # warm/cold stay in their own blocks
    from recjax.experiment import load_run

    prepared, params = load_run(tmp_path, progress=False)
    cold = prepared.split.cold_item_ids
    assert len(cold)
    import numpy as np

    assert not np.asarray(params["params"]["id"]["item"]["embedding"])[cold].any()
