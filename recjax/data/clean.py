"""Cleaning: raw tables -> a clean, id-mapped :class:`~recjax.types.Dataset`.

The steps run in the order documented on :class:`~recjax.config.schema.CleanConfig`; each
returns its table and a :class:`~recjax.types.CleaningStep` saying how many rows it removed or
cells it filled, so ``recjax-data`` can print exactly what happened to the data.

Every step works on numbers: ids are int32 codes into their distinct strings (each distinct
string is stripped, checked for "missing" and parsed once), so a step costs a few numpy passes
or one integer sort over the rows, however many rows there are. The results are those of the
former string-based steps, row for row (tests/data/test_clean_oracle.py compares them).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from recjax.config.schema import CleanConfig
from recjax.data import columns
from recjax.types import CleaningStep, Dataset, IdMaps, Interactions, RawDataset, RawTable


class EmptyDatasetError(ValueError):
    """Cleaning left no interactions."""


@dataclass(frozen=True)
class _Rows:
    """Interactions mid-cleaning, as numbers: int32 codes of the users, items and behaviours
    into the distinct raw strings ``user_words`` / ``item_words`` / ``behavior_words`` (equal
    strings always share one code), and the parsed ratings and timestamps."""

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray
    behaviors: np.ndarray
    user_words: np.ndarray
    item_words: np.ndarray
    behavior_words: np.ndarray
    origin: np.ndarray | None = None  # out of core: each row's position in the file

    def __len__(self):
        return len(self.users)

    def take(self, index) -> _Rows:
        fields = ("users", "items", "ratings", "timestamps", "behaviors")
        fields += ("origin",) if self.origin is not None else ()
        return dataclasses.replace(self, **{f: getattr(self, f)[index] for f in fields})


def parse_floats(values: np.ndarray, na_values=()) -> tuple[np.ndarray, np.ndarray]:
    """Parse strings to float64. Returns ``(numbers, ok)``; NaN where not ok.

    Missing (``na_values``), unparsable and non-finite strings are all "not ok". Each distinct
    string is parsed once (Python's ``float``), so a column of few distinct values is cheap.
    """
    codes, words = _strip_codes(*columns.encode_strings(values))
    numbers, ok = _parse_words(words, na_values)
    return numbers[codes], ok[codes]


def _parse_words(words, na_values) -> tuple[np.ndarray, np.ndarray]:
    out = np.full(len(words), np.nan)
    ok = np.zeros(len(words), dtype=bool)
    na = set(na_values)
    for i, v in enumerate(words):
        if v in na:
            continue
        try:
            x = float(v)
        except (TypeError, ValueError):
            continue
        if np.isfinite(x):
            out[i], ok[i] = x, True
    return out, ok


def _strip_codes(codes: np.ndarray, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Strip every distinct word (readers keep cells as in the file) and merge the words that
    become equal, so that equal stripped strings share one code. Returns ``(codes, words)``
    with ``words`` an object array of distinct ``str``."""
    stripped = [w.strip() for w in words]
    uniq = np.empty(len(set(stripped)), dtype=object)
    index: dict[str, int] = {}
    remap = np.empty(len(stripped), dtype=np.int32)
    for k, w in enumerate(stripped):
        j = index.setdefault(w, len(index))
        remap[k] = j
    uniq[:] = list(index)
    return (remap[codes] if len(codes) else codes.astype(np.int32)), uniq


def _token_column(table, name: str) -> tuple[np.ndarray, np.ndarray]:
    return _strip_codes(*columns.encode_strings(table.column(name)))


def _number_column(table, name: str, na_values) -> tuple[np.ndarray, np.ndarray]:
    """``(numbers, ok)`` of a float column: string columns go through :func:`parse_floats`;
    Arrow-parsed numbers are checked for being finite and, where a ``na_values`` marker is
    itself a number, the cells of that value are looked up as spelled in the file, so that
    missing means the marker's exact text on every path (``"-1"``, not ``"-1.0"``)."""
    col = table.column(name)
    numbers = columns.float_values(col)
    if numbers is None:
        return parse_floats(col, na_values)
    ok = np.isfinite(numbers)
    markers = numeric_markers(na_values)
    if markers:
        suspect = np.nonzero(ok & np.isin(numbers, markers))[0]
        if len(suspect):
            text = table.column_text(name).take(suspect)
            codes, words = _strip_codes(*columns.encode_strings(text))
            ok[suspect[_is_na(words, na_values)[codes]]] = False
    return (numbers if ok.all() else np.where(ok, numbers, np.nan)), ok


def numeric_markers(na_values) -> list[float]:
    """The finite numbers that ``na_values`` markers spell ("-1" -> -1.0)."""
    out = []
    for w in na_values:
        try:
            x = float(w)
        except ValueError:
            continue
        if np.isfinite(x):
            out.append(x)
    return out


def _is_na(words: np.ndarray, na_values) -> np.ndarray:
    na = set(na_values)
    return np.array([w in na for w in words], dtype=bool)


def parse_rows(table, cfg: CleanConfig) -> tuple[_Rows, dict[str, np.ndarray]]:
    """Every row of an interaction table as numbers, and the invalid rows by reason (in the
    order the ``invalid`` step reports them). Without a timestamp column, a row's timestamp
    is its position in ``table``."""
    n = len(table)
    users, user_words = _token_column(table, "user_id")
    items, item_words = _token_column(table, "item_id")
    reasons = {"missing user_id": _is_na(user_words, cfg.na_values)[users],
               "missing item_id": _is_na(item_words, cfg.na_values)[items]}
    if "rating" in table.columns:
        ratings, ok = _number_column(table, "rating", cfg.na_values)
        reasons["rating not a number"] = ~ok
    else:
        ratings = np.ones(n)
    if "timestamp" in table.columns:
        stamps, ok = _number_column(table, "timestamp", cfg.na_values)
        reasons["timestamp not a number"] = ~ok
    else:
        stamps = np.arange(n, dtype=np.float64)
    if "behavior" in table.columns:
        behaviors, behavior_words = _token_column(table, "behavior")
        reasons["missing behavior"] = _is_na(behavior_words, cfg.na_values)[behaviors]
    else:
        behaviors = np.zeros(n, dtype=np.int32)
        behavior_words = np.array(["interaction"], dtype=object)
    rows = _Rows(users, items, ratings, stamps, behaviors, user_words, item_words,
                 behavior_words)
    return rows, reasons


def invalid_error(source: str, line: int, reason: str, n_invalid: int, details) -> ValueError:
    return ValueError(f"{source}, line {line}: {reason} ({n_invalid} invalid row(s): "
                      f"{details}); use on_invalid='drop' to remove them")


def _drop_invalid(table, cfg: CleanConfig) -> tuple[_Rows, CleaningStep]:
    n = len(table)
    rows, reasons = parse_rows(table, cfg)
    invalid = np.zeros(n, dtype=bool)
    for mask in reasons.values():
        invalid |= mask
    details = {k: int(v.sum()) for k, v in reasons.items() if v.any()}
    if invalid.any() and cfg.on_invalid == "raise":
        reason, mask = next((k, v) for k, v in reasons.items() if v.any())
        raise invalid_error(table.source, table.lines[np.argmax(mask)], reason,
                            int(invalid.sum()), details)
    if invalid.any():
        rows = rows.take(~invalid)
    return rows, CleaningStep("invalid", n, len(rows), details=details)


def _pair_keys(rows: _Rows) -> np.ndarray:
    """One int64 per (user, item, behaviour): equal keys are equal raw string triples."""
    n_items, n_beh = len(rows.item_words), len(rows.behavior_words)
    return ((rows.users.astype(np.int64) * n_items + rows.items) * n_beh + rows.behaviors)


def _sort_with_rows(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(sorted_keys, rows)``: the keys in ascending order and the row of each, rows
    ascending among equal keys. Packs key and row into one integer when they fit, as a plain
    sort of integers is several times faster than an argsort."""
    n = len(keys)
    top = int(keys.max(initial=0)) + 1
    if top * n < 2**63:
        packed = np.sort(keys * n + np.arange(n, dtype=np.int64))
        return packed // n, packed % n
    rows = np.argsort(keys, kind="stable")
    return keys[rows], rows


def _group_pick(values: np.ndarray, starts: np.ndarray, group: np.ndarray, best) -> np.ndarray:
    """Mask of the entries equal to their group's ``best`` (np.minimum / np.maximum)."""
    return values == best.reduceat(values, starts)[group]


def _dedup(rows: _Rows, policy: str) -> tuple[_Rows, CleaningStep]:
    """Keep one row per (user, item, behaviour).

    ``first``: the earliest timestamp, ties to the earlier row in the file; ``last``: the
    latest, ties to the later row; ``max_rating``: the highest rating, ties to the earliest
    timestamp, then the earlier row. Only rows of repeated keys are ranked, so a log without
    repeats costs one sort of the keys.
    """
    n = len(rows)
    if policy == "none" or n == 0:
        return rows, CleaningStep(f"duplicates ({policy})", n, n)
    sorted_keys, order = _sort_with_rows(_pair_keys(rows))
    same_as_next = sorted_keys[1:] == sorted_keys[:-1]
    if not same_as_next.any():
        return rows, CleaningStep(f"duplicates ({policy})", n, n)
    repeated = np.zeros(n, dtype=bool)
    repeated[1:] |= same_as_next
    repeated[:-1] |= same_as_next
    del same_as_next
    dup = order[repeated]  # rows of repeated keys, grouped by key, ascending within a group
    k = sorted_keys[repeated]
    del sorted_keys, order, repeated
    starts = np.r_[0, np.nonzero(k[1:] != k[:-1])[0] + 1]
    group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(dup)]))
    t = rows.timestamps[dup]
    if policy == "max_rating":
        r = rows.ratings[dup]
        best = _group_pick(r, starts, group, np.maximum)
        t = np.where(best, t, np.inf)
        best &= _group_pick(t, starts, group, np.minimum)
    else:
        best = _group_pick(t, starts, group, np.minimum if policy == "first" else np.maximum)
    cand = np.nonzero(best)[0]
    g = group[cand]
    if policy == "last":  # the last candidate of each group: the later row in the file
        winners = cand[np.r_[g[1:] != g[:-1], True]]
    else:
        winners = cand[np.r_[True, g[1:] != g[:-1]]]
    keep = np.ones(n, dtype=bool)
    keep[dup] = False
    keep[dup[winners]] = True
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
        kept = np.isin(rows.behavior_words.astype(str), np.asarray(cfg.behaviors, dtype=str))
        m = ~kept[rows.behaviors]
        details["behavior not kept"] = int(m.sum())
        keep &= ~m
    out = rows.take(keep) if not keep.all() else rows
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
    keep, rounds = k_core_mask(rows.users, rows.items, cfg.user_core, cfg.item_core)
    out = rows.take(keep) if not keep.all() else rows
    return out, CleaningStep(name, n, len(out), details={"rounds": rounds})


def _sorted_ids(raw: np.ndarray) -> np.ndarray:
    """Unique raw ids, numerically ordered when every id is an integer."""
    uniq = np.unique(raw.astype(str))
    if all(s.lstrip("-").isdigit() for s in uniq):
        uniq = uniq[np.argsort(uniq.astype(np.int64), kind="stable")]
    return uniq.astype(object)


def _dense_ids(codes: np.ndarray, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(dense_ids, raw)``: the raw ids present in ``codes`` ordered by :func:`_sorted_ids`,
    and every row's int32 position in that order."""
    present = np.zeros(len(words), dtype=bool)
    present[codes] = True
    used = np.nonzero(present)[0]
    raw = _sorted_ids(words[used])
    position = {w: i for i, w in enumerate(raw.tolist())}
    dense_of_code = np.full(len(words), -1, dtype=np.int32)
    dense_of_code[used] = [position[w] for w in words[used].astype(str).tolist()]
    return dense_of_code[codes], raw


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
    known = np.nonzero(~unknown)[0]
    present, first = np.unique(pos[known], return_index=True)
    row_of[present] = known[first]
    dup = len(known) - len(present)
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
        check_nonempty(len(rows), raw.name, raw.interactions.source, report)
        rows, step = fn(rows)
        report.append(step)
    check_nonempty(len(rows), raw.name, raw.interactions.source, report)
    return finish(raw, rows, cfg, report)


def finish(raw: RawDataset, rows: _Rows, cfg: CleanConfig, report: list[CleaningStep]
           ) -> Dataset:
    """The last two steps, side information and dense ids, on the cleaned ``rows``."""
    user_ids, user_raw = _dense_ids(rows.users, rows.user_words)
    item_ids, item_raw = _dense_ids(rows.items, rows.item_words)
    cold_step = None
    if cfg.keep_cold_items:
        cold_raw = catalogue_only_ids(raw.items, item_raw, cfg, seen=rows.item_words)
        item_raw = np.concatenate([item_raw, cold_raw]).astype(object)
        cold_step = CleaningStep("cold items", len(rows), len(rows), details={
            "kept catalogue items without interactions as cold items": len(cold_raw)})
    present_beh = np.unique(rows.behaviors)
    behaviors = tuple(cfg.behaviors) if cfg.behaviors else tuple(
        str(b) for b in np.unique(rows.behavior_words[present_beh].astype(str)))
    ids = IdMaps(user_raw, item_raw, behaviors)
    item_feats, item_det, item_filled = _fill_side(raw.items, "item_id", item_raw, cfg, "item")
    user_feats, user_det, user_filled = _fill_side(raw.users, "user_id", user_raw, cfg, "user")
    report.append(CleaningStep("side-info", len(rows), len(rows), item_filled + user_filled,
                               {**item_det, **user_det}))
    if cold_step is not None:
        report.append(cold_step)
    beh_index = {b: i for i, b in enumerate(behaviors)}
    beh_of_code = np.zeros(len(rows.behavior_words), dtype=np.int32)
    beh_of_code[present_beh] = [beh_index[str(b)] for b in rows.behavior_words[present_beh]]
    inter = Interactions(
        user_ids=user_ids, item_ids=item_ids,
        ratings=rows.ratings.astype(np.float32),
        timestamps=rows.timestamps.astype(np.float64),
        behaviors=beh_of_code[rows.behaviors],
        num_users=ids.num_users, num_items=ids.num_items)
    report.append(CleaningStep("remap", len(rows), len(rows),
                               details={"users": ids.num_users, "items": ids.num_items}))
    return Dataset(raw.name, inter, ids, item_feats, user_feats, tuple(report))


def catalogue_only_ids(items: RawTable | None, item_raw: np.ndarray, cfg: CleanConfig,
                       seen: np.ndarray | None = None) -> np.ndarray:
    """The raw ids of the item side table that no interaction names: not in ``item_raw``
    (the items with a surviving interaction) nor in ``seen`` (every item id of the raw log,
    so items whose rows k-core, the filters or invalid-row cleaning removed stay removed —
    they are not new products), ordered like :func:`_sorted_ids`; missing ids are skipped.
    Keys are matched as :func:`_fill_side` matches them, so each one finds its side row."""
    if items is None:
        return np.zeros(0, dtype=object)
    keys = np.unique(items.column("item_id").astype(str))
    na = set(cfg.na_values)
    keys = keys[[bool(k.strip()) and k.strip() not in na for k in keys.tolist()]]
    known = item_raw.astype(str)
    if seen is not None and len(seen):
        known = np.union1d(known, np.char.strip(np.asarray(seen).astype(str)))
    cold = np.setdiff1d(keys, known)
    return _sorted_ids(cold) if len(cold) else np.zeros(0, dtype=object)


def check_nonempty(n: int, name: str, source: str, report: list[CleaningStep]) -> None:
    if n == 0:
        last = report[-1]
        raise EmptyDatasetError(
            f"dataset {name!r} ({source}) is empty after the "
            f"{last.name!r} step, which removed {last.removed} of {last.rows_before} rows "
            f"{dict(last.details)}; relax that step's settings")
