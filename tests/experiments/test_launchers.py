"""Hydra launchers and sweepers actually run (not only compose), and the entrypoints leave the
directory they are started from as they found it."""

import json
import math
import subprocess
import sys
from pathlib import Path

import yaml

BIN = Path(sys.executable).parent
SMOKE = ("experiment=smoke", "train.epochs=2", "run.plot=false")


def run_in(cwd: Path, command: str, *args: str, timeout: float = 300):
    """Run an installed command (``recjax-train``, ...) as a user would, from ``cwd``.

    ``conftest.run_cli`` always starts from the repository root; these tests need a directory
    of their own to prove that nothing is written into it.
    """
    proc = subprocess.run(
        [str(BIN / command), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"{command} {args} exited {proc.returncode}:\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def jobs(sweep: Path) -> list[Path]:
    return sorted((p for p in sweep.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))


def valid_ndcg(run_dir: Path) -> float:
    value = json.loads((run_dir / "metrics.json").read_text())["valid"]["ndcg@10"]
    assert math.isfinite(value) and 0 < value <= 1, (run_dir, value)
    return value


def test_joblib_sweep_runs_jobs_in_parallel_processes(tmp_path):
    cwd, sweep = tmp_path / "cwd", tmp_path / "sweep"
    cwd.mkdir()
    out = run_in(
        cwd,
        "recjax-train",
        "-m",
        *SMOKE,
        "hydra/launcher=local_parallel",
        "parallel=sweep_cpu",
        "model.num_layers=1,2",
        f"hydra.sweep.dir={sweep}",
    ).stdout
    assert "Joblib.Parallel(n_jobs=2,backend=loky" in out
    runs = jobs(sweep)
    assert [p.name for p in runs] == ["0", "1"]
    layers = [json.loads((p / "config.json").read_text())["model"]["num_layers"] for p in runs]
    assert sorted(layers) == [1, 2]
    for run in runs:
        valid_ndcg(run)
    # Loky runs each job in a worker process of its own: the two runs overlapped in time (a
    # serial launcher would start the second only after the first had finished).
    info = [json.loads((p / "run.json").read_text()) for p in runs]
    assert max(i["started"] for i in info) < min(i["finished"] for i in info)
    assert list(cwd.iterdir()) == []


def test_optuna_sweep_reports_the_best_trial(tmp_path):
    cwd, sweep = tmp_path / "cwd", tmp_path / "sweep"
    cwd.mkdir()
    run_in(
        cwd,
        "recjax-train",
        "-m",
        *SMOKE,
        "hydra/sweeper=optuna_ndcg",
        "hydra.sweeper.n_trials=2",
        f"hydra.sweep.dir={sweep}",
    )
    runs = jobs(sweep)
    assert [p.name for p in runs] == ["0", "1"]
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert set(results["best_params"]) == {
        "train.learning_rate",
        "train.temperature",
        "model.num_layers",
    }
    # What the sweeper maximised is what recjax-train returns: each run's valid NDCG@10.
    assert results["best_value"] == max(valid_ndcg(p) for p in runs)
    assert list(cwd.iterdir()) == []


def test_entrypoints_write_nothing_into_the_current_directory(tmp_path):
    cwd, run = tmp_path / "cwd", tmp_path / "run"
    cwd.mkdir()
    run_in(cwd, "recjax-train", *SMOKE, f"hydra.run.dir={run}")
    assert "ndcg@10" in run_in(cwd, "recjax-eval", f"run_dir={run}").stdout
    assert (
        "top 3 for user u3"
        in run_in(cwd, "recjax-recommend", f"run_dir={run}", "user=u3", "k=3").stdout
    )
    run_in(cwd, "recjax-report", str(run))
    assert (run / "report.md").exists()  # the report goes next to the run, not here
    out = run_in(
        cwd,
        "recjax-encode",
        "data=synthetic",
        "data.synthetic.num_users=20",
        "data.synthetic.num_items=30",
        "data.synthetic.num_interactions=200",
    ).stdout
    assert "dataset synthetic" in out
    # Hydra's default job logging would have left evaluate.log and encode.log here.
    assert list(cwd.iterdir()) == []
