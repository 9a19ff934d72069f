"""Layer listings kept in the blob cache by layer digest: a layer listed once is read back, not decompressed again.

A listing is ``<cache>/listings/<algorithm>/<hex of the layer digest>``: one header line (the
format, the layer's ``diff_id``, its uncompressed size, the bytes it charged to the budgets, and
the SHA-256 of the rest) and then the listing's columns in :mod:`marshal` form, one list per
field of :class:`~regkit.analysis.tarscan.FileEntry`. Files enter by atomic rename, so a reader sees
a whole listing or none; one whose header or checksum does not match is ignored (and replaced by
the next analysis). A listing is only as trusted as the cache directory it sits in, like the blobs.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import tempfile
from pathlib import Path

from ..oci.digest import Digest
from ..oci.manifest import Descriptor
from ..storage.cache import default_cache_dir
from .tarscan import FileEntry

FORMAT = b"regkit-listing-1"


class Listing:
    """A layer's entries with what reading them cost: uncompressed bytes, and bytes charged (sparse holes too)."""

    __slots__ = ("charged", "entries", "uncompressed")

    def __init__(self, uncompressed: int, charged: int, entries: tuple[FileEntry, ...]) -> None:
        self.uncompressed = uncompressed
        self.charged = charged
        self.entries = entries


def listing_path(layer: Digest) -> Path:
    """Where the listing of ``layer`` is kept."""
    return default_cache_dir() / "listings" / layer.algorithm / layer.hex


def load(layer: Descriptor, diff_id: Digest) -> Listing | None:
    """The kept listing of ``layer`` when there is a whole one for this ``diff_id``, else None."""
    try:
        data = listing_path(layer.digest).read_bytes()
    except OSError:
        return None
    head = data[: data.find(b"\n")]
    body = memoryview(data)[len(head) + 1 :]  # not a copy: listings of big layers are tens of MB
    fields = head.split(b" ")
    if len(fields) != 5 or fields[0] != FORMAT or fields[1] != str(diff_id).encode():
        return None
    if hashlib.sha256(body).hexdigest().encode() != fields[4]:
        return None  # torn or damaged: read the layer again
    try:
        entries = tuple(map(FileEntry, *marshal.loads(body)))
        return Listing(int(fields[2]), int(fields[3]), entries)
    except (ValueError, EOFError, TypeError):
        return None


def save(layer: Descriptor, diff_id: Digest, listing: Listing) -> None:
    """Keep ``listing`` for ``layer``; a cache that cannot be written is left as it is (it only saves time)."""
    columns = [list(column) for column in zip(*listing.entries, strict=True)] or [[] for _ in FileEntry._fields]
    body = marshal.dumps(columns)
    checksum = hashlib.sha256(body).hexdigest().encode()
    head = b" ".join((FORMAT, str(diff_id).encode(), b"%d" % listing.uncompressed, b"%d" % listing.charged, checksum))
    path = listing_path(layer.digest)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(head + b"\n" + body)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass  # a read-only or full cache: the analysis itself is done
