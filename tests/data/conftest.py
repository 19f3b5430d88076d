import pytest


@pytest.fixture(autouse=True)
def _private_cleaned_cache(data_cache, monkeypatch, tmp_path_factory):
    """Data tests exercise the cleaned-data cache, on by default as for users, in a private
    directory (never the user's; ``data_cache`` in tests/conftest.py), and stage out-of-core
    files in a private directory too."""
    monkeypatch.delenv("RECJAX_OUT_OF_CORE_BYTES", raising=False)
    monkeypatch.setenv("RECJAX_STAGING_DIR", str(tmp_path_factory.mktemp("staging")))
    return data_cache
