"""On-disk cache of text vectors, safe across runs and concurrent sweep jobs.

An entry is ``<key>.npy`` (float32 ``[n, dim]``) plus ``<key>.json`` (what was encoded and
the SHA-256 of the array bytes). The key hashes everything that determines the vectors: the
checkpoint's fingerprint, the texts, the template, max length, pooling, normalisation and
dtype. Both files are written to temporary names and renamed into place (atomic on POSIX), the
metadata last, so a reader either sees a complete entry or none. An entry whose metadata is
unreadable, whose array is truncated, or whose checksum or shape disagrees is reported, removed
and rebuilt, never used.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from recjax.data.registry import MARKER, data_dir, sha256_file

FORMAT_VERSION = 1


def default_cache_dir() -> Path:
    """``$RECJAX_TEXT_CACHE``, else ``<data dir>/text-cache``."""
    env = os.environ.get("RECJAX_TEXT_CACHE")
    return Path(env) if env else data_dir() / "text-cache"


def checkpoint_fingerprint(directory: str | os.PathLike) -> str:
    """SHA-256 over the checkpoint's config, tokenizer and weights (weights' hash taken from
    the registry's verified marker when present, else computed)."""
    d = Path(directory)
    h = hashlib.sha256()
    weights_sha = None
    try:
        marker = json.loads((d / MARKER).read_text())
        weights_sha = marker["files"]["model.safetensors"]["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if weights_sha is None and (d / "model.safetensors").is_file():
        weights_sha = sha256_file(d / "model.safetensors")
    h.update((weights_sha or "").encode())
    for name in ("config.json", "tokenizer.json", "vocab.txt", "sentence_bert_config.json"):
        if (d / name).is_file():
            h.update(name.encode() + (d / name).read_bytes())
    return h.hexdigest()


def cache_key(texts: Sequence[str], **settings) -> str:
    """Hash of the texts and every setting that changes the vectors."""
    h = hashlib.sha256()
    h.update(json.dumps({"v": FORMAT_VERSION, **settings}, sort_keys=True).encode())
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little") + b)
    return h.hexdigest()[:32]


def _array_sha(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


def load(cache_dir: Path, key: str, n: int) -> np.ndarray | None:
    """The cached array for ``key``, or None when absent or invalid (invalid ones are removed
    with a warning)."""
    meta_path, arr_path = cache_dir / f"{key}.json", cache_dir / f"{key}.npy"
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        arr = np.load(arr_path, allow_pickle=False)
        problem = None
        if meta.get("version") != FORMAT_VERSION:
            problem = f"format version {meta.get('version')}"
        elif arr.shape != (n, meta["dim"]) or arr.dtype != np.float32:
            problem = f"array {arr.shape} {arr.dtype}, expected ({n}, {meta['dim']}) float32"
        elif _array_sha(arr) != meta["sha256"]:
            problem = "checksum mismatch"
    except (OSError, ValueError, KeyError, TypeError, EOFError) as e:
        problem = f"unreadable ({type(e).__name__}: {e})"
    if problem is None:
        return arr
    warnings.warn(f"text cache entry {key} is invalid ({problem}); rebuilding it", stacklevel=2)
    for p in (meta_path, arr_path):
        p.unlink(missing_ok=True)
    return None


@contextlib.contextmanager
def entry_lock(cache_dir: Path, key: str):
    """An exclusive lock on one entry while it is checked and built, so concurrent sweep jobs
    that need the same vectors encode them once: the others wait, then find them cached."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f".{key}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def store(cache_dir: Path, key: str, arr: np.ndarray, **meta) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    _atomic_write(cache_dir / f"{key}.npy", lambda f: np.save(f, arr, allow_pickle=False))
    info = {"version": FORMAT_VERSION, "n": int(arr.shape[0]), "dim": int(arr.shape[1]),
            "sha256": _array_sha(arr), **meta}
    _atomic_write(cache_dir / f"{key}.json",
                  lambda f: f.write(json.dumps(info, indent=1, default=str).encode()))
