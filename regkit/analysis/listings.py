"""Layer listings kept in the blob cache by layer digest: a layer listed once is read back, not decompressed again.

A listing is ``<cache>/listings/<algorithm>/<hex of the layer digest>``: one header line (the
format, the layer's ``diff_id``, its uncompressed size, the bytes it charged to the budgets, a
CRC-32 of the columns and their lengths), then the columns of :class:`~regkit.analysis.entries.Entries`
as stored in memory, then the side tables in :mod:`marshal` form: reading one back is a few copies,
not an object per entry. Files enter by atomic rename, so a reader sees
a whole listing or none; one whose header or checksum does not match is ignored (and replaced by
the next analysis). A listing is only as trusted as the cache directory it sits in, like the blobs.
"""

from __future__ import annotations

import marshal
import os
import tempfile
from pathlib import Path

from ..oci.digest import Digest
from ..oci.manifest import Descriptor
from ..storage.cache import default_cache_dir
from .entries import Entries, from_columns

FORMAT = b"regkit-listing-2"


class Listing:
    """A layer's entries with what reading them cost: uncompressed bytes, and bytes charged (sparse holes too)."""

    __slots__ = ("charged", "entries", "uncompressed")

    def __init__(self, uncompressed: int, charged: int, entries: Entries) -> None:
        self.uncompressed = uncompressed
        self.charged = charged
        self.entries = entries


def listing_path(layer: Digest, cache_dir: Path | None = None) -> Path:
    """Where the listing of ``layer`` is kept in the cache at ``cache_dir`` (default: the default cache)."""
    return (cache_dir or default_cache_dir()) / "listings" / layer.algorithm / layer.hex


def load(layer: Descriptor, diff_id: Digest, cache_dir: Path | None = None) -> Listing | None:
    """The kept listing of ``layer`` when there is a whole one for this ``diff_id``, else None."""
    try:
        data = listing_path(layer.digest, cache_dir).read_bytes()
    except OSError:
        return None
    head = data[: data.find(b"\n")]
    fields = head.split(b" ")
    if len(fields) != 10 or fields[0] != FORMAT or fields[1] != str(diff_id).encode():
        return None
    try:
        uncompressed, charged, checksum, *lengths = map(int, fields[2:])
        columns, position = [], len(head) + 1
        for length in lengths:
            columns.append(data[position : position + length])
            position += length
        links, odd = marshal.loads(data[position:])
        entries = from_columns(*columns, links, odd)
    except (ValueError, EOFError, TypeError):
        return None
    if entries.checksum() != checksum:
        return None  # torn or damaged: read the layer again
    return Listing(uncompressed, charged, entries)


def save(layer: Descriptor, diff_id: Digest, listing: Listing, cache_dir: Path | None = None) -> None:
    """Keep ``listing`` for ``layer``; a cache that cannot be written is left as it is (it only saves time)."""
    *columns, links, odd = listing.entries.columns()
    numbers = (listing.uncompressed, listing.charged, listing.entries.checksum(), *map(len, columns))
    head = b" ".join((FORMAT, str(diff_id).encode(), *(b"%d" % n for n in numbers)))
    path = listing_path(layer.digest, cache_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(head + b"\n")
                for column in columns:
                    handle.write(column)
                handle.write(marshal.dumps((links, odd)))
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass  # a read-only or full cache: the analysis itself is done
