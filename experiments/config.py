"""Hydra glue: the frozen schemas of ``recjax.config.schema`` registered with Hydra's
ConfigStore (as mutable twins, since Hydra merges into them), conversion of the composed
config into the frozen :class:`ExperimentConfig`, runtime set-up and clean error exits."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import sys
import typing
from collections.abc import Callable
from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from recjax.config.io import from_dict
from recjax.config.schema import ExperimentConfig, ParallelConfig

# Absolute, so the entrypoints find conf/ whether run as scripts or installed commands.
CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")


@functools.cache
def thaw(cls):
    """A mutable dataclass with the same fields, types and defaults as frozen ``cls``."""
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            twin = thaw(tp)
            specs.append((f.name, twin, dataclasses.field(default_factory=twin)))
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if isinstance(default, tuple):
            specs.append((f.name, tp, dataclasses.field(
                default_factory=functools.partial(list, default))))
        else:
            specs.append((f.name, tp, dataclasses.field(default=default)))
    return dataclasses.make_dataclass(cls.__name__, specs)


def register() -> None:
    """Register the schema for ``conf/config.yaml``'s ``defaults: [config_schema, ...]``."""
    ConfigStore.instance().store(name="config_schema", node=thaw(ExperimentConfig))


def to_experiment(cfg: DictConfig) -> ExperimentConfig:
    """The composed Hydra config as the frozen, validated dataclass."""
    data = OmegaConf.to_container(cfg, resolve=True)
    data.pop("hydra", None)
    return from_dict(ExperimentConfig, data)


def configure_runtime(parallel: ParallelConfig, job_num: int = 0) -> None:
    """Thread and memory settings that must precede JAX's start in this process.

    ``cpu_threads = n > 0`` pins the process to n cores (job k of a parallel sweep gets cores
    k*n .. k*n+n-1, modulo the machine), which also sizes XLA's CPU thread pool.
    """
    if parallel.cpu_threads > 0 and hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        n = min(parallel.cpu_threads, len(cores))
        start = (job_num * n) % len(cores)
        os.sched_setaffinity(0, {cores[(start + i) % len(cores)] for i in range(n)})
    if not parallel.preallocate:
        os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    if parallel.distributed:
        import jax

        from recjax.train.parallel import initialize_distributed

        # CPU collectives across processes (several local processes, CPU clusters); no effect
        # on GPU/TPU computations. Set here, in the entrypoint, not in the library.
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        initialize_distributed(parallel.coordinator_address, parallel.num_processes,
                               parallel.process_id)


def _unless_distributed(value, distributed=False, off=None):
    return off if str(distributed).lower() in ("true", "1") else value


def _register_resolvers() -> None:
    # ${recjax_unless_distributed:VALUE,${parallel.distributed}[,OFF]}: VALUE in a one-process
    # run, else OFF (null): in a multi-process run Hydra itself writes nothing into the shared
    # run directory (no process knows its rank before JAX starts, on every cluster); process 0
    # writes what Hydra would have once JAX says who it is (write_hydra_outputs).
    OmegaConf.register_new_resolver("recjax_unless_distributed", _unless_distributed,
                                    replace=True)


_register_resolvers()


def write_hydra_outputs(cfg: DictConfig) -> None:
    """What Hydra writes into a run directory, written by process 0 of a multi-process run
    (``parallel.distributed``; conf/config.yaml switches Hydra's own writing off for every
    process): ``.hydra/config.yaml``, ``hydra.yaml``, ``overrides.yaml`` and the job log
    (``<job name>.log``, when the chosen ``hydra/job_logging`` has a file handler)."""
    import jax
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.instance().cfg
    hc = hydra_cfg.hydra
    out = Path(hc.runtime.output_dir).resolve()
    root = logging.getLogger()
    # A hydra/job_logging other than recjax's may have opened a log file in the run directory
    # on every process (Hydra's `default` does); other processes stop writing to it.
    in_run = [h for h in root.handlers if isinstance(h, logging.FileHandler)
              and out in Path(h.baseFilename).resolve().parents]
    if jax.process_index() != 0:
        for h in in_run:
            root.removeHandler(h)
            h.close()
        return
    if hc.output_subdir is None:  # recjax's distributed default (the user may choose one)
        sub = out / ".hydra"
        sub.mkdir(parents=True, exist_ok=True)
        for name, node in (("config.yaml", cfg), ("hydra.yaml", hydra_cfg),
                           ("overrides.yaml", hc.overrides.task)):
            (sub / name).write_text(OmegaConf.to_yaml(node), encoding="utf-8")
    logging_cfg = OmegaConf.to_container(hc.job_logging)
    if "file" in logging_cfg.get("handlers", {}) and not in_run:
        handler = logging.FileHandler(out / f"{hc.job.name}.log")
        fmt = logging_cfg.get("formatters", {}).get("simple", {})
        handler.setFormatter(logging.Formatter(fmt.get("format")))
        root.addHandler(handler)


def job_num() -> int:
    """The job's index in a multirun (0 in a single run)."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf.errors import MissingMandatoryValue

    try:
        return int(HydraConfig.get().job.num)
    except (MissingMandatoryValue, ValueError, TypeError):
        return 0


def output_dir() -> str:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().runtime.output_dir


def clean_errors(prog: str) -> Callable:
    """Turn the errors a user can cause into one line on stderr and exit status 2."""

    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            # orbax logs every save and restore at INFO through absl, and Hydra's logging
            # setup would print all of it.
            for name in ("absl", "orbax", "jax"):
                logging.getLogger(name).setLevel(logging.WARNING)
            from recjax.data.registry import FetchError
            from recjax.experiment import IncompatibleRunError
            from recjax.train.checkpoint import CheckpointCorrupted

            try:
                return fn(*args, **kwargs)
            except (ValueError, TypeError, KeyError, FileNotFoundError, FetchError,
                    IncompatibleRunError, CheckpointCorrupted) as e:
                msg = e.args[0] if isinstance(e, KeyError) and e.args else e
                print(f"{prog}: error: {msg}", file=sys.stderr)
                sys.exit(2)

        return run

    return wrap
