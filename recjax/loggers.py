"""Optional per-run metric logging to TensorBoard and Weights & Biases (``run.loggers``).

Each logger takes the per-epoch records the training loop writes to ``metrics.jsonl`` (their
numeric fields, at step = epoch) and the final valid/test metrics. The packages are extras
(``pip install 'recjax[logging]'``), imported only when a logger is asked for; W&B runs in
offline mode unless ``WANDB_MODE`` is set, so no account is needed.
"""

from __future__ import annotations

import math
import os
from pathlib import Path


def _scalars(record: dict) -> dict[str, float]:
    return {k: float(v) for k, v in record.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and k != "epoch"
            and math.isfinite(float(v))}


def _import(module: str, logger: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ValueError(f"run.loggers includes {logger!r} but {module} is not installed: "
                         f"pip install 'recjax[logging]'") from None


class TensorBoardLogger:
    """Scalars to ``<run_dir>/tensorboard`` with tensorboardX."""

    def __init__(self, run_dir: Path, config: dict, name: str, project: str):
        tbx = _import("tensorboardX", "tensorboard")
        self.writer = tbx.SummaryWriter(str(Path(run_dir) / "tensorboard"))

    def log(self, record: dict, step: int) -> None:
        for key, value in _scalars(record).items():
            self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        self.writer.close()


class WandbLogger:
    """A W&B run under ``<run_dir>/wandb`` (offline by default), config attached."""

    def __init__(self, run_dir: Path, config: dict, name: str, project: str):
        wandb = _import("wandb", "wandb")
        self.run = wandb.init(project=project, name=name, dir=str(run_dir), config=config,
                              mode=os.environ.get("WANDB_MODE", "offline"), reinit=True)

    def log(self, record: dict, step: int) -> None:
        self.run.log(_scalars(record), step=step)

    def close(self) -> None:
        self.run.finish()


LOGGERS = {"tensorboard": TensorBoardLogger, "wandb": WandbLogger}


class RunLoggers:
    """The loggers a run asked for, fed like one."""

    def __init__(self, names, run_dir, config: dict, name: str, project: str = "recjax"):
        unknown = sorted(set(names) - set(LOGGERS))
        if unknown:
            raise ValueError(f"run.loggers: unknown {unknown}; valid: {sorted(LOGGERS)}")
        self.loggers = []
        try:
            for n in names:
                self.loggers.append(LOGGERS[n](Path(run_dir), config, name, project))
        except BaseException:
            self.close()  # the ones already open (e.g. TensorBoard before a missing wandb)
            raise

    def on_epoch(self, record: dict) -> None:
        for logger in self.loggers:
            logger.log(record, int(record["epoch"]))

    def finish(self, metrics: dict, step: int) -> None:
        flat = {f"final/{part}/{k}": v for part, values in metrics.items()
                for k, v in values.items()}
        try:
            for logger in self.loggers:
                logger.log(flat, step)
        finally:
            self.close()

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()
        self.loggers = []
