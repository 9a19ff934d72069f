"""Where a blob's bytes go in the output: a range of the output tar, or a file of an OCI layout directory.

Downloads write straight into these places (the output is written once); a blob already in the
cache is copied in by the kernel (``copy_file_range``) or hard-linked. When the output is complete,
its downloaded blobs enter the cache without a copy: a tar is hard-linked in whole as a pack, an
OCI layout directory's blob files one by one (see :mod:`regkit.storage.store`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from ..oci.digest import Digest
from .fileio import copy_range, write_all_at
from .store import BlobStore, Location


class Writable(Protocol):
    """What a download writes through: sequential writes, and a rewind when it must start over."""

    def write(self, data: bytes, /) -> int: ...
    def seek(self, offset: int, whence: int = 0, /) -> int: ...
    def truncate(self, size: int | None = None, /) -> int: ...


class _AtOffset:
    """A file-like window of ``fd`` starting at ``base``: each write is one ``pwrite`` (no shared position)."""

    def __init__(self, fd: int, base: int) -> None:
        self.fd = fd
        self.base = base
        self.pos = 0

    def write(self, data: bytes, /) -> int:
        write_all_at(self.fd, data, self.base + self.pos)
        self.pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = 0, /) -> int:
        self.pos = offset
        return offset

    def truncate(self, size: int | None = None, /) -> int:
        # The window has a fixed size; a restarted download simply writes it again from the start.
        return self.pos if size is None else size


class Place(Protocol):
    """A blob's place in the output."""

    path: Path
    size: int

    def writer(self) -> AbstractContextManager[Writable]: ...
    def fill_from(self, source: Location) -> None: ...
    def read(self) -> bytes: ...


class TarPlace:
    """``size`` bytes at ``offset`` of the output tar open as ``fd`` (``path`` is where the tar will be)."""

    def __init__(self, fd: int, offset: int, size: int, path: Path) -> None:
        self.fd, self.offset, self.size, self.path = fd, offset, size, path

    @contextmanager
    def writer(self) -> Iterator[Writable]:
        """A writer at this place's offset."""
        yield _AtOffset(self.fd, self.offset)

    def fill_from(self, source: Location) -> None:
        """Copy a cached blob into place (kernel side; shares extents where the file system can)."""
        path, offset = source
        with open(path, "rb", buffering=0) as handle:
            copy_range(handle.fileno(), self.fd, self.size, offset, self.offset)

    def read(self) -> bytes:
        """The bytes written here (for the config, which is small)."""
        return os.pread(self.fd, self.size, self.offset)


class FilePlace:
    """A blob file of an OCI layout directory being built."""

    def __init__(self, path: Path, size: int) -> None:
        self.path, self.size = path, size

    @contextmanager
    def writer(self) -> Iterator[Writable]:
        """The file, opened for writing."""
        with open(self.path, "wb") as handle:
            yield handle

    def fill_from(self, source: Location) -> None:
        """Hard-link a cached blob file here; copy a blob out of a pack (or across file systems)."""
        path, offset = source
        if offset == 0 and path.stat().st_size == self.size:  # the blob's own file, not a pack
            try:
                os.link(path, self.path)
                return
            except OSError:
                pass
        with open(path, "rb", buffering=0) as handle, open(self.path, "wb") as out:
            copy_range(handle.fileno(), out.fileno(), self.size, offset)

    def read(self) -> bytes:
        """The file's bytes (for the config, which is small)."""
        return self.path.read_bytes()


def enter_cache(store: BlobStore, output: Path, places: Mapping[Digest, Place], output_key: str = "") -> None:
    """Put downloaded blobs of the finished ``output`` into ``store`` without copying them where it can.

    A tar is linked in whole (recorded as the output ``output_key`` names) and its blobs recorded
    as ranges of it; an OCI layout's blob files are linked one by one.
    """
    ranges = {digest: (p.offset, p.size) for digest, p in places.items() if isinstance(p, TarPlace)}
    if ranges:
        store.adopt_pack(output, ranges, output_key)
    for digest, place in places.items():
        if isinstance(place, FilePlace):
            store.adopt_file(digest, place.path)
