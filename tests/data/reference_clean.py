"""The cleaning of recjax before the columnar engine (kept verbatim as a test oracle: the
vectorised :mod:`recjax.data.clean` must give the same datasets)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recjax.config.schema import CleanConfig
from recjax.types import CleaningStep, Dataset, IdMaps, Interactions, RawDataset, RawTable


class EmptyDatasetError(ValueError):
    """Cleaning left no interactions."""


@dataclass(frozen=True)
class _Rows:
    """Interactions mid-cleaning: raw string ids, parsed numbers, source line numbers."""

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray
    behaviors: np.ndarray
    lines: np.ndarray

    def __len__(self):
        return len(self.users)

    def take(self, index) -> _Rows:
        return _Rows(*(getattr(self, f)[index] for f in
                       ("users", "items", "ratings", "timestamps", "behaviors", "lines")))


def parse_floats(values: np.ndarray, na_values=()) -> tuple[np.ndarray, np.ndarray]:
    """Parse strings to float64. Returns ``(numbers, ok)``; NaN where not ok.

    Missing (``na_values``), unparsable and non-finite strings are all "not ok".
    """
    out = np.full(len(values), np.nan)
    ok = np.zeros(len(values), dtype=bool)
    na = set(na_values)
    for i, v in enumerate(values):
        if v in na:
            continue
        try:
            x = float(v)
        except (TypeError, ValueError):
            continue
        if np.isfinite(x):
            out[i], ok[i] = x, True
    return out, ok


def _drop_invalid(table: RawTable, cfg: CleanConfig) -> tuple[_Rows, CleaningStep]:
    n = len(table)
    na = set(cfg.na_values)
    users, items = table.column("user_id"), table.column("item_id")
    bad_user = np.array([u in na for u in users], dtype=bool)
    bad_item = np.array([i in na for i in items], dtype=bool)
    reasons = {"missing user_id": bad_user, "missing item_id": bad_item}
    if "rating" in table.columns:
        ratings, ok = parse_floats(table.columns["rating"], cfg.na_values)
        reasons["rating not a number"] = ~ok
    else:
        ratings = np.ones(n)
    if "timestamp" in table.columns:
        stamps, ok = parse_floats(table.columns["timestamp"], cfg.na_values)
        reasons["timestamp not a number"] = ~ok
    else:
        stamps = np.arange(n, dtype=np.float64)
    behaviors = (table.columns["behavior"] if "behavior" in table.columns
                 else np.full(n, "interaction", dtype=object))
    if "behavior" in table.columns:
        reasons["missing behavior"] = np.array([b in na for b in behaviors], dtype=bool)
    invalid = np.zeros(n, dtype=bool)
    for mask in reasons.values():
        invalid |= mask
    details = {k: int(v.sum()) for k, v in reasons.items() if v.any()}
    if invalid.any() and cfg.on_invalid == "raise":
        reason, mask = next((k, v) for k, v in reasons.items() if v.any())
        line = table.lines[np.argmax(mask)]
        raise ValueError(f"{table.source}, line {line}: {reason} ({int(invalid.sum())} invalid "
                         f"row(s): {details}); use on_invalid='drop' to remove them")
    rows = _Rows(users, items, ratings, stamps, behaviors, table.lines).take(~invalid)
    return rows, CleaningStep("invalid", n, len(rows), details=details)


def _dedup(rows: _Rows, policy: str) -> tuple[_Rows, CleaningStep]:
    n = len(rows)
    if policy == "none" or n == 0:
        return rows, CleaningStep(f"duplicates ({policy})", n, n)
    # Stable sort by time keeps file order among equal timestamps.
    order = np.argsort(rows.timestamps, kind="stable")
    if policy == "last":
        order = order[::-1]
    elif policy == "max_rating":
        order = order[np.argsort(-rows.ratings[order], kind="stable")]
    keys = np.char.add(np.char.add(rows.users.astype(str), "\x1f"),
                       np.char.add(np.char.add(rows.items.astype(str), "\x1f"),
                                   rows.behaviors.astype(str)))
    _, first = np.unique(keys[order], return_index=True)
    keep = np.sort(order[first])  # back to file order
    out = rows.take(keep)
    return out, CleaningStep(f"duplicates ({policy})", n, len(out))


def _filter_values(rows: _Rows, cfg: CleanConfig) -> tuple[_Rows, CleaningStep]:
    n = len(rows)
    keep = np.ones(n, dtype=bool)
    details = {}
    if cfg.min_rating is not None:
        m = rows.ratings < cfg.min_rating
        details[f"rating < {cfg.min_rating:g}"] = int(m.sum())
        keep &= ~m
    if cfg.max_rating is not None:
        m = rows.ratings > cfg.max_rating
        details[f"rating > {cfg.max_rating:g}"] = int(m.sum())
        keep &= ~m
    if cfg.behaviors is not None:
        m = ~np.isin(rows.behaviors.astype(str), np.asarray(cfg.behaviors, dtype=str))
        details["behavior not kept"] = int(m.sum())
        keep &= ~m
    out = rows.take(keep)
    return out, CleaningStep("filter", n, len(out), details=details)


def k_core_mask(users: np.ndarray, items: np.ndarray, user_core: int, item_core: int
                ) -> tuple[np.ndarray, int]:
    """Rows kept by k-core filtering iterated to a fixed point, and the number of rounds.

    ``users`` / ``items`` are integer codes. At the fixed point every remaining user has at
    least ``user_core`` and every remaining item at least ``item_core`` remaining rows.
    """
    keep = np.ones(len(users), dtype=bool)
    rounds = 0
    while True:
        u_deg = np.bincount(users[keep], minlength=users.max(initial=-1) + 1)
        i_deg = np.bincount(items[keep], minlength=items.max(initial=-1) + 1)
        bad = keep & ((u_deg[users] < user_core) | (i_deg[items] < item_core))
        if not bad.any():
            return keep, rounds
        keep &= ~bad
        rounds += 1


def _k_core(rows: _Rows, cfg: CleanConfig) -> tuple[_Rows, CleaningStep]:
    n = len(rows)
    name = f"k-core (user>={cfg.user_core}, item>={cfg.item_core})"
    if cfg.user_core <= 1 and cfg.item_core <= 1:
        return rows, CleaningStep(name, n, n)
    _, u = np.unique(rows.users.astype(str), return_inverse=True)
    _, i = np.unique(rows.items.astype(str), return_inverse=True)
    keep, rounds = k_core_mask(u, i, cfg.user_core, cfg.item_core)
    out = rows.take(keep)
    return out, CleaningStep(name, n, len(out), details={"rounds": rounds})


def _sorted_ids(raw: np.ndarray) -> np.ndarray:
    """Unique raw ids, numerically ordered when every id is an integer."""
    uniq = np.unique(raw.astype(str))
    if all(s.lstrip("-").isdigit() for s in uniq):
        uniq = uniq[np.argsort(uniq.astype(np.int64), kind="stable")]
    return uniq.astype(object)


def _fill_side(table: RawTable | None, key: str, ids: np.ndarray, cfg: CleanConfig,
               what: str) -> tuple[dict[str, np.ndarray], dict[str, int], int]:
    """Align a side table to dense ids and fill its missing cells."""
    details: dict[str, int] = {}
    if table is None:
        return {}, details, 0
    raw_keys = table.column(key).astype(str)
    lookup = {k: i for i, k in enumerate(ids.astype(str))}
    pos = np.array([lookup.get(k, -1) for k in raw_keys], dtype=np.int64)
    unknown = pos < 0
    if unknown.any():
        details[f"{what} rows without interactions"] = int(unknown.sum())
    # Keep the first row per id (duplicate side rows are reported, not merged).
    row_of = np.full(len(ids), -1, dtype=np.int64)
    dup = 0
    for r in np.nonzero(~unknown)[0][::-1]:
        if row_of[pos[r]] >= 0:
            dup += 1
        row_of[pos[r]] = r
    if dup:
        details[f"{what} rows with a repeated {key}"] = dup
    absent = row_of < 0
    if absent.any():
        details[f"{what}s without a side row"] = int(absent.sum())
    na = set(cfg.na_values)
    features, filled = {}, 0
    for name, col in table.columns.items():
        if name == key:
            continue
        cells = np.array([col[r] if r >= 0 else "" for r in row_of], dtype=object)
        kind = table.types.get(name, "token")
        if kind == "float" or name in cfg.numeric_fields:
            values, ok = parse_floats(cells, cfg.na_values)
            median = float(np.median(values[ok])) if ok.any() else 0.0
            values[~ok] = median
            features[name], n_fill = values, int((~ok).sum())
        elif name in cfg.text_fields:
            miss = np.array([c in na for c in cells])
            out = cells.copy()
            out[miss] = ""
            features[name], n_fill = out, int(miss.sum())
        elif kind == "token_seq":
            out = np.empty(len(cells), dtype=object)
            n_fill = 0
            for j, c in enumerate(cells):
                toks = tuple(t for t in c.split() if t not in na)
                if not toks:
                    toks, n_fill = ("unknown",), n_fill + 1
                out[j] = toks
            features[name] = out
        else:
            miss = np.array([c in na for c in cells])
            out = cells.copy()
            out[miss] = "unknown"
            features[name], n_fill = out, int(miss.sum())
        if n_fill:
            details[f"{what}.{name} filled"] = n_fill
        filled += n_fill
    return features, details, filled


def clean(raw: RawDataset, cfg: CleanConfig = CleanConfig()) -> Dataset:
    """Run every cleaning step on ``raw`` and remap ids; see :class:`CleanConfig` for the order.

    Raises:
      EmptyDatasetError: a step left no interactions (the message names the step).
      ValueError: ``on_invalid="raise"`` and a row is invalid (names file and line).
    """
    report = []
    rows, step = _drop_invalid(raw.interactions, cfg)
    report.append(step)
    for fn in (lambda r: _dedup(r, cfg.dedup), lambda r: _filter_values(r, cfg),
               lambda r: _k_core(r, cfg)):
        _check_nonempty(rows, raw, report)
        rows, step = fn(rows)
        report.append(step)
    _check_nonempty(rows, raw, report)

    user_raw, item_raw = _sorted_ids(rows.users), _sorted_ids(rows.items)
    behaviors = tuple(cfg.behaviors) if cfg.behaviors else tuple(
        str(b) for b in np.unique(rows.behaviors.astype(str)))
    ids = IdMaps(user_raw, item_raw, behaviors)
    item_feats, item_det, item_filled = _fill_side(raw.items, "item_id", item_raw, cfg, "item")
    user_feats, user_det, user_filled = _fill_side(raw.users, "user_id", user_raw, cfg, "user")
    report.append(CleaningStep("side-info", len(rows), len(rows), item_filled + user_filled,
                               {**item_det, **user_det}))
    beh_index = {b: i for i, b in enumerate(behaviors)}
    inter = Interactions(
        user_ids=ids.user_index(rows.users.astype(str)),
        item_ids=ids.item_index(rows.items.astype(str)),
        ratings=rows.ratings.astype(np.float32),
        timestamps=rows.timestamps.astype(np.float64),
        behaviors=np.array([beh_index[str(b)] for b in rows.behaviors], dtype=np.int32),
        num_users=ids.num_users, num_items=ids.num_items)
    report.append(CleaningStep("remap", len(rows), len(rows),
                               details={"users": ids.num_users, "items": ids.num_items}))
    return Dataset(raw.name, inter, ids, item_feats, user_feats, tuple(report))


def _check_nonempty(rows: _Rows, raw: RawDataset, report: list[CleaningStep]) -> None:
    if len(rows) == 0:
        last = report[-1]
        raise EmptyDatasetError(
            f"dataset {raw.name!r} ({raw.interactions.source}) is empty after the "
            f"{last.name!r} step, which removed {last.removed} of {last.rows_before} rows "
            f"{dict(last.details)}; relax that step's settings")
