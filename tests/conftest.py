"""Shared fixtures. Tests needing the real ml-100k use the registry's cached fetch."""

from __future__ import annotations

import os

import numpy as np
import pytest

from recjax.types import Interactions

# The cleaned-data cache (recjax.data.cache) is on by default for users; a test run must not
# fill ~/.cache/recjax/cleaned, also not from the CLIs tests start in subprocesses, which
# inherit os.environ. Tests of the cache opt in with the ``data_cache`` fixture.
SESSION_ENV = {"RECJAX_DATA_CACHE": "0"}
_saved_env: dict[str, str | None] = {}


def pytest_configure(config):
    for key, value in SESSION_ENV.items():
        _saved_env[key] = os.environ.get(key)
        os.environ[key] = value


def pytest_unconfigure(config):
    for key, value in _saved_env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def data_cache(tmp_path_factory, monkeypatch):
    """Turn the cleaned-data cache on for one test, in a fresh directory (returned) that
    subprocesses find too."""
    root = tmp_path_factory.mktemp("cleaned")
    monkeypatch.setenv("RECJAX_DATA_CACHE", "1")
    monkeypatch.setenv("RECJAX_DATA_CACHE_DIR", str(root))
    return root


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
