"""``recjax.text``'s public names: importable from the package, loaded only when used."""

import subprocess
import sys

import pytest


def test_encode_texts_is_importable_from_the_package():
    import recjax.text
    from recjax.text import TextEncoder, encode_texts
    from recjax.text import encode as encode_module

    assert encode_texts is encode_module.encode_texts
    assert TextEncoder is encode_module.TextEncoder
    assert "encode_texts" in dir(recjax.text) and "encode_texts" in recjax.text.__all__
    with pytest.raises(AttributeError, match="has no attribute 'encode_textz'"):
        recjax.text.encode_textz  # noqa: B018


def test_importing_the_package_stays_light():
    """``import recjax.text`` (and its numpy-only templates) must not pull in JAX; the first
    use of ``encode_texts`` does, without an import cycle."""
    code = ("import sys\n"
            "import recjax.text, recjax.text.templates\n"
            "assert 'jax' not in sys.modules and 'flax' not in sys.modules, 'heavy import'\n"
            "from recjax.text import encode_texts\n"
            "assert 'jax' in sys.modules and encode_texts.__module__ == 'recjax.text.encode'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
