"""Load a dataset by registry name or directory: read -> clean -> split, one call each."""

from __future__ import annotations

import os
from pathlib import Path

from recjax.config.schema import CleanConfig, CsvConfig, DataConfig
from recjax.data import amazon, readers, registry, staging
from recjax.data import cache as data_cache
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
        return (readers.read_movielens_1m if (d / "users.dat").is_file()
                else readers.read_movielens_10m)
    if (d / "ratings.csv").is_file() and (d / "movies.csv").is_file():
        return readers.read_movielens_csv
    return None


def detect_format(directory: str | os.PathLike, name: str | None = None) -> str | None:
    """``atomic`` or ``movielens`` as ``format=auto`` would read ``directory``, else None
    (CSV files are never guessed: their layout comes from ``data.csv``)."""
    d = Path(directory)
    if _atomic_stem(d, name or d.name) is not None:
        return "atomic"
    return "movielens" if _movielens_reader(d) is not None else None


_EXPECTED = {"auto": "<name>.inter atomic files, u.data for ml-100k, ratings.dat for ml-1m or "
                     "ml-10m, ratings.csv + movies.csv for ml-20m or ml-25m, or <Category>.jsonl"
                     "[.gz] + meta_<Category>.jsonl[.gz] for Amazon Reviews 2023",
             "atomic": "{name}.inter (or exactly one *.inter file)",
             "movielens": "u.data (ml-100k) or ratings.dat (ml-1m, ml-10m) or ratings.csv + "
                          "movies.csv (ml-20m, ml-25m)"}


def read_directory(directory: str | os.PathLike, name: str | None = None, fmt: str = "auto",
                   csv: CsvConfig | None = None, typed: bool = True) -> RawDataset:
    """Read the dataset files in ``directory`` as ``fmt`` says (see ``DataConfig.format``):
    RecBole atomic files (``<name>.inter``), GroupLens ml-100k (``u.data``), ml-1m / ml-10m
    (``ratings.dat``) or ml-20m / ml-25m (``ratings.csv`` + ``movies.csv``), the CSV files
    ``csv`` describes, or (``auto`` only) an Amazon Reviews 2023 category
    (``<Category>.jsonl[.gz]`` + ``meta_<Category>.jsonl[.gz]``).

    ``typed`` (the default) reads the interactions into typed Arrow columns (see
    :mod:`recjax.data.readers`); ``typed=False`` keeps every cell a string."""
    if fmt not in DataConfig.FORMATS:
        raise ValueError(f"data format {fmt!r} is unknown; valid: {DataConfig.FORMATS}")
    d = resolve_path(directory)
    if not d.is_dir():
        where = "" if Path(directory).is_absolute() else (
            f" (looked in {Path.cwd()} and in {PROJECT_ROOT})")
        raise FileNotFoundError(f"{directory}: no such directory{where}")
    name = name or d.name
    if fmt == "csv":
        return read_csv_directory(d, csv or CsvConfig(), name, typed)
    if fmt in ("auto", "atomic"):
        stem = _atomic_stem(d, name)
        if stem is not None:
            return read_atomic_renamed(d, stem, typed)
    if fmt in ("auto", "movielens"):
        reader = _movielens_reader(d)
        if reader is not None:
            return _renamed(reader(d, typed=typed), name)
    if fmt == "auto" and amazon.amazon_files(d) is not None:
        return _renamed(amazon.read_amazon_2023(d, typed=typed), name)
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
                       name: str | None = None, typed: bool = True) -> RawDataset:
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
        types=csv.types, delimiter=csv.delimiter, name=name or d.name, typed=typed)


def read_atomic_renamed(directory: Path, stem: str, typed: bool = True) -> RawDataset:
    return readers.read_atomic_dataset(directory, stem, _ATOMIC_RENAME, typed)


def _renamed(raw: RawDataset, name: str) -> RawDataset:
    return RawDataset(name, raw.interactions, raw.items, raw.users)


def read_raw(name: str, path: str | None = None, fmt: str = "auto",
             csv: CsvConfig | None = None, typed: bool = True) -> RawDataset:
    """A registered dataset (fetched and cached) or, with ``path``, a local directory, read
    as ``fmt`` says (``typed``: see :func:`read_directory`)."""
    if path is not None:
        return read_directory(path, name, fmt, csv, typed)
    if name in registry.RESOURCES and registry.RESOURCES[name].kind == "dataset":
        return read_directory(registry.fetch(name), name, fmt, csv, typed)
    datasets = sorted(k for k, v in registry.RESOURCES.items() if v.kind == "dataset")
    raise KeyError(f"unknown dataset {name!r}; registered datasets: {datasets} "
                   f"(or give data.path=<directory of atomic/MovieLens/CSV files>)")


def load_dataset(name: str, path: str | None = None,
                 clean_cfg: CleanConfig = CleanConfig(), fmt: str = "auto",
                 csv: CsvConfig | None = None) -> Dataset:
    return clean(read_raw(name, path, fmt, csv), clean_cfg)


def load(cfg: DataConfig, cache: bool | None = None) -> tuple[Dataset, Split]:
    """Read, clean and split as ``cfg`` says.

    With ``cache`` (default: on unless the environment sets ``RECJAX_DATA_CACHE=0``) the
    result of a file-backed dataset is kept in the cleaned-data cache
    (:mod:`recjax.data.cache`: ``$RECJAX_DATA_CACHE_DIR``, default ``$RECJAX_DATA/cleaned``)
    and loaded from there while the files, the config, the pipeline's code and the library
    versions are unchanged; a cache directory that cannot be written is skipped with one
    warning. Synthetic data is never cached.
    """
    if cache is None:
        cache = os.environ.get("RECJAX_DATA_CACHE", "1") != "0"
    if cfg.name == "synthetic":
        dataset = clean(synthetic_raw(cfg.synthetic), cfg.clean)
        return dataset, split(dataset.interactions, cfg.split)
    directory = _source_directory(cfg)

    def build() -> tuple[Dataset, Split]:
        dataset = clean_directory(directory, cfg)
        return dataset, split(dataset.interactions, cfg.split)

    if not cache:
        return build()
    sources = data_cache.source_fingerprint(directory)
    if cfg.format == "csv":  # CSV files may be named outside the directory ("../log.csv")
        for rel in (cfg.csv.interactions, cfg.csv.items, cfg.csv.users):
            if rel is not None and (directory / rel).is_file():
                sources[f"csv:{rel}"] = data_cache.file_fingerprint(directory / rel)
    return data_cache.cached(cfg, sources, build)


# Interaction files larger than this are cleaned out of core (recjax.data.staging): about
# 45 M rows in the ml-25m layout. RECJAX_OUT_OF_CORE_BYTES overrides it.
OUT_OF_CORE_BYTES = 1 << 30


def clean_directory(directory: Path, cfg: DataConfig) -> Dataset:
    """``clean(read_directory(...))``, or the same dataset cleaned out of core when the
    interaction file is larger than ``$RECJAX_OUT_OF_CORE_BYTES`` (default
    :data:`OUT_OF_CORE_BYTES`) and its layout is one :mod:`recjax.data.staging` streams."""
    limit = int(os.environ.get("RECJAX_OUT_OF_CORE_BYTES", OUT_OF_CORE_BYTES))
    big = staging.interactions_file(directory, cfg.name) if cfg.format != "csv" else None
    if big is not None and big.stat().st_size > limit and (
            cfg.format == "auto" or (cfg.format == "atomic") == (big.suffix == ".inter")):
        return staging.clean_out_of_core(directory, cfg.name, cfg.clean)
    return clean(read_directory(directory, cfg.name, cfg.format, cfg.csv), cfg.clean)


def _source_directory(cfg: DataConfig) -> Path:
    if cfg.path is not None:
        d = resolve_path(cfg.path)
        if not d.is_dir():
            read_directory(cfg.path, cfg.name, cfg.format, cfg.csv)  # raises the usual error
        return d
    if cfg.name in registry.RESOURCES and registry.RESOURCES[cfg.name].kind == "dataset":
        return registry.fetch(cfg.name)
    read_raw(cfg.name)  # raises the usual "unknown dataset" error
    raise AssertionError("unreachable")  # pragma: no cover
