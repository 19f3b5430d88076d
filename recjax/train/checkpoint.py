"""Checkpoints of a training run with orbax: the latest train state (params, optimiser state,
step, PRNG key), the best parameters so far, and the loop's own state (epoch, early-stopping
counters, history) as JSON, all saved together under one step number (the epoch).

orbax writes each checkpoint to a temporary directory and commits it by renaming, so a process
killed mid-save leaves the previous checkpoint intact; a checkpoint that cannot be read raises
:class:`CheckpointCorrupted`, never a half-restored state.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
import orbax.checkpoint as ocp

from recjax.train.state import TrainState


class CheckpointCorrupted(RuntimeError):
    """A checkpoint exists but cannot be restored."""


def _storable(state: TrainState):
    return state.replace(key=jax.random.key_data(state.key))


class Checkpointer:
    """Save and restore ``(state, best_params, loop_state)`` under ``directory``."""

    def __init__(self, directory: str | os.PathLike, keep: int = 1):
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                               enable_async_checkpointing=False)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest(self) -> int | None:
        return self._manager.latest_step()

    def save(self, epoch: int, state: TrainState, best_params, loop_state: dict) -> None:
        self._manager.save(epoch, args=ocp.args.Composite(
            state=ocp.args.StandardSave(_storable(state)),
            best=ocp.args.StandardSave(best_params),
            loop=ocp.args.JsonSave(loop_state)), force=True)

    def restore(self, like_state: TrainState, like_params) -> tuple[TrainState, object, dict]:
        """Restore the latest checkpoint into the structure of ``like_*`` (shapes and dtypes
        must match: a run directory of another config fails here)."""
        epoch = self.latest()
        if epoch is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        to_abstract = lambda t: jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, t)
        try:
            out = self._manager.restore(epoch, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(to_abstract(_storable(like_state))),
                best=ocp.args.StandardRestore(to_abstract(like_params)),
                loop=ocp.args.JsonRestore()))
        except Exception as e:  # orbax raises many types; all mean "unusable"
            raise CheckpointCorrupted(
                f"checkpoint {self.directory / str(epoch)} cannot be restored "
                f"({type(e).__name__}: {str(e).splitlines()[0][:300]}); delete it or use a "
                f"new run directory") from None
        state = out.state.replace(key=jax.random.wrap_key_data(out.state.key))
        return state, out.best, dict(out.loop)

    def restore_best(self, like_params):
        """Only the best parameters of the latest checkpoint (for evaluation and serving)."""
        epoch = self.latest()
        if epoch is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, like_params)
        try:
            out = self._manager.restore(epoch, args=ocp.args.Composite(
                best=ocp.args.StandardRestore(abstract), loop=ocp.args.JsonRestore()))
        except Exception as e:
            raise CheckpointCorrupted(
                f"checkpoint {self.directory / str(epoch)} cannot be restored "
                f"({type(e).__name__}: {str(e).splitlines()[0][:300]})") from None
        return out.best, dict(out.loop)

    def close(self) -> None:
        self._manager.close()
