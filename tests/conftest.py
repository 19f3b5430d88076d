"""Shared fixtures. Tests needing the real ml-100k use the registry's cached fetch."""

from __future__ import annotations

import numpy as np
import pytest

from recjax.types import Interactions


def make_interactions(users, items, ratings=None, timestamps=None, behaviors=None,
                      num_users=None, num_items=None) -> Interactions:
    users = np.asarray(users, np.int32)
    items = np.asarray(items, np.int32)
    n = len(users)
    return Interactions(
        users, items,
        np.asarray(ratings if ratings is not None else np.ones(n), np.float32),
        np.asarray(timestamps if timestamps is not None else np.arange(n), np.float64),
        np.asarray(behaviors if behaviors is not None else np.zeros(n), np.int32),
        num_users if num_users is not None else int(users.max(initial=-1)) + 1,
        num_items if num_items is not None else int(items.max(initial=-1)) + 1)


@pytest.fixture(scope="session")
def ml100k_dir():
    from recjax.data.registry import fetch

    return fetch("ml-100k", verbose=False)
