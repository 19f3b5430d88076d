"""Load a Hugging Face BERT or RoBERTa checkpoint directory into
:class:`~recjax.text.bert.BertEncoder` parameters.

Reads ``config.json`` and ``model.safetensors`` (numpy, no torch). State-dict keys may carry a
model-class prefix (``bert.`` in ``BertForMaskedLM``, ``roberta.`` in ``XLMRobertaForMaskedLM``)
or not (``BertModel``, ``XLMRobertaModel``, sentence-transformers); RoBERTa's weights have
BERT's names. Old checkpoints name LayerNorm parameters ``gamma``/``beta``. Every expected
weight must be present with the right shape; heads we do not use (pooler, BERT's MLM/NSP
``cls.*``, RoBERTa's ``lm_head.*``) are ignored; anything else unexpected is an error, since it
means the architecture is not the one we implement.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from recjax.text.bert import BertConfig, BertEncoder

IGNORED_PREFIXES = ("pooler.", "cls.", "lm_head.", "embeddings.position_ids")


class CheckpointError(ValueError):
    """A checkpoint directory is missing files or its weights do not fit the config."""


def _hf_name(path: tuple[str, ...]) -> tuple[str, bool]:
    """Our parameter path -> (HF state-dict name without prefix, transpose?)."""
    *mods, leaf = path
    if mods[0] == "embeddings":
        base = "embeddings." + mods[1]
    else:
        i = mods[0].removeprefix("layer_")
        sub = "/".join(mods[1:])
        base = f"encoder.layer.{i}." + {
            "attention/query": "attention.self.query",
            "attention/key": "attention.self.key",
            "attention/value": "attention.self.value",
            "attention/output": "attention.output.dense",
            "attention/LayerNorm": "attention.output.LayerNorm",
            "intermediate": "intermediate.dense",
            "output": "output.dense",
            "output_LayerNorm": "output.LayerNorm",
        }[sub]
    suffix = {"kernel": "weight", "embedding": "weight", "scale": "weight", "bias": "bias"}[leaf]
    return f"{base}.{suffix}", leaf == "kernel"


def _get(state: dict, name: str):
    if name in state:
        return name
    alt = name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias",
                                                                       "LayerNorm.beta")
    return alt if alt in state else None


def read_state_dict(directory: Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = directory / "model.safetensors"
    if not path.is_file():
        others = sorted(p.name for p in directory.glob("*.bin")) if directory.is_dir() else []
        hint = (f" (found {others}: PyTorch pickles need torch; convert them to safetensors)"
                if others else "")
        raise CheckpointError(f"{directory}: no model.safetensors{hint}")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot read safetensors ({e})") from None
    # Strip a model-class prefix such as "bert." or "roberta." when every encoder weight
    # carries it.
    prefixed = [k for k in state if ".embeddings." in k or ".encoder." in k]
    if prefixed and not any(k.startswith(("embeddings.", "encoder.")) for k in state):
        prefix = prefixed[0].split("embeddings.")[0].split("encoder.")[0]
        state = {k.removeprefix(prefix): v for k, v in state.items()}
    return state


def load_bert(directory: str | os.PathLike, dtype=jnp.float32
              ) -> tuple[BertEncoder, BertConfig, dict]:
    """Build the encoder and its parameters from a checkpoint directory (BERT or RoBERTa
    family, see :data:`recjax.text.bert.MODEL_TYPES`).

    Returns ``(module, config, params)`` with ``params`` a float32 pytree (``{"params": ...}``).

    Raises:
      CheckpointError: missing files, missing or unexpected weights (listed), wrong shapes.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: checkpoint directory does not exist")
    try:
        config = BertConfig.from_json(directory / "config.json")
    except (FileNotFoundError, ValueError) as e:
        raise CheckpointError(str(e)) from None
    module = BertEncoder(config, dtype=dtype)
    ids = jnp.zeros((1, 2), jnp.int32)
    shapes = jax.eval_shape(module.init, jax.random.key(0), ids, ids)["params"]
    state = read_state_dict(directory)

    used, missing, wrong = set(), [], []
    flat = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(shapes)[0]:
        keys = tuple(p.key for p in path)
        name, transpose = _hf_name(keys)
        found = _get(state, name)
        if found is None:
            missing.append(name)
            continue
        value = state[found].T if transpose else state[found]
        if value.shape != leaf.shape:
            wrong.append(f"{found}: checkpoint {state[found].shape}, expected "
                         f"{leaf.shape[::-1] if transpose else leaf.shape}")
        used.add(found)
        flat[keys] = np.asarray(value, dtype=np.float32)
    unexpected = sorted(k for k in state if k not in used and not k.startswith(IGNORED_PREFIXES))
    problems = []
    if missing:
        problems.append(f"missing weights ({len(missing)}): {missing[:8]}"
                        + (" ..." if len(missing) > 8 else ""))
    if unexpected:
        problems.append(f"unexpected weights ({len(unexpected)}): {unexpected[:8]}"
                        + (" ..." if len(unexpected) > 8 else ""))
    if wrong:
        problems.append("shape mismatches: " + "; ".join(wrong[:8]))
    if problems:
        raise CheckpointError(f"{directory}: the weights do not match config.json "
                              f"({config.num_hidden_layers} layers, hidden "
                              f"{config.hidden_size}): " + " | ".join(problems))
    params = jax.tree_util.tree_map_with_path(
        lambda p, _: jnp.asarray(flat[tuple(k.key for k in p)]), shapes)
    return module, config, {"params": params}
