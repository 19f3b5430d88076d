"""Seeded synthetic recommendation data with power-law degrees and topical texts.

Each item belongs to one of ``num_topics`` topics and gets a description built from that
topic's words; each user prefers one topic and writes a short profile with its words. An
interaction draws a user by a power-law activity, a topic (the user's own with probability
``affinity``, else a random one) and an item of that topic by power-law popularity. So the data
has the long tails of real logs, and text carries real signal about who likes what: text-fused
models should beat ID-only ones on cold items, which the tests and benchmarks rely on.

:func:`synthetic_interactions` is vectorised numpy (1e7 edges in seconds) for scaling
benchmarks; :func:`synthetic_raw` renders the same data as raw string tables so it runs through
the full cleaning pipeline like a real file would.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from recjax.config.schema import SyntheticConfig
from recjax.types import Interactions, RawDataset, RawTable

TOPIC_WORDS = (
    ("travel", "journey", "photography", "landscape", "camera", "voyage"),
    ("cooking", "recipe", "kitchen", "flavour", "baking", "spice"),
    ("space", "galaxy", "rocket", "astronaut", "planet", "orbit"),
    ("history", "empire", "war", "ancient", "dynasty", "battle"),
    ("music", "guitar", "concert", "melody", "jazz", "song"),
    ("sport", "football", "running", "training", "team", "match"),
    ("romance", "love", "wedding", "heart", "letters", "summer"),
    ("crime", "detective", "murder", "mystery", "police", "clue"),
    ("gardening", "flowers", "soil", "seeds", "orchard", "bloom"),
    ("programming", "software", "computer", "code", "algorithm", "data"),
    ("horror", "ghost", "haunted", "fear", "night", "monster"),
    ("children", "fairy", "animals", "adventure", "school", "friends"),
)
KINDS = ("book", "film", "guide", "album", "series", "magazine")


@dataclass(frozen=True)
class SyntheticData:
    """Numeric synthetic data: interactions plus the topics behind them."""

    interactions: Interactions
    item_topic: np.ndarray  # int32 [num_items]
    user_topic: np.ndarray  # int32 [num_users]
    behaviors: tuple[str, ...]


def _power_law_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    w = (np.arange(1, n + 1, dtype=np.float64)) ** (-exponent)
    return rng.permutation(w)


def synthetic_interactions(num_users: int, num_items: int, num_interactions: int,
                           num_topics: int = 8, popularity_exponent: float = 0.8,
                           affinity: float = 0.8, behaviors: tuple[str, ...] = (),
                           seed: int = 0) -> SyntheticData:
    """Vectorised generator; duplicates (user, item) pairs are kept (cleaning removes them).

    Every user and item gets at least one interaction (the first ``num_users`` rows give each
    user one, the next ``num_items`` give each item one), so id spaces have no holes.
    """
    if min(num_users, num_items, num_topics) < 1:
        raise ValueError("num_users, num_items and num_topics must be >= 1")
    if num_interactions < num_users + num_items:
        raise ValueError(f"num_interactions={num_interactions} must be at least num_users + "
                         f"num_items = {num_users + num_items} (every node gets an edge)")
    if num_topics > len(TOPIC_WORDS):
        raise ValueError(f"num_topics must be <= {len(TOPIC_WORDS)}")
    rng = np.random.default_rng(seed)
    item_topic = rng.integers(0, num_topics, num_items).astype(np.int32)
    user_topic = rng.integers(0, num_topics, num_users).astype(np.int32)
    pop = _power_law_weights(num_items, popularity_exponent, rng)
    act = _power_law_weights(num_users, popularity_exponent, rng)

    n_free = num_interactions - num_users - num_items
    users = np.concatenate([
        np.arange(num_users),
        rng.integers(0, num_users, num_items),
        rng.choice(num_users, n_free, p=act / act.sum()),
    ])
    # Items of each topic, sampled by popularity via one global inverse CDF: topic t occupies
    # the interval [t, t + 1) of the cumulative array.
    by_topic = np.argsort(item_topic, kind="stable")
    topic_of_sorted = item_topic[by_topic]
    w = pop[by_topic]
    sums = np.bincount(topic_of_sorted, weights=w, minlength=num_topics)
    cum = np.empty_like(w)
    for t in range(num_topics):
        sel = topic_of_sorted == t
        cum[sel] = t + np.cumsum(w[sel]) / max(sums[t], 1e-300)
    n_rest = len(users) - num_items
    own = rng.random(n_rest) < affinity
    topics = np.where(own, user_topic[np.r_[users[:num_users], users[num_users + num_items:]]],
                      rng.integers(0, num_topics, n_rest))
    present = np.bincount(item_topic, minlength=num_topics) > 0
    topics = np.where(present[topics], topics, item_topic[rng.integers(0, num_items, n_rest)])
    pos = np.searchsorted(cum, topics + rng.random(n_rest) * (1 - 1e-12), side="right")
    drawn = by_topic[np.minimum(pos, num_items - 1)]
    items = np.concatenate([drawn[:num_users], np.arange(num_items), drawn[num_users:]])

    match = item_topic[items] == user_topic[users]
    ratings = np.clip(np.round(rng.normal(np.where(match, 4.2, 2.8), 0.8)), 1, 5)
    timestamps = np.sort(rng.integers(1_000_000_000, 1_100_000_000, len(users)))
    timestamps = rng.permutation(timestamps).astype(np.float64)
    beh = (rng.integers(0, len(behaviors), len(users)) if behaviors
           else np.zeros(len(users), np.int64))
    inter = Interactions(users.astype(np.int32), items.astype(np.int32),
                         ratings.astype(np.float32), timestamps, beh.astype(np.int32),
                         num_users, num_items)
    return SyntheticData(inter, item_topic, user_topic, tuple(behaviors) or ("interaction",))


def item_text(item: int, topic: int, rng: np.random.Generator) -> tuple[str, str]:
    words = TOPIC_WORDS[topic]
    kind = KINDS[item % len(KINDS)]
    picked = rng.choice(len(words), 3, replace=False)
    title = f"The {words[picked[0]].title()} {kind.title()} {item}"
    desc = f"A {kind} about {words[picked[1]]} and {words[picked[2]]}."
    return title, desc


def user_text(topic: int, rng: np.random.Generator) -> str:
    words = TOPIC_WORDS[topic]
    a, b = rng.choice(len(words), 2, replace=False)
    return f"I like {words[a]} and {words[b]}."


def _obj(values) -> np.ndarray:
    values = list(values)
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def synthetic_raw(cfg: SyntheticConfig = SyntheticConfig()) -> RawDataset:
    """The synthetic data as raw string tables (ids ``u0..``, ``i0..``) with item titles,
    descriptions and a topic category, and user profile texts."""
    data = synthetic_interactions(cfg.num_users, cfg.num_items, cfg.num_interactions,
                                  cfg.num_topics, cfg.popularity_exponent,
                                  behaviors=cfg.behaviors, seed=cfg.seed)
    x = data.interactions
    rng = np.random.default_rng([cfg.seed, 1])
    src = f"<synthetic seed={cfg.seed}>"
    cols = {"user_id": _obj(f"u{u}" for u in x.user_ids),
            "item_id": _obj(f"i{i}" for i in x.item_ids),
            "rating": _obj(str(int(r)) for r in x.ratings),
            "timestamp": _obj(str(int(t)) for t in x.timestamps)}
    types = {"user_id": "token", "item_id": "token", "rating": "float", "timestamp": "float"}
    if cfg.behaviors:
        cols["behavior"] = _obj(data.behaviors[b] for b in x.behaviors)
        types["behavior"] = "token"
    inter = RawTable(src, cols, types, np.arange(1, len(x) + 1))
    texts = [item_text(i, int(t), rng) for i, t in enumerate(data.item_topic)]
    items = RawTable(src, {
        "item_id": _obj(f"i{i}" for i in range(cfg.num_items)),
        "title": _obj(t for t, _ in texts),
        "description": _obj(d for _, d in texts),
        "category": _obj(TOPIC_WORDS[t][0] for t in data.item_topic),
    }, {"item_id": "token", "title": "token_seq", "description": "token_seq",
        "category": "token"}, np.arange(1, cfg.num_items + 1))
    users = RawTable(src, {
        "user_id": _obj(f"u{u}" for u in range(cfg.num_users)),
        "text": _obj(user_text(int(t), rng) for t in data.user_topic),
    }, {"user_id": "token", "text": "token_seq"}, np.arange(1, cfg.num_users + 1))
    return RawDataset("synthetic", inter, items, users)


# Users and items per row of ml-25m (162,541 users and 59,047 items over 25,000,095 ratings).
ML25M_USERS_PER_ROW = 162_541 / 25_000_095
ML25M_ITEMS_PER_ROW = 59_047 / 25_000_095
LOG_LAYOUTS = ("ml-25m", "atomic")


def write_synthetic_log(directory, num_rows: int, layout: str = "ml-25m", seed: int = 0,
                        chunk_rows: int = 1_000_000) -> tuple[int, int]:
    """Write a seeded power-law rating log of ``num_rows`` rows into ``directory`` in a real
    file layout, chunk by chunk (memory stays ~``chunk_rows`` rows whatever the size), for
    scale benchmarks.

    ``ml-25m``: ``ratings.csv`` (``userId,movieId,rating,timestamp``, half-star ratings) and
    ``movies.csv`` (``movieId,title,genres``) as GroupLens ships them; ``atomic``: a RecBole
    ``<directory name>.inter`` file with a typed header. Users and items scale with the rows
    as in ml-25m. Repeated (user, item) draws are kept, as raw logs have them, so
    deduplication has work to do. Returns ``(num_users, num_items)``.
    """
    if layout not in LOG_LAYOUTS:
        raise ValueError(f"layout {layout!r} is unknown; valid: {LOG_LAYOUTS}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    num_users = max(2, round(num_rows * ML25M_USERS_PER_ROW))
    num_items = max(2, round(num_rows * ML25M_ITEMS_PER_ROW))
    rng = np.random.default_rng(seed)
    user_cdf = np.cumsum(_power_law_weights(num_users, 0.8, rng))
    item_cdf = np.cumsum(_power_law_weights(num_items, 0.9, rng))
    user_cdf /= user_cdf[-1]
    item_cdf /= item_cdf[-1]
    if layout == "ml-25m":
        sep, header, path = ",", "userId,movieId,rating,timestamp", directory / "ratings.csv"
    else:
        sep, path = "\t", directory / f"{directory.name}.inter"
        header = "user_id:token\titem_id:token\trating:float\ttimestamp:float"
    options = pacsv.WriteOptions(include_header=False, delimiter=sep, quoting_style="none")
    with open(path, "wb") as f:
        f.write((header + "\n").encode())
        for start in range(0, num_rows, chunk_rows):
            n = min(chunk_rows, num_rows - start)
            chunk = pa.table({
                "u": np.minimum(np.searchsorted(user_cdf, rng.random(n)), num_users - 1) + 1,
                "i": np.minimum(np.searchsorted(item_cdf, rng.random(n)), num_items - 1) + 1,
                "r": rng.integers(1, 11, n) / 2,
                "t": rng.integers(789_652_009, 1_574_327_703, n)})
            pacsv.write_csv(chunk, f, options)
    if layout == "ml-25m":
        topics = rng.integers(0, len(TOPIC_WORDS), num_items)
        with open(directory / "movies.csv", "w", encoding="utf-8") as f:
            f.write("movieId,title,genres\n")
            f.writelines(f'{i + 1},"The {TOPIC_WORDS[t][1].title()}, Part {i} ({1950 + i % 70})",'
                         f"{TOPIC_WORDS[t][0].title()}|{KINDS[i % len(KINDS)].title()}\n"
                         for i, t in enumerate(topics))
    return num_users, num_items
