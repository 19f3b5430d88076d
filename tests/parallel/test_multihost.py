"""Multi-process runs for real: 2 processes x 4 CPU devices on localhost (gloo collectives),
started by ``recjax-launch-local`` as a user would, compared with one process of 8 devices.

Every process runs under a Python audit hook (a ``sitecustomize`` on PYTHONPATH) that logs
each file it opens for writing and each rename, so "only process 0 writes" is checked on what
the processes did, not on what the run directory ends up holding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.experiments.conftest import ROOT

TOL = 2e-5  # sums over 8 devices in another order (gloo vs in-process all-reduce)
SMOKE = ["experiment=smoke", "run.progress=false"]

AUDIT_HOOK = textwrap.dedent("""
    import os, sys
    _dir = os.environ.get("RECJAX_AUDIT_DIR")
    if _dir:
        _fd = os.open(os.path.join(_dir, "rank%s.log" % os.environ.get("RECJAX_PROCESS_ID", "x")),
                      os.O_WRONLY | os.O_CREAT | os.O_APPEND)

        def _hook(event, args):
            if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
                mode, flags = args[1], args[2] if len(args) > 2 else 0
                writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                    isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR))
                if writes:
                    os.write(_fd, ("open\\t%s\\n" % os.path.abspath(os.fsdecode(args[0]))).encode())
            elif event in ("os.rename", "os.replace") and len(args) > 1:
                os.write(_fd, ("rename\\t%s\\n" % os.path.abspath(os.fsdecode(args[1]))).encode())

        sys.addaudithook(_hook)
""")


def launch(n, cpu_devices, run_dir, *args, env=None, check=True, timeout=600):
    proc = subprocess.run([sys.executable, "-m", "experiments.launch", str(n), "--cpu-devices",
                           str(cpu_devices), "--", *SMOKE, f"hydra.run.dir={run_dir}", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode:
        raise AssertionError(f"launch exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return proc


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def history(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def assert_close(a: dict, b: dict, tol: float):
    assert a.keys() == b.keys()
    for part in a:
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            assert abs(a[part][k] - b[part][k]) <= tol, (part, k, a[part][k], b[part][k])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One 8-device single-process run and one uninterrupted 2 x 4 run (audited)."""
    root = tmp_path_factory.mktemp("multihost")
    single = root / "single"
    proc = subprocess.run([sys.executable, "-m", "experiments.train", *SMOKE, "parallel=data",
                           f"hydra.run.dir={single}"], capture_output=True, text=True,
                          cwd=ROOT, timeout=600,
                          env={**os.environ, "JAX_PLATFORMS": "cpu",
                               "XLA_FLAGS": "--xla_force_host_platform_device_count=8"})
    assert proc.returncode == 0, proc.stderr[-4000:]
    hook, audit = root / "hook", root / "audit"
    hook.mkdir()
    audit.mkdir()
    (hook / "sitecustomize.py").write_text(AUDIT_HOOK)
    multi = root / "multi"
    pythonpath = os.pathsep.join([str(hook), str(ROOT), os.environ.get("PYTHONPATH", "")])
    launch(2, 4, multi, env={"RECJAX_AUDIT_DIR": str(audit), "PYTHONPATH": pythonpath})
    return {"root": root, "single": single, "multi": multi, "audit": audit}


def test_two_processes_train_as_one_process_of_eight_devices(runs):
    info = json.loads((runs["multi"] / "run.json").read_text())
    assert info["status"] == "finished"
    assert info["environment"]["processes"] == 2
    assert len(info["environment"]["devices"]) == 8
    assert_close(metrics(runs["single"]), metrics(runs["multi"]), TOL)
    one, two = history(runs["single"]), history(runs["multi"])
    assert [r["epoch"] for r in one] == [r["epoch"] for r in two]
    for a, b in zip(one, two):
        assert abs(a["train/loss"] - b["train/loss"]) <= TOL
        assert a["step"] == b["step"]


def test_only_process_zero_writes_files(runs):
    multi = runs["multi"].resolve()

    def written(rank):
        lines = (runs["audit"] / f"rank{rank}.log").read_text().splitlines()
        paths = {Path(line.split("\t", 1)[1]).resolve() for line in lines}
        # Checkpoints are collective: orbax has every process write its own shards.
        return {p for p in paths if multi in p.parents and (multi / "checkpoints") not in
                p.parents}

    zero, one = written(0), written(1)
    names = {p.relative_to(multi).as_posix() for p in zero}
    for expected in ("run.json.tmp", "config.json.tmp", "metrics.jsonl", "metrics.json.tmp",
                     ".hydra/config.yaml", "train.log", "curves.png"):
        assert expected in names, sorted(names)
    assert one == set(), sorted(one)
    # And the directory holds what a single-process run's holds, each epoch logged once.
    listing = lambda d: sorted(p.relative_to(d).as_posix() for p in d.rglob("*")
                               if "checkpoints" not in p.relative_to(d).parts)
    assert listing(runs["multi"]) == listing(runs["single"])
    epochs = [r["epoch"] for r in history(runs["multi"])]
    assert epochs == list(range(1, len(epochs) + 1))


def test_sharded_embeddings_across_processes_equal_replicated_and_resume(runs):
    # A model axis of 8 spans both processes: the user table (120 rows) is row-sharded over
    # all 8 devices, the item table (150 rows) column-sharded (150 does not divide by 8). The
    # run is killed after its second checkpoint and resumed into those shardings.
    sharded = runs["root"] / "sharded"
    args = ("parallel.model=8", "parallel.shard_embeddings=true")
    proc = launch(2, 4, sharded, *args, env={"RECJAX_KILL_AT_EPOCH": "5"}, check=False)
    assert proc.returncode == 128 + 9, proc.stderr[-3000:]
    launch(2, 4, sharded, *args)
    assert json.loads((sharded / "run.json").read_text())["resumed_from_epoch"] == 4
    assert_close(metrics(runs["single"]), metrics(sharded), TOL)


def test_killed_two_process_run_resumes_exactly(runs):
    run = runs["root"] / "killed"
    # Every process kills itself (SIGKILL) once epoch 5 is logged: after the second
    # checkpoint (epochs 2 and 4; smoke checkpoints every 2 epochs), before the third.
    proc = launch(2, 4, run, env={"RECJAX_KILL_AT_EPOCH": "5"}, check=False)
    assert proc.returncode == 128 + 9, proc.stderr[-3000:]
    assert not (run / "metrics.json").exists()
    assert sorted(p.name for p in (run / "checkpoints").iterdir() if p.name.isdigit()) == ["4"]
    assert len(history(run)) == 5
    launch(2, 4, run)
    assert json.loads((run / "run.json").read_text())["resumed_from_epoch"] == 4
    assert metrics(run) == metrics(runs["multi"])  # identical, not merely close
    strip = lambda h: [{k: v for k, v in r.items() if "seconds" not in k} for r in h]
    assert strip(history(run)) == strip(history(runs["multi"]))


def test_a_mesh_that_leaves_a_process_out_is_refused(tmp_path):
    proc = launch(2, 1, tmp_path / "run", "parallel=single", check=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "parallel.devices=1 trains on one device; use parallel=multihost" in proc.stderr
    ckpts = tmp_path / "run" / "checkpoints"
    assert not ckpts.exists() or not any(ckpts.iterdir())  # refused before any work
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"


def test_launcher_commands():
    from experiments.launch import worker_commands, worker_env

    cmds = worker_commands(2, ["experiment=smoke"], 1234, run_dir="/tmp/x")
    assert [c[-1] for c in cmds] == ["parallel.process_id=0", "parallel.process_id=1"]
    assert "parallel=multihost" in cmds[0] and "hydra.run.dir=/tmp/x" in cmds[0]
    assert "parallel.coordinator_address=127.0.0.1:1234" in cmds[1]
    own = worker_commands(2, ["parallel=sharded", "hydra.run.dir=/r"], 1, run_dir="/tmp/x")[0]
    assert "parallel=multihost" not in own and "parallel.distributed=true" in own
    assert [a for a in own if a.startswith("hydra.run.dir")] == ["hydra.run.dir=/r"]
    with pytest.raises(ValueError, match="one run"):
        worker_commands(2, ["-m", "train.seed=0,1"], 1)
    with pytest.raises(ValueError, match="one run"):
        worker_commands(2, ["hydra.mode=MULTIRUN"], 1)
    plus = worker_commands(2, ["+hydra.run.dir=/p"], 1, run_dir="/tmp/x")[0]
    assert [a for a in plus if "hydra.run.dir" in a] == ["+hydra.run.dir=/p"]
    with pytest.raises(ValueError, match="now:"):
        worker_commands(2, ["hydra.run.dir=runs/${now:%H-%M-%S}"], 1)
    env = worker_env(1, 4, base={"XLA_FLAGS": "--xla_force_host_platform_device_count=2 --foo"})
    assert env["XLA_FLAGS"] == "--foo --xla_force_host_platform_device_count=4"
    assert env["RECJAX_PROCESS_ID"] == "1"


# The launcher's preexec_fn makes subprocess fork; this test process has JAX's threads
# running (the launcher itself never imports JAX), so Python warns about forking them.
@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")
def test_launcher_stops_the_others_when_a_later_rank_fails(monkeypatch):
    import time

    import experiments.launch as launcher

    py = sys.executable
    monkeypatch.setattr(launcher, "worker_commands", lambda n, args, port, run_dir=None: [
        [py, "-c", "import time; time.sleep(60)"], [py, "-c", "import sys; sys.exit(3)"]])
    t0 = time.monotonic()
    assert launcher.launch(2, [], grace=1.0) == 3  # rank 1's status, not rank 0's
    assert time.monotonic() - t0 < 20  # rank 0 was stopped, not waited for


def test_hydra_writes_nothing_itself_in_a_distributed_run():
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from experiments.config import CONF_DIR, register

    register()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=["experiment=smoke", "parallel=multihost"],
                      return_hydra_config=True)
        assert cfg.hydra.output_subdir is None
        cfg = compose("config", overrides=["experiment=smoke"], return_hydra_config=True)
        assert cfg.hydra.output_subdir == ".hydra"
        # Hydra's other logging choices stay as they are: no handler without a class
        # injected into them (logging.config.dictConfig refuses those).
        for choice in ("disabled", "stdout", "none"):
            cfg = compose("config", overrides=["experiment=smoke", f"hydra/job_logging={choice}"],
                          return_hydra_config=True)
            handlers = OmegaConf.to_container(cfg.hydra.job_logging).get("handlers", {})
            assert "file" not in handlers
            assert all("class" in h for h in handlers.values()), handlers
    log = OmegaConf.create({
        "a": "${recjax_unless_distributed:/r/train.log,true,/dev/null}",
        "b": "${recjax_unless_distributed:/r/train.log,false,/dev/null}"})
    assert (log.a, log.b) == ("/dev/null", "/r/train.log")


def test_killing_the_launcher_kills_its_workers(tmp_path):
    import signal
    import time

    if sys.platform != "linux":
        pytest.skip("PR_SET_PDEATHSIG is Linux-only")
    worker = ("import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); "
              "time.sleep(120)")
    script = (f"import sys, experiments.launch as L\n"
              f"L.worker_commands = lambda n, a, p, run_dir=None: "
              f"[[sys.executable, '-c', {worker!r}, {str(tmp_path)!r} + f'/w{{i}}'] "
              f"for i in range(n)]\n"
              f"L.launch(2, [])\n")
    launcher = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    pids = [tmp_path / "w0", tmp_path / "w1"]
    deadline = time.monotonic() + 60
    while not all(p.exists() and p.read_text() for p in pids):
        assert time.monotonic() < deadline and launcher.poll() is None
        time.sleep(0.05)
    pids = [int(p.read_text()) for p in pids]
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()

    def alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        # a zombie (dead, not yet reaped by init) counts as gone
        stat = Path(f"/proc/{pid}/stat")
        return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"

    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(p) for p in pids)
