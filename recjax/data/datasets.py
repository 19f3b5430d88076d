"""Load a dataset by registry name or directory: read -> clean -> split, one call each."""

from __future__ import annotations

import os
from pathlib import Path

from recjax.config.schema import CleanConfig, DataConfig
from recjax.data import readers, registry
from recjax.data.clean import clean
from recjax.data.split import split
from recjax.data.synthetic import synthetic_raw
from recjax.types import Dataset, RawDataset, Split

# RecBole's ml-100k atomic files name the item columns differently from GroupLens'.
_ATOMIC_RENAME = {"movie_title": "title", "release_year": "year", "class": "genres"}


def read_directory(directory: str | os.PathLike, name: str | None = None) -> RawDataset:
    """Read whatever dataset files ``directory`` holds: RecBole atomic files
    (``<name>.inter``), GroupLens ml-100k (``u.data``) or ml-1m (``ratings.dat``)."""
    d = Path(directory)
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: no such directory")
    name = name or d.name
    inter = sorted(d.glob("*.inter"))
    if (d / f"{name}.inter").is_file() or len(inter) == 1:
        stem = name if (d / f"{name}.inter").is_file() else inter[0].stem
        return read_atomic_renamed(d, stem)
    if (d / "u.data").is_file():
        return _renamed(readers.read_movielens_100k(d), name)
    if (d / "ratings.dat").is_file():
        return _renamed(readers.read_movielens_1m(d), name)
    raise FileNotFoundError(
        f"{d}: found no dataset files (expected <name>.inter atomic files, u.data for "
        f"ml-100k or ratings.dat for ml-1m); files present: {sorted(p.name for p in d.iterdir())}")


def read_atomic_renamed(directory: Path, stem: str) -> RawDataset:
    return readers.read_atomic_dataset(directory, stem, _ATOMIC_RENAME)


def _renamed(raw: RawDataset, name: str) -> RawDataset:
    return RawDataset(name, raw.interactions, raw.items, raw.users)


def read_raw(name: str, path: str | None = None) -> RawDataset:
    """A registered dataset (fetched and cached) or, with ``path``, a local directory."""
    if path is not None:
        return read_directory(path, name)
    if name in registry.RESOURCES and registry.RESOURCES[name].kind == "dataset":
        return read_directory(registry.fetch(name), name)
    datasets = sorted(k for k, v in registry.RESOURCES.items() if v.kind == "dataset")
    raise KeyError(f"unknown dataset {name!r}; registered datasets: {datasets} "
                   f"(or give data.path=<directory of atomic/CSV files>)")


def load_dataset(name: str, path: str | None = None,
                 clean_cfg: CleanConfig = CleanConfig()) -> Dataset:
    return clean(read_raw(name, path), clean_cfg)


def load(cfg: DataConfig) -> tuple[Dataset, Split]:
    """Read, clean and split as ``cfg`` says."""
    if cfg.name == "synthetic":
        dataset = clean(synthetic_raw(cfg.synthetic), cfg.clean)
    else:
        dataset = load_dataset(cfg.name, cfg.path, cfg.clean)
    return dataset, split(dataset.interactions, cfg.split)
