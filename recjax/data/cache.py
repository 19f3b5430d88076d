"""Cleaned-dataset cache: read, clean and split once, load in a second from then on.

An entry holds a cleaned, id-mapped :class:`~recjax.types.Dataset` and its
:class:`~recjax.types.Split` as Parquet files (with page checksums) plus ``meta.json``. Its key
is a hash of everything the result depends on:

* the source files: name, size, modification time and a sample of the bytes (first and last
  MiB) of every file of the dataset directory (for registry datasets, the sha256 the fetch
  verified), so replacing or editing a file makes a new entry;
* the whole :class:`~recjax.config.schema.DataConfig` (cleaning, split, CSV layout);
* the source code of the data pipeline, so a change to cleaning or splitting never serves
  results computed by older code.

Entries are written to a temporary directory and renamed into place, so a killed job leaves
no half-written entry. A lock per key makes the concurrent jobs of a sweep wait for the one
that builds the entry instead of all cleaning at once. An entry that fails to load (a file
missing, a truncated or corrupted page) is moved aside with a warning and rebuilt.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
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

FORMAT_VERSION = 1
_INTERACTION_FIELDS = ("user_ids", "item_ids", "ratings", "timestamps", "behaviors")
_PARTS = ("interactions", "train", "valid", "test")
_CODE = ("readers.py", "columns.py", "clean.py", "split.py", "datasets.py", "cache.py")
_SAMPLE_BYTES = 1 << 20


class CacheCorrupt(RuntimeError):
    """A cache entry could not be loaded."""


def cache_root() -> Path:
    from recjax.data.registry import data_dir

    return data_dir() / "cleaned"


def _code_digest() -> str:
    here = Path(__file__).parent
    h = hashlib.sha256()
    for name in _CODE:
        h.update((here / name).read_bytes())
    for extra in ("types.py", "config/schema.py"):
        h.update((here.parent / extra).read_bytes())
    return h.hexdigest()


def file_fingerprint(path: Path) -> dict:
    """Size, mtime and a hash of the first and last MiB: cheap on gigabyte logs, and any
    rewrite changes the mtime."""
    st = path.stat()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(_SAMPLE_BYTES))
        if st.st_size > 2 * _SAMPLE_BYTES:
            f.seek(-_SAMPLE_BYTES, os.SEEK_END)
            h.update(f.read())
        else:
            h.update(f.read())
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sample_sha256": h.hexdigest()}


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
            out[rel]["sha256"] = verified[rel]
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


@contextlib.contextmanager
def _locked(path: Path):
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def cached(cfg: DataConfig, sources: dict, build: Callable[[], tuple[Dataset, Split]],
           root: str | os.PathLike | None = None) -> tuple[Dataset, Split]:
    """The cached ``(dataset, split)`` for ``cfg`` and ``sources`` (see
    :func:`source_fingerprint`), calling ``build`` only when no valid entry exists."""
    root = Path(root) if root is not None else cache_root()
    root.mkdir(parents=True, exist_ok=True)
    key = cache_key(cfg, sources)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in cfg.name)
    dest = root / f"{safe}-{key[:20]}"
    with _locked(root / f".{safe}-{key[:20]}.lock"):
        if dest.exists():
            try:
                return load_entry(dest)
            except CacheCorrupt as e:
                warnings.warn(f"recjax: the cleaned-data cache entry {dest} is unusable ({e}); "
                              "discarding it and cleaning again", stacklevel=3)
                aside = dest.with_name(f".{dest.name}.corrupt-{int(time.time() * 1000)}")
                dest.rename(aside)
                shutil.rmtree(aside, ignore_errors=True)
        dataset, split = build()
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".tmp-{safe}-"))
        try:
            save(dataset, split, tmp)
            os.chmod(tmp, 0o755)
            os.replace(tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return dataset, split
