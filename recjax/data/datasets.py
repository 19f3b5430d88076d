"""Load a dataset by registry name or directory: read -> clean -> split, one call each."""

from __future__ import annotations

import os
from pathlib import Path

from recjax.config.schema import CleanConfig, CsvConfig, DataConfig
from recjax.data import readers, registry
from recjax.data.clean import clean
from recjax.data.split import split
from recjax.data.synthetic import synthetic_raw
from recjax.types import Dataset, RawDataset, Split

# RecBole's ml-100k atomic files name the item columns differently from GroupLens'.
_ATOMIC_RENAME = {"movie_title": "title", "release_year": "year", "class": "genres"}

# The checkout holding recjax/, conf/ and experiments/. Shipped configs name their data
# relative to it (conf/data/multilingual.yaml: experiments/multilingual), so that they work
# from any working directory without an absolute path or a Hydra-only interpolation.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def resolve_path(path: str | os.PathLike) -> Path:
    """``path`` itself when absolute or present relative to the working directory, else
    relative to :data:`PROJECT_ROOT` when present there (else unchanged, for the error)."""
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists() or not (PROJECT_ROOT / p).exists():
        return p
    return PROJECT_ROOT / p


def _atomic_stem(d: Path, name: str) -> str | None:
    if (d / f"{name}.inter").is_file():
        return name
    inter = sorted(d.glob("*.inter"))
    return inter[0].stem if len(inter) == 1 else None


def _movielens_reader(d: Path):
    if (d / "u.data").is_file():
        return readers.read_movielens_100k
    if (d / "ratings.dat").is_file():
        return readers.read_movielens_1m
    return None


def detect_format(directory: str | os.PathLike, name: str | None = None) -> str | None:
    """``atomic`` or ``movielens`` as ``format=auto`` would read ``directory``, else None
    (CSV files are never guessed: their layout comes from ``data.csv``)."""
    d = Path(directory)
    if _atomic_stem(d, name or d.name) is not None:
        return "atomic"
    return "movielens" if _movielens_reader(d) is not None else None


_EXPECTED = {"auto": "<name>.inter atomic files, u.data for ml-100k or ratings.dat for ml-1m",
             "atomic": "{name}.inter (or exactly one *.inter file)",
             "movielens": "u.data (ml-100k) or ratings.dat (ml-1m)"}


def read_directory(directory: str | os.PathLike, name: str | None = None, fmt: str = "auto",
                   csv: CsvConfig | None = None) -> RawDataset:
    """Read the dataset files in ``directory`` as ``fmt`` says (see ``DataConfig.format``):
    RecBole atomic files (``<name>.inter``), GroupLens ml-100k (``u.data``) or ml-1m
    (``ratings.dat``), or the CSV files ``csv`` describes."""
    if fmt not in DataConfig.FORMATS:
        raise ValueError(f"data format {fmt!r} is unknown; valid: {DataConfig.FORMATS}")
    d = resolve_path(directory)
    if not d.is_dir():
        where = "" if Path(directory).is_absolute() else (
            f" (looked in {Path.cwd()} and in {PROJECT_ROOT})")
        raise FileNotFoundError(f"{directory}: no such directory{where}")
    name = name or d.name
    if fmt == "csv":
        return read_csv_directory(d, csv or CsvConfig(), name)
    if fmt in ("auto", "atomic"):
        stem = _atomic_stem(d, name)
        if stem is not None:
            return read_atomic_renamed(d, stem)
    if fmt in ("auto", "movielens"):
        reader = _movielens_reader(d)
        if reader is not None:
            return _renamed(reader(d), name)
    present = sorted(p.name for p in d.iterdir())
    if fmt == "auto":
        raise FileNotFoundError(
            f"{d}: found no dataset files (expected {_EXPECTED[fmt]}; for CSV files set "
            f"data.format=csv and describe them in data.csv); files present: {present}")
    other = detect_format(d, name)
    hint = f"; they look like {other} files: set data.format={other}" if other else ""
    expected = _EXPECTED[fmt].format(name=name)
    raise FileNotFoundError(f"{d}: data.format={fmt} expects {expected}, but the files "
                            f"present are {present}{hint}")


def read_csv_directory(directory: str | os.PathLike, csv: CsvConfig,
                       name: str | None = None) -> RawDataset:
    """The CSV/TSV files ``csv`` names, relative to ``directory``."""
    d = Path(directory)
    files = {}
    for key in ("interactions", "items", "users"):
        rel = getattr(csv, key)
        if rel is None:
            continue
        files[key] = d / rel
        if not files[key].is_file():
            raise FileNotFoundError(
                f"{files[key]}: no such file (data.csv.{key}={rel!r}); files in {d}: "
                f"{sorted(p.name for p in d.iterdir())}")
    return readers.read_csv_dataset(
        files["interactions"], csv.columns, items=files.get("items"),
        item_columns=csv.item_columns, users=files.get("users"), user_columns=csv.user_columns,
        types=csv.types, delimiter=csv.delimiter, name=name or d.name)


def read_atomic_renamed(directory: Path, stem: str) -> RawDataset:
    return readers.read_atomic_dataset(directory, stem, _ATOMIC_RENAME)


def _renamed(raw: RawDataset, name: str) -> RawDataset:
    return RawDataset(name, raw.interactions, raw.items, raw.users)


def read_raw(name: str, path: str | None = None, fmt: str = "auto",
             csv: CsvConfig | None = None) -> RawDataset:
    """A registered dataset (fetched and cached) or, with ``path``, a local directory, read
    as ``fmt`` says."""
    if path is not None:
        return read_directory(path, name, fmt, csv)
    if name in registry.RESOURCES and registry.RESOURCES[name].kind == "dataset":
        return read_directory(registry.fetch(name), name, fmt, csv)
    datasets = sorted(k for k, v in registry.RESOURCES.items() if v.kind == "dataset")
    raise KeyError(f"unknown dataset {name!r}; registered datasets: {datasets} "
                   f"(or give data.path=<directory of atomic/MovieLens/CSV files>)")


def load_dataset(name: str, path: str | None = None,
                 clean_cfg: CleanConfig = CleanConfig(), fmt: str = "auto",
                 csv: CsvConfig | None = None) -> Dataset:
    return clean(read_raw(name, path, fmt, csv), clean_cfg)


def load(cfg: DataConfig) -> tuple[Dataset, Split]:
    """Read, clean and split as ``cfg`` says."""
    if cfg.name == "synthetic":
        dataset = clean(synthetic_raw(cfg.synthetic), cfg.clean)
    else:
        dataset = load_dataset(cfg.name, cfg.path, cfg.clean, cfg.format, cfg.csv)
    return dataset, split(dataset.interactions, cfg.split)
