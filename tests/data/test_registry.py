import hashlib
import json
import zipfile

import pytest

from recjax.data import registry
from recjax.data.registry import MARKER, FetchError, Resource, UrlZip, fetch


def make_zip(path, files):
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


class Interrupted:
    """A source that writes part of the files and then dies, like a killed download."""

    def describe(self):
        return "a source that breaks midway"

    def retrieve(self, dest):
        (dest / "a.txt").write_text("partial")
        raise OSError("connection reset")


@pytest.fixture
def toy(tmp_path, monkeypatch):
    monkeypatch.delenv("RECJAX_OFFLINE", raising=False)
    archive = make_zip(tmp_path / "toy.zip", {"toy/a.txt": "alpha", "toy/b.txt": "beta"})
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()

    def register(*sources, sha=None):
        res = Resource("toy", "dataset", sources, layouts=(("a.txt", "b.txt"),),
                       sha256=sha or {})
        monkeypatch.setitem(registry.RESOURCES, "toy", res)
        return res

    good = UrlZip(archive.as_uri(), md5, {"toy/a.txt": "a.txt", "toy/b.txt": "b.txt"})
    bad_md5 = UrlZip(archive.as_uri(), "0" * 32, {"toy/a.txt": "a.txt"})
    return register, good, bad_md5, tmp_path / "cache"


def test_fetch_verifies_caches_and_reuses(toy):
    register, good, _, root = toy
    register(good, sha={"a.txt": hashlib.sha256(b"alpha").hexdigest()})
    d = fetch("toy", root, verbose=False)
    assert (d / "a.txt").read_text() == "alpha"
    marker = json.loads((d / MARKER).read_text())
    assert marker["source"] == good.url and set(marker["files"]) == {"a.txt", "b.txt"}
    # The second call hits the cache: no source is consulted.
    register()
    assert fetch("toy", root, verbose=False) == d


def test_checksum_mismatch_falls_through_and_interrupted_fetch_leaves_nothing(toy):
    register, good, bad_md5, root = toy
    register(bad_md5, Interrupted(), good)
    d = fetch("toy", root, verbose=False)
    assert (d / "b.txt").read_text() == "beta"
    assert [p.name for p in root.iterdir()] == ["toy"]  # no temporary directories left


def test_all_sources_fail_with_one_clear_message(toy):
    register, _, bad_md5, root = toy
    register(bad_md5, Interrupted())
    with pytest.raises(FetchError) as e:
        fetch("toy", root, verbose=False)
    msg = str(e.value)
    assert "checksum mismatch" in msg and "connection reset" in msg
    assert f"put the files {{a.txt, b.txt}} into {root / 'toy'}/" in msg
    assert not (root / "toy").exists()


def test_pinned_sha_mismatch_is_rejected(toy):
    register, good, _, root = toy
    register(good, sha={"a.txt": "f" * 64})
    with pytest.raises(FetchError, match="checksum mismatch for a.txt"):
        fetch("toy", root, verbose=False)


def test_manual_files_adopted_and_corruption_refetched(toy):
    register, good, _, root = toy
    register(good)
    d = root / "toy"
    d.mkdir(parents=True)
    (d / "a.txt").write_text("mine")
    (d / "b.txt").write_text("mine too")
    assert fetch("toy", root, verbose=False) == d
    assert json.loads((d / MARKER).read_text())["source"] == "manual"
    # A cached file whose size changed is detected; the copy is set aside and fetched again.
    (d / "a.txt").write_text("truncated!!")
    d2 = fetch("toy", root, verbose=False)
    assert (d2 / "a.txt").read_text() == "alpha"
    assert any(p.name.startswith("toy.incomplete-") for p in root.iterdir())


def test_unknown_name():
    with pytest.raises(KeyError, match="unknown dataset or checkpoint 'ml-99k'"):
        fetch("ml-99k")


def test_offline_skips_web(toy, monkeypatch):
    register, good, _, root = toy
    register(good)
    monkeypatch.setenv("RECJAX_OFFLINE", "1")
    with pytest.raises(FetchError, match="skipped: RECJAX_OFFLINE is set"):
        fetch("toy", root, verbose=False)
