"""ml-100k comes out of the columnar readers and vectorised cleaning exactly as before.

``fixtures/ml100k_golden.json`` holds the sha256 of every array (interactions, id maps, side
features, the seed-2020 RS 8:1:1 split part by part) and the cleaning report, computed with
the string-based pipeline this one replaced, for three cleaning configs. Any changed row,
order, dtype or count changes a hash.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from recjax.config.schema import CleanConfig
from recjax.data.clean import clean
from recjax.data.columns import ColumnTable
from recjax.data.datasets import read_raw
from recjax.data.split import split_random
from recjax.types import RawTable

GOLDEN = json.loads((Path(__file__).parent / "fixtures" / "ml100k_golden.json").read_text())
CONFIGS = {
    "default": CleanConfig(),
    "core": CleanConfig(dedup="last", min_rating=3.0, user_core=10, item_core=10),
    "maxr": CleanConfig(dedup="max_rating", max_rating=4.0, user_core=3, item_core=5),
}


def digest(a) -> str:
    a = np.asarray(a)
    if a.dtype == object:
        return hashlib.sha256("\x1e".join(map(repr, a.tolist())).encode()).hexdigest()
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def fingerprint(ds) -> dict:
    x = ds.interactions
    out = {f: digest(getattr(x, f)) for f in
           ("user_ids", "item_ids", "ratings", "timestamps", "behaviors")}
    out["user_raw"], out["item_raw"] = digest(ds.id_maps.user_raw), digest(ds.id_maps.item_raw)
    out.update({f"item.{k}": digest(v) for k, v in ds.item_features.items()})
    out.update({f"user.{k}": digest(v) for k, v in ds.user_features.items()})
    out["report"] = [[s.name, s.rows_before, s.rows_after, s.filled, dict(s.details)]
                     for s in ds.report]
    sp = split_random(x, (0.8, 0.1, 0.1), 2020)
    for part in ("train", "valid", "test"):
        for f in ("user_ids", "item_ids", "ratings", "timestamps"):
            out[f"{part}.{f}"] = digest(getattr(getattr(sp, part), f))
    out["sizes"] = [ds.num_users, ds.num_items, len(x), len(sp.train), len(sp.valid),
                    len(sp.test)]
    return out


@pytest.mark.parametrize("typed", [True, False], ids=["arrow", "strings"])
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_ml100k_bit_identical(ml100k_dir, config, typed):
    raw = read_raw("ml-100k", typed=typed)
    assert isinstance(raw.interactions, ColumnTable if typed else RawTable)
    got = fingerprint(clean(raw, CONFIGS[config]))
    want = {k: v for k, v in GOLDEN[config].items()}
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == want[key], key


def test_ml100k_default_numbers(ml100k_dir):
    assert GOLDEN["default"]["sizes"] == [943, 1682, 100_000, 80_808, 9_596, 9_596]
    ds = clean(read_raw("ml-100k"))
    sp = split_random(ds.interactions, (0.8, 0.1, 0.1), 2020)
    # A few rows spelled out, so the hashes are anchored to something readable.
    assert ds.id_maps.user_raw[ds.interactions.user_ids[0]] == "196"
    assert ds.id_maps.item_raw[ds.interactions.item_ids[0]] == "242"
    assert (len(sp.train), len(sp.valid), len(sp.test)) == (80_808, 9_596, 9_596)
