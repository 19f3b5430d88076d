import pytest


@pytest.fixture(autouse=True)
def _private_cleaned_cache(tmp_path_factory, monkeypatch):
    """Data tests never read or write the user's cleaned-data cache, and find it on by default
    whatever the environment says."""
    monkeypatch.delenv("RECJAX_DATA_CACHE", raising=False)
    monkeypatch.delenv("RECJAX_OUT_OF_CORE_BYTES", raising=False)
    root = tmp_path_factory.mktemp("cleaned")
    monkeypatch.setattr("recjax.data.cache.cache_root", lambda: root)
    return root
