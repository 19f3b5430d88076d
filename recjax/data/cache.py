"""Cleaned-dataset cache: read, clean and split once, load in a second from then on.

An entry holds a cleaned, id-mapped :class:`~recjax.types.Dataset` and its
:class:`~recjax.types.Split` as Parquet files (with page checksums), ``meta.json`` and
``manifest.json``: the sha256 of every other file of the entry and, inside it, the sha256 of
that list, so an edited, truncated or swapped file (``meta.json`` included) is detected on
load. Its key is a hash of everything the result depends on:

* the source files: name, size, inode, modification and change times, and the sha256 of the
  whole file (files up to 64 MiB) or of its first and last MiB (larger ones; for registry
  datasets also the sha256 the fetch verified), so replacing or editing a file makes a new
  entry, even an edit in place whose modification time was set back (the change time cannot
  be);
* the whole :class:`~recjax.config.schema.DataConfig` (cleaning, split, CSV layout);
* the source code of ``recjax.data`` (every module: readers, Arrow columns, cleaning,
  out-of-core staging, splits, ...) and of the types and config it uses, and the versions of
  pyarrow, numpy and Python, so a change to the pipeline never serves results computed by
  older code.

Entries live in ``$RECJAX_DATA_CACHE_DIR``, by default ``$RECJAX_DATA/cleaned``
(``~/.cache/recjax/cleaned``); ``RECJAX_DATA_CACHE=0`` turns the cache off and
``recjax-data --prune-cache`` removes every entry (:func:`prune`). Entries are written to a
temporary directory and renamed into place, so a killed job leaves no half-written entry. A
lock per key makes the concurrent jobs of a sweep wait for the one that builds the entry
instead of all cleaning at once. An entry that fails to load or to verify is moved aside with
a warning and rebuilt; a cache directory that cannot be written is skipped with one warning.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from recjax.config.schema import DataConfig
from recjax.types import CleaningStep, Dataset, IdMaps, Interactions, Split

FORMAT_VERSION = 2
_INTERACTION_FIELDS = ("user_ids", "item_ids", "ratings", "timestamps", "behaviors")
_PARTS = ("interactions", "train", "valid", "test")
_SAMPLE_BYTES = 1 << 20
WHOLE_FILE_BYTES = 64 << 20  # source files up to this size are hashed whole
MANIFEST = "manifest.json"


class CacheCorrupt(RuntimeError):
    """A cache entry could not be loaded."""


def cache_root() -> Path:
    """``$RECJAX_DATA_CACHE_DIR``, else ``$RECJAX_DATA/cleaned`` (``~/.cache/recjax/cleaned``)."""
    from recjax.data.registry import data_dir

    override = os.environ.get("RECJAX_DATA_CACHE_DIR")
    return Path(override).expanduser() if override else data_dir() / "cleaned"


def code_files() -> list[Path]:
    """The source files an entry depends on: every module of ``recjax.data`` (whatever the
    cleaning path comes to call: readers, Arrow columns, cleaning, staging, splits, ...) and
    the types and config they use."""
    here = Path(__file__).parent
    return sorted(here.glob("*.py")) + [here.parent / "types.py",
                                        here.parent / "config" / "schema.py"]


def library_versions() -> dict[str, str]:
    """The libraries whose parsing and arithmetic the cleaned results depend on."""
    return {"pyarrow": pa.__version__, "numpy": np.__version__,
            "python": f"{sys.version_info.major}.{sys.version_info.minor}"}


def _code_digest() -> str:
    root = Path(__file__).parents[1]
    h = hashlib.sha256()
    for path in code_files():
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    h.update(json.dumps(library_versions(), sort_keys=True).encode())
    return h.hexdigest()


def file_fingerprint(path: Path) -> dict:
    """Size, inode, modification and change times, and a sha256 of the whole file (up to
    :data:`WHOLE_FILE_BYTES`) or of its first and last MiB. ``os.utime`` can set the
    modification time back after an edit in place, but not the change time."""
    st = path.stat()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        if st.st_size <= WHOLE_FILE_BYTES:
            for block in iter(lambda: f.read(_SAMPLE_BYTES), b""):
                h.update(block)
        else:
            h.update(f.read(_SAMPLE_BYTES))
            f.seek(-_SAMPLE_BYTES, os.SEEK_END)
            h.update(f.read())
    return {"size": st.st_size, "inode": st.st_ino, "mtime_ns": st.st_mtime_ns,
            "ctime_ns": st.st_ctime_ns,
            ("sha256" if st.st_size <= WHOLE_FILE_BYTES else "sample_sha256"): h.hexdigest()}


def source_fingerprint(directory: Path) -> dict:
    """Fingerprints of every regular, non-hidden file in ``directory`` (recursively)."""
    from recjax.data.registry import MARKER

    marker = directory / MARKER
    verified = {}
    if marker.is_file():
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            verified = {k: v["sha256"] for k, v in json.loads(marker.read_text())["files"].items()}
    out = {}
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        if not path.is_file() or any(p.startswith(".") for p in rel.split("/")):
            continue
        out[rel] = file_fingerprint(path)
        if rel in verified:
            out[rel]["verified_sha256"] = verified[rel]
    return out


def cache_key(cfg: DataConfig, sources: dict) -> str:
    blob = json.dumps({"version": FORMAT_VERSION, "code": _code_digest(),
                       "config": dataclasses.asdict(cfg), "sources": sources},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _interactions_table(x: Interactions) -> pa.Table:
    return pa.table({f: getattr(x, f) for f in _INTERACTION_FIELDS})


def _features_table(features) -> tuple[pa.Table | None, dict[str, str]]:
    if not features:
        return None, {}
    cols, kinds = {}, {}
    for name, values in features.items():
        if values.dtype != object:
            cols[name], kinds[name] = pa.array(values), "number"
        elif len(values) and isinstance(values[0], tuple):
            cols[name] = pa.array([list(v) for v in values], type=pa.list_(pa.string()))
            kinds[name] = "tuple"
        else:
            cols[name], kinds[name] = pa.array(values.tolist(), type=pa.string()), "str"
    return pa.table(cols), kinds


def _write(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, write_page_checksum=True, compression="zstd")


def _read(path: Path) -> pa.Table:
    return pq.read_table(path, page_checksum_verification=True)


def save(dataset: Dataset, split: Split, directory: Path) -> None:
    """Write ``dataset`` and ``split`` into the (new, empty) ``directory``."""
    _write(_interactions_table(dataset.interactions), directory / "interactions.parquet")
    for part in ("train", "valid", "test"):
        _write(_interactions_table(getattr(split, part)), directory / f"{part}.parquet")
    _write(pa.table({"raw": dataset.id_maps.user_raw.tolist()}), directory / "users.parquet")
    _write(pa.table({"raw": dataset.id_maps.item_raw.tolist()}), directory / "items.parquet")
    kinds = {}
    for side, features in (("item", dataset.item_features), ("user", dataset.user_features)):
        table, kinds[side] = _features_table(features)
        if table is not None:
            _write(table, directory / f"{side}_features.parquet")
    meta = {
        "version": FORMAT_VERSION, "name": dataset.name,
        "behaviors": list(dataset.id_maps.behaviors),
        "num_users": dataset.num_users, "num_items": dataset.num_items,
        "report": [dataclasses.asdict(s) for s in dataset.report],
        "feature_kinds": kinds,
        "cold_item_ids": split.cold_item_ids.tolist(),
        "cold_user_ids": split.cold_user_ids.tolist(),
        "dropped": dict(split.dropped),
        "files": {p.name: p.stat().st_size for p in sorted(directory.iterdir())},
        "time": time.time(),
    }
    (directory / "meta.json").write_text(json.dumps(meta, indent=1))
    files = {p.name: _sha256(p) for p in sorted(directory.iterdir())}
    manifest = {"files": files, "sha256": _digest_of(files)}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _digest_of(files: dict) -> str:
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def verify_entry(directory: Path) -> None:
    """Check every file of an entry against its manifest (and the manifest against its own
    hash); :class:`CacheCorrupt` names the first that differs."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        files = manifest["files"]
        if not isinstance(files, dict) or manifest.get("sha256") != _digest_of(files):
            raise CacheCorrupt(f"{MANIFEST} does not match its own sha256")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise CacheCorrupt(f"{MANIFEST}: {type(e).__name__}: {e}") from None
    present = {p.name for p in directory.iterdir()} - {MANIFEST}
    if present != set(files):
        raise CacheCorrupt(f"files {sorted(present ^ set(files))} differ from the manifest")
    for name, digest in files.items():
        if _sha256(directory / name) != digest:
            raise CacheCorrupt(f"{name} does not match its sha256 in the manifest")


def _numpy(column) -> np.ndarray:
    """A writable numpy array, like the ones cleaning returns (Arrow may hand out read-only
    views of its buffers)."""
    arr = column.to_numpy()
    return arr if arr.flags.writeable else arr.copy()


def _interactions(table: pa.Table, num_users: int, num_items: int) -> Interactions:
    cols = [_numpy(table[f]) for f in _INTERACTION_FIELDS]
    return Interactions(*cols, num_users=num_users, num_items=num_items)


def _features(directory: Path, side: str, kinds: dict) -> dict[str, np.ndarray]:
    if not kinds:
        return {}
    table = _read(directory / f"{side}_features.parquet")
    out = {}
    for name, kind in kinds.items():
        col = table[name]
        if kind == "number":
            out[name] = _numpy(col)
            continue
        values = col.to_pylist()
        arr = np.empty(len(values), dtype=object)
        arr[:] = [tuple(v) for v in values] if kind == "tuple" else values
        out[name] = arr
    return out


def _strings(path: Path) -> np.ndarray:
    values = _read(path)["raw"].to_pylist()
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def load_entry(directory: Path) -> tuple[Dataset, Split]:
    """Load an entry written by :func:`save`; :class:`CacheCorrupt` if anything is off."""
    try:
        verify_entry(directory)
        meta = json.loads((directory / "meta.json").read_text())
        if meta.get("version") != FORMAT_VERSION:
            raise CacheCorrupt(f"format version {meta.get('version')}")
        for name, size in meta["files"].items():
            if (directory / name).stat().st_size != size:
                raise CacheCorrupt(f"{name} has {(directory / name).stat().st_size} bytes, "
                                   f"expected {size}")
        nu, ni = meta["num_users"], meta["num_items"]
        inter = _interactions(_read(directory / "interactions.parquet"), nu, ni)
        parts = {p: _interactions(_read(directory / f"{p}.parquet"), nu, ni)
                 for p in ("train", "valid", "test")}
        ids = IdMaps(_strings(directory / "users.parquet"), _strings(directory / "items.parquet"),
                     tuple(meta["behaviors"]))
        if ids.num_users != nu or ids.num_items != ni:
            raise CacheCorrupt("id maps do not match the recorded sizes")
        dataset = Dataset(meta["name"], inter, ids,
                          _features(directory, "item", meta["feature_kinds"]["item"]),
                          _features(directory, "user", meta["feature_kinds"]["user"]),
                          tuple(CleaningStep(**s) for s in meta["report"]))
        split = Split(**parts, cold_item_ids=np.asarray(meta["cold_item_ids"], np.int32),
                      cold_user_ids=np.asarray(meta["cold_user_ids"], np.int32),
                      dropped=meta["dropped"])
        return dataset, split
    except CacheCorrupt:
        raise
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as e:
        raise CacheCorrupt(f"{type(e).__name__}: {e}") from None


_UNUSABLE_WARNED: set[str] = set()


def _warn_unusable(root: Path, error: OSError) -> None:
    """Warn once per process and directory that the cache is skipped."""
    if str(root) in _UNUSABLE_WARNED:
        return
    _UNUSABLE_WARNED.add(str(root))
    warnings.warn(f"recjax: the cleaned-data cache directory {root} cannot be used "
                  f"({type(error).__name__}: {error}); cleaning without the cache (set "
                  f"RECJAX_DATA_CACHE_DIR to a writable directory, or RECJAX_DATA_CACHE=0)",
                  stacklevel=3)


def _entry_name(cfg: DataConfig, key: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in cfg.name)
    return f"{safe}-{key[:20]}"


def _lock(path: Path, blocking: bool = True):
    """The open, exclusively locked lock file ``path``; ``None`` when ``blocking`` is off and
    another process holds it. Raises OSError when the file cannot be opened or locked."""
    f = open(path, "a+")  # noqa: SIM115 - held until _unlock
    try:
        fcntl.flock(f, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        f.close()
        return None
    except OSError:
        f.close()
        raise
    return f


def _unlock(f) -> None:
    fcntl.flock(f, fcntl.LOCK_UN)
    f.close()


def cached(cfg: DataConfig, sources: dict, build: Callable[[], tuple[Dataset, Split]],
           root: str | os.PathLike | None = None) -> tuple[Dataset, Split]:
    """The cached ``(dataset, split)`` for ``cfg`` and ``sources`` (see
    :func:`source_fingerprint`), calling ``build`` only when no valid entry exists. When the
    cache directory cannot be written, ``build``'s result is returned (one warning)."""
    root = Path(root) if root is not None else cache_root()
    name = _entry_name(cfg, cache_key(cfg, sources))
    dest = root / name
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = _lock(root / f".{name}.lock")
    except OSError as e:
        _warn_unusable(root, e)
        return build()
    try:
        if dest.exists():
            try:
                return load_entry(dest)
            except CacheCorrupt as e:
                warnings.warn(f"recjax: the cleaned-data cache entry {dest} is unusable ({e}); "
                              "discarding it and cleaning again", stacklevel=3)
                try:
                    aside = dest.with_name(f".{name}.corrupt-{int(time.time() * 1000)}")
                    dest.rename(aside)
                    shutil.rmtree(aside, ignore_errors=True)
                except OSError as err:
                    _warn_unusable(root, err)
                    return build()
        dataset, split = build()
        try:
            _store(dataset, split, root, name)
        except OSError as e:
            if not (dest / MANIFEST).is_file():  # else another job stored it meanwhile
                _warn_unusable(root, e)
        return dataset, split
    finally:
        _unlock(lock)


def _store(dataset: Dataset, split: Split, root: Path, name: str) -> None:
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".tmp-{name}-"))
    try:
        save(dataset, split, tmp)
        os.chmod(tmp, 0o755)
        os.replace(tmp, root / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if not p.is_dir())


def prune(root: str | os.PathLike | None = None) -> tuple[int, int, int]:
    """Remove every entry of the cache at ``root`` (default :func:`cache_root`), with the
    leftovers of killed jobs. Entries a running job is building or reading are left alone.
    Returns ``(entries removed, bytes freed, entries in use)``."""
    root = Path(root) if root is not None else cache_root()
    if not root.is_dir():
        return 0, 0, 0
    removed = freed = busy = 0
    for path in sorted(root.iterdir()):
        if path.name.endswith(".lock"):
            continue
        if path.name.startswith(".tmp-"):
            name = path.name[len(".tmp-"):].rsplit("-", 1)[0]
        elif path.name.startswith(".") and ".corrupt-" in path.name:
            name = None  # already set aside: nobody reads it
        elif path.is_dir() and not path.name.startswith("."):
            name = path.name
        else:
            continue
        lock = _lock(root / f".{name}.lock", blocking=False) if name else True
        if lock is None:
            busy += 1
            continue
        try:
            size = _size(path)
            shutil.rmtree(path)
            freed += size
            removed += not path.name.startswith(".")
        finally:
            if name:
                (root / f".{name}.lock").unlink(missing_ok=True)
                _unlock(lock)
    for path in sorted(root.glob(".*.lock")):  # locks of entries removed before
        lock = _lock(path, blocking=False)
        if lock is not None:
            path.unlink(missing_ok=True)
            _unlock(lock)
    return removed, freed, busy
