"""``recjax-launch-local N [--cpu-devices K] -- <recjax-train args>``: one multi-process run on
this machine, for testing multi-host code paths and for multi-process CPU training.

Starts N ``recjax-train`` processes with ``parallel=multihost`` (unless the arguments choose
another ``parallel`` group, to which ``parallel.distributed=true`` is added), a coordinator on
``127.0.0.1:<free port>``, ``parallel.num_processes=N`` and ``parallel.process_id=i``. With
``--cpu-devices K`` each process gets K CPU devices (``--xla_force_host_platform_device_count``)
and CPU collectives run over gloo. All processes share one run directory: ``hydra.run.dir`` as
given, else ``runs/${run.name}/<launch time>`` (Hydra's default ``${now:}`` could differ
between processes by a second). Process 0's output passes through; the others' lines are
prefixed ``[rank i]`` on stderr. When one process fails the others are stopped (SIGTERM, then
SIGKILL after a grace period), and the exit status is the first failure's (128 + signal for a
killed process); when the launcher itself is killed, Linux kills its workers with it. The
coordinator port is a free one at launch time (``--port`` to choose it).

On a cluster the same ``recjax-train ... parallel=multihost hydra.run.dir=<shared dir>`` runs
on every host instead (SLURM, Open MPI and Cloud TPU VMs need no coordinator arguments).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_commands(n: int, args: list[str], port: int, run_dir: str | None = None
                    ) -> list[list[str]]:
    """The ``recjax-train`` command line of each of the ``n`` processes."""
    args = list(args)
    if any(a in ("-m", "--multirun") or a.lstrip("+") == "hydra.mode=MULTIRUN" for a in args):
        raise ValueError("recjax-launch-local starts one run (every process initialises JAX's "
                         "distributed runtime once); launch each configuration separately")
    given = [a.split("=", 1)[1] for a in args if a.lstrip("+").startswith("hydra.run.dir=")]
    if given and "${now:" in given[-1]:
        raise ValueError(f"hydra.run.dir={given[-1]} contains ${{now:...}}, which each process "
                         f"would resolve to its own time (so its own directory); give a fixed "
                         f"directory")
    if not given:
        stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
        args.append(f"hydra.run.dir={run_dir or 'runs/${run.name}/' + stamp}")
    if not any(a.split("=")[0].lstrip("+~") == "parallel" for a in args):
        args.append("parallel=multihost")
    common = [sys.executable, "-m", "experiments.train", *args, "parallel.distributed=true",
              f"parallel.coordinator_address=127.0.0.1:{port}", f"parallel.num_processes={n}"]
    return [[*common, f"parallel.process_id={i}"] for i in range(n)]


def worker_env(rank: int, cpu_devices: int | None, base=None) -> dict:
    env = dict(os.environ if base is None else base)
    env["RECJAX_PROCESS_ID"] = str(rank)
    if cpu_devices:
        flags = [f for f in env.get("XLA_FLAGS", "").split()
                 if not f.startswith("--xla_force_host_platform_device_count")]
        env["XLA_FLAGS"] = " ".join([*flags, f"--xla_force_host_platform_device_count="
                                             f"{cpu_devices}"])
        env["JAX_PLATFORMS"] = "cpu"
    return env


def _death_signal():
    """A ``preexec_fn`` for Linux: the kernel kills the worker when the launcher dies
    (PR_SET_PDEATHSIG), so a killed launcher (a test's timeout, a closed terminal) leaves no
    process behind holding a collective or the coordinator's port. libc is loaded here, in
    the parent: between fork and exec the child only makes the one C call. None elsewhere."""
    if sys.platform != "linux":
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def _relay(stream, rank: int) -> None:
    for line in iter(stream.readline, ""):
        sys.stderr.write(f"[rank {rank}] {line}")
    stream.close()


def launch(n: int, args: list[str], cpu_devices: int | None = None, port: int | None = None,
           run_dir: str | None = None, grace: float = 10.0) -> int:
    """Run the ``n`` processes to the end; the exit status (0 when all succeeded)."""
    if n < 1:
        raise ValueError(f"the number of processes must be at least 1, got {n}")
    port = port or free_port()
    procs, relays = [], []
    preexec = _death_signal()
    for rank, cmd in enumerate(worker_commands(n, args, port, run_dir)):
        out = None if rank == 0 else subprocess.PIPE
        p = subprocess.Popen(cmd, env=worker_env(rank, cpu_devices), stdout=out,
                             stderr=subprocess.STDOUT if rank else None, text=True,
                             preexec_fn=preexec)
        procs.append(p)
        if rank:
            t = threading.Thread(target=_relay, args=(p.stdout, rank), daemon=True)
            t.start()
            relays.append(t)

    def stop(sig=signal.SIGTERM):
        for p in procs:
            if p.poll() is None:
                p.send_signal(sig)

    previous = {s: signal.signal(s, lambda signum, _: stop(signum))
                for s in (signal.SIGINT, signal.SIGTERM)}
    status = 0
    try:
        while True:
            codes = [p.poll() for p in procs]  # every process, every pass
            failed = [(rank, c) for rank, c in enumerate(codes) if c not in (None, 0)]
            if failed and not status:
                rank, status = failed[0]
                if any(c is None for c in codes):
                    print(f"recjax-launch-local: rank {rank} exited with {status}; stopping "
                          f"the other processes", file=sys.stderr, flush=True)
                    stop()
                    deadline = time.monotonic() + grace
                    while (any(p.poll() is None for p in procs)
                           and time.monotonic() < deadline):
                        time.sleep(0.1)
                    stop(signal.SIGKILL)
            if all(c is not None for c in codes):
                break
            time.sleep(0.1)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        for t in relays:
            t.join(timeout=5)
    return 128 - status if status < 0 else status


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if "--" in argv:
        i = argv.index("--")
        own, train_args = argv[:i], argv[i + 1:]
    else:
        own, train_args = argv, []
    parser = argparse.ArgumentParser(
        prog="recjax-launch-local",
        description="Start N local recjax-train processes as one multi-process run.",
        usage="recjax-launch-local N [--cpu-devices K] [--port P] -- <recjax-train args>")
    parser.add_argument("processes", type=int, help="number of processes")
    parser.add_argument("--cpu-devices", type=int, default=None,
                        help="CPU devices per process (testing multi-device code on a CPU)")
    parser.add_argument("--port", type=int, default=None, help="coordinator port (default: free)")
    opts = parser.parse_args(own)
    if opts.processes < 1:
        parser.error(f"N must be at least 1, got {opts.processes}")
    try:
        sys.exit(launch(opts.processes, train_args, opts.cpu_devices, opts.port))
    except ValueError as e:
        parser.error(str(e))


if __name__ == "__main__":
    main()
