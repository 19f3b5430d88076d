"""Seeded, deterministic train / valid / test splits.

Every split returns a :class:`~recjax.types.Split` with these guarantees (each tested):

* no interaction appears in two parts, and train + valid + test + dropped = all rows;
* warm splits (random, temporal, global_temporal, loo, kfold): every user in valid or test has
  train interactions (rows that would break this are dropped and counted);
* cold splits: the held-out items (``cold_item``) or users (``cold_user``) have no train row.

Randomness comes from ``np.random.default_rng(seed)`` only, so a seed fixes the split.
"""

from __future__ import annotations

import numpy as np

from recjax.config.schema import SplitConfig
from recjax.types import Interactions, Split


def _ratio_counts(n: np.ndarray, ratios) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-group (train, valid, test) sizes with RecBole's rounding for ``RS``/``TO`` splits.

    RecBole (``Dataset._calcu_split_ids``) floors the valid and test sizes, gives train the
    rest, then moves one row from train to test and then to valid for every part whose exact
    share is in (0, 1), while train keeps more than one row. So a user with 5 ratings under
    0.8/0.1/0.1 gets 3/1/1 and a user with 2 gets 1/0/1.
    """
    r = np.asarray(ratios, dtype=np.float64)
    r = r / r.sum()
    n = n.astype(np.int64)
    cnt = [None, np.floor(r[1] * n).astype(np.int64), np.floor(r[2] * n).astype(np.int64)]
    cnt[0] = n - cnt[1] - cnt[2]
    for part in (2, 1):  # RecBole walks the ratios from the last one backwards
        bump = (cnt[0] > 1) & (r[part] * n > 0) & (r[part] * n < 1)
        cnt[part] = cnt[part] + bump
        cnt[0] = cnt[0] - bump
    return cnt[0], cnt[1], cnt[2]


def _rank_in_user(user_ids: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort rows by (user, key) and return ``(order, rank)``: rank of ``order[j]`` in its user."""
    order = _order_by_user_then_key(user_ids, key)
    users = user_ids[order]
    starts = np.r_[0, np.nonzero(np.diff(users))[0] + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(users)]))
    return order, np.arange(len(users)) - group_start


def _order_by_user_then_key(user_ids: np.ndarray, key: np.ndarray) -> np.ndarray:
    """``np.lexsort((arange, key, user_ids))``. When ``key`` is a permutation of
    ``0..n-1`` (the random splits' shuffles), the same order comes from one sort of the
    integers ``user * n + key``, several times faster on tens of millions of rows."""
    n = len(key)
    if (n and key.dtype.kind in "iu" and len(user_ids)
            and (int(user_ids.max()) + 1) * n < 2**63 and _is_permutation(key)):
        packed = np.sort(user_ids.astype(np.int64) * n + key)
        row_of_key = np.empty(n, dtype=np.int64)
        row_of_key[key] = np.arange(n)
        return row_of_key[packed % n]
    return np.lexsort((np.arange(len(key)), key, user_ids))


def _is_permutation(key: np.ndarray) -> bool:
    if key.min() != 0 or key.max() != len(key) - 1:
        return False
    seen = np.zeros(len(key), dtype=bool)
    seen[key] = True
    return bool(seen.all())


def _assign_by_counts(user_ids, key, ratios) -> np.ndarray:
    """Part (0 train, 1 valid, 2 test) of each row: per user, the first rows by ``key`` go to
    train, the next to valid, the rest to test, with :func:`_ratio_counts` sizes."""
    part = np.zeros(len(user_ids), dtype=np.int8)
    if len(user_ids) == 0:
        return part
    n = np.bincount(user_ids)
    tr, va, _ = _ratio_counts(n, ratios)
    order, rank = _rank_in_user(user_ids, key)
    u = user_ids[order]
    part[order] = np.where(rank < tr[u], 0, np.where(rank < tr[u] + va[u], 1, 2))
    return part


def _make_split(inter: Interactions, part: np.ndarray, warm: bool,
                dropped: dict[str, int] | None = None, **cold) -> Split:
    """Build the Split from part codes (0 train, 1 valid, 2 test, -1 dropped).

    In warm splits, valid/test rows of users with no train row are dropped and counted. Items
    without train rows are kept, as RecBole keeps them, so protocols compare side by side.
    """
    dropped = dict(dropped or {})
    if warm:
        seen_u = np.zeros(inter.num_users, bool)
        seen_u[inter.user_ids[part == 0]] = True
        no_user = (part > 0) & ~seen_u[inter.user_ids]
        if no_user.any():
            dropped["valid/test rows of users without train rows"] = int(no_user.sum())
        part = np.where(no_user, -1, part)
    return Split(inter.take(np.nonzero(part == 0)[0]), inter.take(np.nonzero(part == 1)[0]),
                 inter.take(np.nonzero(part == 2)[0]), dropped=dropped, **cold)


def split_random(inter: Interactions, ratios=(0.8, 0.1, 0.1), seed: int = 2020) -> Split:
    """Per-user random ratio split: RecBole's ``RS`` grouped by user."""
    key = np.random.default_rng(seed).permutation(len(inter))
    return _make_split(inter, _assign_by_counts(inter.user_ids, key, ratios), warm=True)


def split_temporal(inter: Interactions, ratios=(0.8, 0.1, 0.1)) -> Split:
    """Per-user temporal split: each user's oldest rows train, newest test (RecBole's ``TO``)."""
    return _make_split(inter, _assign_by_counts(inter.user_ids, inter.timestamps, ratios),
                       warm=True)


def split_global_temporal(inter: Interactions, ratios=(0.8, 0.1, 0.1)) -> Split:
    """One global time cut: the oldest share trains, then valid, then test.

    Valid/test rows of users with no train row are dropped (counted in ``dropped``).
    """
    r = np.asarray(ratios, np.float64) / np.sum(ratios)
    order = np.argsort(inter.timestamps, kind="stable")
    n = len(inter)
    n_train, n_valid = int(np.floor(r[0] * n)), int(np.floor(r[1] * n))
    part = np.empty(n, np.int8)
    part[order] = np.repeat([0, 1, 2], [n_train, n_valid, n - n_train - n_valid])
    return _make_split(inter, part, warm=True)


def split_leave_one_out(inter: Interactions) -> Split:
    """Leave-one-out by time: each user's last row is test and the one before it valid.

    Users with two rows give one to test; users with one row keep it in train.
    """
    n = np.bincount(inter.user_ids, minlength=inter.num_users)
    order, rank = _rank_in_user(inter.user_ids, inter.timestamps)
    u = inter.user_ids[order]
    from_end = n[u] - 1 - rank
    part = np.zeros(len(inter), np.int8)
    part[order] = np.where((from_end == 0) & (n[u] >= 2), 2,
                           np.where((from_end == 1) & (n[u] >= 3), 1, 0))
    return _make_split(inter, part, warm=True)


def split_kfold(inter: Interactions, num_folds: int = 5, fold: int = 0, seed: int = 2020,
                valid_ratio: float = 0.1) -> Split:
    """Fold ``fold`` of a per-user k-fold split.

    Each user's rows are shuffled and dealt round-robin (from a random offset) into
    ``num_folds`` folds, so over all folds every row of a user with two or more rows is tested
    exactly once. Users with one row always train. From the non-test rows, a per-user
    ``valid_ratio`` share (RecBole rounding) becomes valid, for early stopping.
    """
    if not 0 <= fold < num_folds:
        raise ValueError(f"fold {fold} is not in [0, {num_folds})")
    rng = np.random.default_rng(seed)
    n = np.bincount(inter.user_ids, minlength=inter.num_users)
    offset = rng.integers(0, num_folds, size=inter.num_users)
    order, rank = _rank_in_user(inter.user_ids, rng.permutation(len(inter)))
    u = inter.user_ids[order]
    fold_of = np.empty(len(inter), np.int64)
    fold_of[order] = (rank + offset[u]) % num_folds
    test = (fold_of == fold) & (n[inter.user_ids] >= 2)
    part = np.where(test, 2, 0).astype(np.int8)
    rest = np.nonzero(~test)[0]
    sub = _assign_by_counts(inter.user_ids[rest], rng.permutation(len(rest)),
                            (1.0 - valid_ratio, valid_ratio, 0.0))
    part[rest] = sub
    return _make_split(inter, part, warm=True)


def split_cold_items(inter: Interactions, cold_fraction: float = 0.2, ratios=(0.8, 0.1, 0.1),
                     seed: int = 2020) -> Split:
    """Hold ``cold_fraction`` of the items out of train entirely.

    Cold items are divided between valid and test in the valid:test ratio and all their rows go
    there; the warm items' rows are split per user like :func:`split_random`, so valid and
    test hold both warm and cold rows, and metrics can be reported for each. Valid/test rows of
    users with no train row are dropped and counted.
    """
    return _cold_split(inter, "item", cold_fraction, ratios, seed)


def split_cold_users(inter: Interactions, cold_fraction: float = 0.2, ratios=(0.8, 0.1, 0.1),
                     seed: int = 2020) -> Split:
    """Hold ``cold_fraction`` of the users out of train entirely (see
    :func:`split_cold_items`); rows of items with no train row are dropped and counted."""
    return _cold_split(inter, "user", cold_fraction, ratios, seed)


def _cold_split(inter: Interactions, kind: str, cold_fraction, ratios, seed) -> Split:
    if not 0 < cold_fraction < 1:
        raise ValueError(f"cold_fraction must be in (0, 1), got {cold_fraction}")
    rng = np.random.default_rng(seed)
    ids = inter.item_ids if kind == "item" else inter.user_ids
    size = inter.num_items if kind == "item" else inter.num_users
    present = np.unique(ids)
    n_cold = int(round(cold_fraction * len(present)))
    if n_cold == 0 or n_cold == len(present):
        raise ValueError(f"cold_fraction={cold_fraction} of {len(present)} {kind}s holds out "
                         f"{n_cold}; need at least one cold and one warm {kind}")
    cold = np.sort(rng.choice(present, n_cold, replace=False)).astype(np.int32)
    r = np.asarray(ratios, np.float64)
    n_cold_valid = int(round(n_cold * r[1] / max(r[1] + r[2], 1e-12)))
    cold_part = np.zeros(size, np.int8)
    cold_part[rng.permutation(cold)] = np.repeat([1, 2], [n_cold_valid, n_cold - n_cold_valid])
    is_cold = cold_part[ids] > 0
    part = np.zeros(len(inter), np.int8)
    warm_rows = np.nonzero(~is_cold)[0]
    part[warm_rows] = _assign_by_counts(inter.user_ids[warm_rows],
                                        rng.permutation(len(warm_rows)), ratios)
    part[is_cold] = cold_part[ids[is_cold]]
    # The other side (users for cold items, items for cold users) must be known from train.
    other = inter.user_ids if kind == "item" else inter.item_ids
    other_size = inter.num_users if kind == "item" else inter.num_items
    seen = np.zeros(other_size, bool)
    seen[other[part == 0]] = True
    drop = (part > 0) & ~seen[other]
    dropped = {}
    if drop.any():
        other_name = "users" if kind == "item" else "items"
        dropped[f"valid/test rows of {other_name} without train rows"] = int(drop.sum())
    part[drop] = -1
    cold_kw = {"cold_item_ids" if kind == "item" else "cold_user_ids": cold}
    return _make_split(inter, part, warm=False, dropped=dropped, **cold_kw)


def split(inter: Interactions, cfg: SplitConfig) -> Split:
    """Dispatch on ``cfg.method``."""
    if cfg.method == "random":
        return split_random(inter, cfg.ratios, cfg.seed)
    if cfg.method == "temporal":
        return split_temporal(inter, cfg.ratios)
    if cfg.method == "global_temporal":
        return split_global_temporal(inter, cfg.ratios)
    if cfg.method == "loo":
        return split_leave_one_out(inter)
    if cfg.method == "kfold":
        r = np.asarray(cfg.ratios, np.float64)
        return split_kfold(inter, cfg.num_folds, cfg.fold, cfg.seed,
                           valid_ratio=float(r[1] / (r[0] + r[1])))
    if cfg.method == "cold_item":
        return split_cold_items(inter, cfg.cold_fraction, cfg.ratios, cfg.seed)
    if cfg.method == "cold_user":
        return split_cold_users(inter, cfg.cold_fraction, cfg.ratios, cfg.seed)
    raise ValueError(f"unknown split method {cfg.method!r}")
