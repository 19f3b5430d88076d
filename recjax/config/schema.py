"""Frozen, typed configs for every component.

Library functions take the narrowest of these they need. The Hydra entrypoints compose YAML
from ``conf/`` and convert it once into these classes (see :mod:`recjax.config.hydra`), so a
misspelt key or a wrong type fails at composition, not deep inside training.
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
    6. ``remap``: dense int32 ids (raw ids sorted numerically when all are integers).
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
class DataConfig:
    """A dataset by registry name (or a directory of atomic files) plus cleaning and split."""

    name: str = "ml-100k"
    path: str | None = None
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    clean: CleanConfig = field(default_factory=CleanConfig)
    split: SplitConfig = field(default_factory=SplitConfig)


@dataclass(frozen=True)
class TextConfig:
    """Text features (see :mod:`recjax.text`): which checkpoint encodes which template.

    ``checkpoint`` is a registry name or a local Hugging Face BERT directory (e.g. a Chinese or
    multilingual BERT on disk). Templates use the syntax of :mod:`recjax.text.templates`.
    """

    checkpoint: str = "all-MiniLM-L6-v2"
    item_template: str = "{title}[ ({year})][. {genres}][. {description}]"
    user_template: str = "[{text}][ | age {age}][ | gender {gender}][ | occupation {occupation}]"
    max_length: int | None = None
    pooling: str = "mean"
    normalize: bool = True
    dtype: str = "float32"
    batch_tokens: int = 1024
    packing: bool = True
    pack_widths: tuple[int, ...] = (64, 128, 256)
    cache: bool = True

    def __post_init__(self):
        if self.pooling not in ("mean", "cls"):
            raise ValueError(f"text.pooling={self.pooling!r}; expected mean or cls")
        if self.dtype not in ("float32", "bfloat16"):
            raise ValueError(f"text.dtype={self.dtype!r}; expected float32 or bfloat16")
