"""Data contracts shared by every stage of recjax.

The pipeline is a chain of pure functions, each returning one of these frozen records:

    raw files --read_*--> RawDataset --clean--> Dataset (Interactions + IdMaps + side tables)
              --split_*--> Split(train, valid, test) --text--> features [num_items, dim]
              --build_graph--> GraphsTuple --model--> (user_emb, item_emb) --> metrics / top-K

Conventions (used everywhere, documented once here):

* ``user_ids`` / ``item_ids`` are *dense local ids*: int32 in ``[0, num_users)`` and
  ``[0, num_items)``. Original ids from files are strings ("raw ids") and live only in
  :class:`IdMaps`.
* Raw tables keep every value as the string read from the file, so that cleaning can count
  and report invalid values instead of a reader silently coercing them.
* Numeric columns of clean tables are float64 with NaN for "missing" before filling, and
  the filled table never contains NaN.
* All arrays are numpy; nothing in ``recjax.data`` imports JAX.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

# Field types of RecBole atomic files; we use the same vocabulary for every reader.
FIELD_TYPES = ("token", "token_seq", "float", "float_seq")


@dataclass(frozen=True)
class RawTable:
    """A table exactly as read from one file: every cell a ``str`` ("" when empty).

    Attributes:
      source: path of the file (for error messages).
      columns: column name -> ``np.ndarray`` of dtype object holding ``str``, all of length n.
      types: column name -> one of :data:`FIELD_TYPES`.
      lines: int64 ``[n]``, the 1-based line number of each row in ``source``.
    """

    source: str
    columns: Mapping[str, np.ndarray]
    types: Mapping[str, str]
    lines: np.ndarray

    def __post_init__(self):
        lengths = {k: len(v) for k, v in self.columns.items()}
        if len(set(lengths.values()) | {len(self.lines)}) > 1:
            raise ValueError(f"{self.source}: columns of unequal length {lengths}")
        for name, kind in self.types.items():
            if kind not in FIELD_TYPES:
                raise ValueError(f"{self.source}: column {name!r} has type {kind!r}; "
                                 f"expected one of {FIELD_TYPES}")

    def __len__(self) -> int:
        return len(self.lines)

    def column(self, name: str) -> np.ndarray:
        if name not in self.columns:
            raise KeyError(f"{self.source}: no column {name!r}; columns are {list(self.columns)}")
        return self.columns[name]

    def take(self, index: np.ndarray) -> RawTable:
        return RawTable(self.source, {k: v[index] for k, v in self.columns.items()},
                        self.types, self.lines[index])


@dataclass(frozen=True)
class RawDataset:
    """Canonical raw tables of one dataset.

    ``interactions`` has the canonical columns ``user_id`` and ``item_id`` and optionally
    ``rating``, ``timestamp`` and ``behavior`` (a behaviour/edge type such as "click" or
    "purchase"). ``items`` and ``users`` are side-information tables keyed by ``item_id`` /
    ``user_id``; their other columns (title, year, genres, age, occupation, free text ...)
    are kept under their canonical names.
    """

    name: str
    interactions: RawTable
    items: RawTable | None = None
    users: RawTable | None = None


@dataclass(frozen=True, eq=False)
class IdMaps:
    """Both directions between raw (string) ids and dense int32 ids.

    ``user_raw[u]`` is the raw id of dense user ``u``; ``user_index(raw)`` the reverse.
    ``behaviors[r]`` names relation id ``r``.
    """

    user_raw: np.ndarray
    item_raw: np.ndarray
    behaviors: tuple[str, ...] = ("interaction",)
    _user_lookup: dict = field(default=None, repr=False, compare=False)
    _item_lookup: dict = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_user_lookup", {u: i for i, u in enumerate(self.user_raw)})
        object.__setattr__(self, "_item_lookup", {u: i for i, u in enumerate(self.item_raw)})

    @property
    def num_users(self) -> int:
        return len(self.user_raw)

    @property
    def num_items(self) -> int:
        return len(self.item_raw)

    def user_index(self, raw_ids: str | Sequence[str]) -> np.ndarray | int:
        return _lookup(self._user_lookup, raw_ids, "user")

    def item_index(self, raw_ids: str | Sequence[str]) -> np.ndarray | int:
        return _lookup(self._item_lookup, raw_ids, "item")


def _lookup(table: dict, raw_ids, kind: str):
    single = isinstance(raw_ids, str | int | np.integer)
    keys = [raw_ids] if single else list(raw_ids)
    out = np.empty(len(keys), dtype=np.int32)
    for n, key in enumerate(keys):
        idx = table.get(str(key))
        if idx is None:
            raise KeyError(f"unknown {kind} id {key!r} ({len(table)} known {kind}s)")
        out[n] = idx
    return int(out[0]) if single else out


@dataclass(frozen=True)
class Interactions:
    """Clean interactions over dense ids; every array has length ``num_interactions``.

    Attributes:
      user_ids, item_ids: int32 dense ids.
      ratings: float32 (1.0 where the source had no rating).
      timestamps: float64 (the row order where the source had no timestamp).
      behaviors: int32 relation ids into ``IdMaps.behaviors`` (0 when there is one behaviour).
      num_users, num_items: sizes of the id spaces (not the number of distinct ids present).
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray
    behaviors: np.ndarray
    num_users: int
    num_items: int

    def __post_init__(self):
        n = len(self.user_ids)
        for name in ("item_ids", "ratings", "timestamps", "behaviors"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Interactions.{name} has length {len(getattr(self, name))}, "
                                 f"user_ids has {n}")

    def __len__(self) -> int:
        return len(self.user_ids)

    def take(self, index: np.ndarray) -> Interactions:
        return dataclasses.replace(
            self, user_ids=self.user_ids[index], item_ids=self.item_ids[index],
            ratings=self.ratings[index], timestamps=self.timestamps[index],
            behaviors=self.behaviors[index])

    def pairs(self) -> np.ndarray:
        """int64 keys ``user * num_items + item``, unique per (user, item) pair."""
        return self.user_ids.astype(np.int64) * self.num_items + self.item_ids

    @staticmethod
    def concat(parts: Sequence[Interactions]) -> Interactions:
        first = parts[0]
        return Interactions(
            *(np.concatenate([getattr(p, f) for p in parts])
              for f in ("user_ids", "item_ids", "ratings", "timestamps", "behaviors")),
            num_users=first.num_users, num_items=first.num_items)


@dataclass(frozen=True)
class Dataset:
    """A clean, id-mapped dataset: the input of every split.

    ``item_features[name]`` / ``user_features[name]`` are arrays of length ``num_items`` /
    ``num_users`` aligned with the dense ids: object arrays of ``str`` for token fields,
    object arrays of ``tuple[str, ...]`` for token_seq fields, float64 for numeric fields.
    ``report`` lists the cleaning steps in the order they ran.
    """

    name: str
    interactions: Interactions
    id_maps: IdMaps
    item_features: Mapping[str, np.ndarray]
    user_features: Mapping[str, np.ndarray]
    report: tuple[CleaningStep, ...] = ()

    @property
    def num_users(self) -> int:
        return self.id_maps.num_users

    @property
    def num_items(self) -> int:
        return self.id_maps.num_items


@dataclass(frozen=True)
class CleaningStep:
    """What one cleaning step did: ``removed`` rows and ``filled`` cells, with details."""

    name: str
    rows_before: int
    rows_after: int
    filled: int = 0
    details: Mapping[str, int] = field(default_factory=dict)

    @property
    def removed(self) -> int:
        return self.rows_before - self.rows_after


@dataclass(frozen=True)
class Split:
    """Disjoint train / valid / test parts over one id space.

    ``cold_item_ids`` / ``cold_user_ids`` are the dense ids held out of train entirely (cold
    splits only; empty otherwise). ``dropped`` counts interactions a split had to discard to
    keep its guarantees (e.g. global temporal splits drop valid/test rows of users with no
    train history), by reason.
    """

    train: Interactions
    valid: Interactions
    test: Interactions
    cold_item_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    cold_user_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    dropped: Mapping[str, int] = field(default_factory=dict)
