"""The persistent blob cache shared by pulls, analyses and notebooks: where it is, what it holds, pruning.

Location: ``$REGKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/regkit``, else ``~/.cache/regkit``. It is a
:class:`BlobStore`: blobs enter only verified, by atomic rename (so concurrent pulls are safe), and
are trusted while their verification record matches (see :mod:`regkit.storage.store`). A blob's last
use is its record's mtime, which least-recently-used pruning goes by. Blobs of tar outputs are
ranges of packs (hard links of those outputs); a pack goes when none of its blobs is left.

After a crash: temporary files name their writer (PID and start time), so every user of the cache
(a pull, an analysis, ``prune``, ``verify``) removes those whose writer is gone, never a live one.
A cache that cannot be used (not a directory, read-only, full) is a :class:`~regkit.errors.CacheWarning`
and no cache for the default location, an :class:`~regkit.errors.InvalidOption` for one named explicitly.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from ..errors import CacheWarning, InvalidOption
from ..oci.digest import Digest
from ..oci.manifest import Descriptor
from .fileio import chunks_at
from .output import owner
from .packs import Location, load_packed
from .store import BlobStore

MIN_FREE = 1 << 20  # bytes: a file system with less free is full for the cache's purposes
_swept: set[Path] = set()  # caches whose dead writers' files this process has removed already


def default_cache_dir() -> Path:
    """``$REGKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/regkit``, else ``~/.cache/regkit``."""
    if os.environ.get("REGKIT_CACHE_DIR"):
        return Path(os.environ["REGKIT_CACHE_DIR"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "regkit"
    return Path.home() / ".cache" / "regkit"


def open_cache(cache_dir: str | os.PathLike[str] | None = None, *, enabled: bool = True) -> BlobStore | None:
    """The cache at ``cache_dir`` (default :func:`default_cache_dir`), or None when disabled or unusable.

    A ``cache_dir`` given explicitly that cannot be used raises :class:`~regkit.errors.InvalidOption`
    (before any request); the default one is reported as a :class:`~regkit.errors.CacheWarning` and
    the caller goes on without a cache. Temporary files of writers that died are removed.
    """
    if not enabled:
        return None
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    problem = unusable(root)
    if problem is not None:
        if cache_dir:
            raise InvalidOption(
                f"the cache directory {root} cannot be used: {problem}", hint="name another --cache-dir, or --no-cache"
            )
        cache_warning(root, problem, "pulling without a cache")
        return None
    cache = BlobStore(root)
    cache.remove_stale()  # at every pull: a scan of the cache's folders, milliseconds for thousands of blobs
    return cache


def unusable(root: Path) -> str | None:
    """Why the directory ``root`` cannot hold the cache (made if missing, a file written and removed), or None."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        if not root.is_dir():
            return "it is not a directory"
    except FileExistsError:
        return "it is not a directory"
    except OSError as exc:
        return f"it cannot be created ({exc.strerror or exc})"
    try:
        fd, probe = tempfile.mkstemp(prefix=f".incoming.{owner()}.", suffix=".partial", dir=root)
        os.close(fd)
        os.unlink(probe)
        space = os.statvfs(root)
    except OSError as exc:
        return f"it cannot be written ({exc.strerror or exc})"
    free = space.f_bavail * space.f_frsize
    return f"its file system is full ({free} bytes free)" if free < MIN_FREE else None


def cache_warning(root: Path, problem: str, instead: str) -> None:
    """Say once (a :class:`~regkit.errors.CacheWarning`; the CLI prints it on stderr) that the cache failed."""
    warnings.warn(CacheWarning(f"the blob cache {root} cannot be used: {problem}; {instead}"), stacklevel=3)


def swept(cache: BlobStore) -> BlobStore:
    """``cache``, its dead writers' temporary files removed once per process (for readers asking per blob)."""
    if cache.root not in _swept:
        _swept.add(cache.root)
        cache.remove_stale()
    return cache


def cached_blob(descriptor: Descriptor, cache_dir: Path | None = None) -> Location | None:
    """Where the cache (default: the default one) holds ``descriptor``'s verified bytes (a file, or a pack's range)."""
    return swept(BlobStore(cache_dir or default_cache_dir())).locate(descriptor.digest, descriptor.size)


def explicit_cache(cache_dir: str | os.PathLike[str] | None) -> Path | None:
    """``cache_dir`` as a path, checked usable (else :class:`~regkit.errors.InvalidOption`); None for the default."""
    cache = open_cache(cache_dir) if cache_dir else None
    return cache.root if cache is not None else None


def cached_chunks(location: Location, size: int, chunk: int = 4 << 20) -> Iterator[bytes]:
    """The ``size`` bytes at ``location``, in large reads (the caller still checks their digest)."""
    path, offset = location
    with open(path, "rb", buffering=0) as handle:
        yield from chunks_at(handle.fileno(), offset, size, chunk)


@dataclass(frozen=True)
class CachedBlob:
    """One blob in the cache: its digest, size, last use (epoch seconds) and where: a file, or a pack at ``offset``."""

    digest: Digest
    size: int
    last_used: float
    path: Path
    offset: int = 0
    packed: bool = False


def _named(root: Path) -> Iterator[tuple[Digest, Path]]:
    """``root/<algorithm>/<hex>`` files as digests (temporary files and stray names skipped)."""
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        for path in sorted(folder.iterdir()) if folder.is_dir() else ():
            if not path.name.startswith("."):
                try:
                    yield Digest.parse(f"{folder.name}:{path.name}"), path
                except ValueError:
                    continue


def blobs(cache: BlobStore) -> Iterator[CachedBlob]:
    """Every complete blob in the cache: blob files, then blobs packed in outputs (not hashed here)."""
    files: set[Digest] = set()
    for digest, path in _named(cache.root / "blobs"):
        try:
            stat = path.stat()
        except OSError:
            continue
        try:
            last_used = cache.record_path(digest).stat().st_mtime
        except OSError:
            last_used = stat.st_mtime  # never recorded: as old as the file
        files.add(digest)
        yield CachedBlob(digest, stat.st_size, last_used, path)
    for digest, record in _named(cache.root / "packed"):
        entry = load_packed(record)
        if digest in files or entry is None:
            continue
        with suppress(OSError):
            last_used = record.stat().st_mtime
            yield CachedBlob(
                digest, entry["size"], last_used, cache.packs.pack_path(entry["pack"]), entry["offset"], True
            )


def total_size(cache: BlobStore) -> int:
    """Bytes the cache's files take: blob files and packs (a pack counts whole, also while it is an output)."""
    packs = cache.root / "packs"
    files = [*(path for _, path in _named(cache.root / "blobs")), *(packs.iterdir() if packs.is_dir() else ())]
    return sum(_size(path) for path in files)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def prune(cache: BlobStore, *, max_size: int | None = None, older_than: float | None = None) -> list[CachedBlob]:
    """Remove blobs unused for ``older_than`` seconds, then least recently used ones until ``max_size`` fits."""
    if (max_size is not None and max_size < 0) or (older_than is not None and older_than < 0):
        raise InvalidOption("--max-size and --older-than must not be negative")
    entries = sorted(blobs(cache), key=lambda blob: blob.last_used)
    # a pack's bytes are freed with the last blob that uses it
    users = Counter(blob.path.name for blob in entries if blob.packed)
    now = time.time()
    left = total_size(cache)
    removed: list[CachedBlob] = []
    for blob in entries:
        old = older_than is not None and now - blob.last_used > older_than
        if not old and (max_size is None or left <= max_size):
            continue
        # A pull using the blob right now keeps its open file; a later one will fetch it again.
        cache.remove(blob.digest)
        removed.append(blob)
        if not blob.packed:
            left -= blob.size
        else:
            users[blob.path.name] -= 1
            left -= _size(blob.path) if users[blob.path.name] == 0 else 0
    cache.packs.collect()
    return removed


def verify(cache: BlobStore) -> tuple[list[CachedBlob], list[CachedBlob]]:
    """Hash every blob now: ``(good, removed)``; a blob that no longer matches its digest is removed."""
    good: list[CachedBlob] = []
    bad: list[CachedBlob] = []
    for blob in blobs(cache):
        (good if cache.verify(blob.digest, blob.size) else bad).append(blob)
    cache.packs.collect()
    return good, bad


_SIZES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_AGES = {"": 1, "S": 1, "M": 60, "H": 3600, "D": 86400, "W": 7 * 86400}


def parse_size(text: str) -> int:
    """``500M``, ``2G``, ``1.5GiB``, ``1024`` (bytes; K, M, G, T are powers of 1024)."""
    return int(_number_with_unit(text.strip().upper().removesuffix("B").removesuffix("I"), _SIZES, text, "size"))


def parse_age(text: str) -> float:
    """``30d``, ``12h``, ``45m``, ``90s`` (or plain seconds) as seconds."""
    return _number_with_unit(text.strip().upper(), _AGES, text, "age")


def _number_with_unit(clean: str, units: dict[str, int], text: str, what: str) -> float:
    number, unit = (clean[:-1], clean[-1]) if clean and clean[-1] in units else (clean, "")
    try:
        value = float(number)
    except ValueError:
        names = ", ".join(u for u in units if u)
        raise InvalidOption(f"{what} {text!r} is not a number with an optional unit ({names})") from None
    if value < 0:
        raise InvalidOption(f"{what} {text!r} must not be negative")
    return value * units[unit]
