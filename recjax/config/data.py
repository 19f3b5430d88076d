"""Frozen, typed configs of the data side: reading (CSV layout, synthetic logs), cleaning and
splitting. Re-exported by :mod:`recjax.config.schema`, where the other components' configs
live.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Values read as "missing" in id, numeric and side-information cells. "unkonwn" is the spelling
# RecBole's ml-100k.item uses for the one movie without title or year.
DEFAULT_NA_VALUES = ("", "nan", "NaN", "NA", "N/A", "null", "NULL", "None", "unknown", "unkonwn")


@dataclass(frozen=True)
class CleanConfig:
    """Cleaning, applied in this order (see :func:`recjax.data.clean.clean`):

    1. ``invalid``: rows with a missing user/item id or a rating/timestamp that is not a finite
       number are dropped and counted per reason (``on_invalid="raise"`` stops instead).
    2. ``duplicates``: one row per (user, item, behaviour); ``dedup`` keeps the ``first`` or
       ``last`` by timestamp (file order breaks ties), or the ``max_rating`` row; ``none`` keeps
       all.
    3. ``filter``: ``min_rating`` <= rating <= ``max_rating``; ``behaviors`` keeps only those
       behaviour names.
    4. ``k-core``: users with fewer than ``user_core`` and items with fewer than ``item_core``
       interactions are removed, repeatedly, until nothing changes.
    5. ``side-info``: side rows of unknown ids dropped, missing cells filled (numeric fields with
       the median, text fields with "", categories with "unknown").
    6. ``cold items`` (only with ``keep_cold_items``): every item of the item side file that no
       row of the interaction log names (new products; items whose rows steps 1-4 removed,
       k-core included, stay removed) is kept as a cold item, after the interacting items, so
       their dense ids do not change. Cold items have no edges and no
       trained ID row; a text model ranks them by their text.
    7. ``remap``: dense int32 ids (raw ids sorted numerically when all are integers; cold
       items sorted the same way among themselves, after the interacting ones).

    ``keep_cold_items``: ``None`` means on for models with a text tower and off otherwise,
    decided by :func:`recjax.experiment.prepare` before loading; cleaning itself reads
    ``None`` as off. An ID-only model cannot score an item without edges or text, so
    ``True`` with one is refused.
    """

    dedup: str = "first"
    min_rating: float | None = None
    max_rating: float | None = None
    behaviors: tuple[str, ...] | None = None
    user_core: int = 0
    item_core: int = 0
    on_invalid: str = "drop"
    na_values: tuple[str, ...] = DEFAULT_NA_VALUES
    numeric_fields: tuple[str, ...] = ("year", "age", "release_year")
    text_fields: tuple[str, ...] = ("title", "description", "text", "review", "summary", "name")
    keep_cold_items: bool | None = None

    def __post_init__(self):
        if self.dedup not in ("first", "last", "max_rating", "none"):
            raise ValueError(f"dedup={self.dedup!r}; expected first, last, max_rating or none")
        if self.on_invalid not in ("drop", "raise"):
            raise ValueError(f"on_invalid={self.on_invalid!r}; expected drop or raise")
        if self.user_core < 0 or self.item_core < 0:
            raise ValueError("user_core and item_core must be >= 0")


@dataclass(frozen=True)
class SplitConfig:
    """How to split interactions (see :mod:`recjax.data.split`).

    method: ``random`` (per-user ratio, RecBole's RS), ``temporal`` (per-user by time, RecBole's
    TO), ``global_temporal``, ``loo`` (leave-one-out by time), ``kfold`` (fold ``fold`` of
    ``num_folds``), ``cold_item`` or ``cold_user`` (``cold_fraction`` held out entirely).
    """

    method: str = "random"
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 2020
    num_folds: int = 5
    fold: int = 0
    cold_fraction: float = 0.2

    def __post_init__(self):
        methods = ("random", "temporal", "global_temporal", "loo", "kfold", "cold_item",
                   "cold_user")
        if self.method not in methods:
            raise ValueError(f"split method {self.method!r} is unknown; valid: {methods}")
        if len(self.ratios) != 3 or min(self.ratios) < 0 or sum(self.ratios) <= 0:
            raise ValueError(f"ratios must be three non-negative numbers, got {self.ratios}")
        if not 0 <= self.fold < self.num_folds:
            raise ValueError(f"fold {self.fold} is not in [0, num_folds={self.num_folds})")
        if not 0 < self.cold_fraction < 1:
            raise ValueError(f"cold_fraction must be in (0, 1), got {self.cold_fraction}")


@dataclass(frozen=True)
class SyntheticConfig:
    """A seeded synthetic dataset (see :mod:`recjax.data.synthetic`), used when
    ``DataConfig.name == "synthetic"``."""

    num_users: int = 300
    num_items: int = 400
    num_interactions: int = 8000
    num_topics: int = 8
    popularity_exponent: float = 0.8
    behaviors: tuple[str, ...] = ()
    seed: int = 0


@dataclass(frozen=True)
class CsvConfig:
    """CSV/TSV files with a header row, read when ``DataConfig.format == "csv"`` (see
    :func:`recjax.data.readers.read_csv_dataset`).

    interactions / items / users: file names relative to ``data.path``; the item and user side
      tables are optional.
    columns / item_columns / user_columns: canonical name -> column of that file's header,
      e.g. ``{user_id: userId, item_id: movieId, rating: stars}``; ``None`` reads every column
      under its header name. Interactions need ``user_id`` and ``item_id`` (and may have
      ``rating``, ``timestamp``, ``behavior``), items ``item_id``, users ``user_id``; other
      columns (``title``, ``description``, ``text``, ...) are side information.
    types: canonical name -> field type (token, token_seq, float, float_seq); by default
      ``rating`` and ``timestamp`` are float and every other column is a token.
    delimiter: one character; ``None`` is a tab for ``.tsv``/``.tab`` files, else a comma.
    """

    interactions: str = "interactions.csv"
    items: str | None = None
    users: str | None = None
    columns: dict[str, str] | None = None
    item_columns: dict[str, str] | None = None
    user_columns: dict[str, str] | None = None
    types: dict[str, str] | None = None
    delimiter: str | None = None

    def __post_init__(self):
        from recjax.types import FIELD_TYPES

        for key in ("columns", "item_columns", "user_columns", "types"):
            mapping = getattr(self, key)
            if mapping is not None and not (
                    isinstance(mapping, dict)
                    and all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items())):
                raise ValueError(f"data.csv.{key} must map names to names (strings), "
                                 f"got {mapping!r}")
        for key, file_key, needs in (("columns", "interactions", ("user_id", "item_id")),
                                     ("item_columns", "items", ("item_id",)),
                                     ("user_columns", "users", ("user_id",))):
            mapping = getattr(self, key)
            if mapping is None:
                continue
            missing = [c for c in needs if c not in mapping]
            if missing:
                raise ValueError(f"data.csv.{key} must map {missing} to a column of the "
                                 f"{file_key} file; got {mapping}")
            if getattr(self, file_key) is None:
                raise ValueError(f"data.csv.{key} is set but data.csv.{file_key} (the file) "
                                 "is not")
        bad = {k: v for k, v in (self.types or {}).items() if v not in FIELD_TYPES}
        if bad:
            raise ValueError(f"data.csv.types {bad}: field types must be one of {FIELD_TYPES}")
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise ValueError(f"data.csv.delimiter={self.delimiter!r} must be one character")


@dataclass(frozen=True)
class DataConfig:
    """A dataset by registry name or directory, how its files are read, cleaning and split.

    path: a directory of dataset files instead of the registered dataset ``name``; a relative
      path is looked up in the working directory, then in the recjax checkout (so the shipped
      example configs such as ``conf/data/multilingual.yaml`` work from any directory).
    format: ``auto`` (RecBole atomic ``<name>.inter`` files, else GroupLens ml-100k ``u.data``,
      else ml-1m ``ratings.dat``), ``atomic``, ``movielens`` (ml-100k or ml-1m files) or
      ``csv`` (the files ``csv`` describes, in ``path``).
    """

    FORMATS = ("auto", "atomic", "movielens", "csv")

    name: str = "ml-100k"
    path: str | None = None
    format: str = "auto"
    csv: CsvConfig = field(default_factory=CsvConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    clean: CleanConfig = field(default_factory=CleanConfig)
    split: SplitConfig = field(default_factory=SplitConfig)

    def __post_init__(self):
        if self.format not in self.FORMATS:
            raise ValueError(f"data.format={self.format!r} is unknown; valid: {self.FORMATS}")
        if self.name == "synthetic" and self.format != "auto":
            raise ValueError(f"data.format={self.format!r} reads files, but data.name=synthetic "
                             "generates its data; leave data.format=auto")
        if self.format == "csv" and self.path is None:
            raise ValueError("data.format=csv needs data.path, the directory holding the files "
                             "named in data.csv")
        if self.format != "csv" and self.csv != CsvConfig():
            raise ValueError(f"data.csv describes CSV files but data.format={self.format!r}; "
                             "set data.format=csv")
