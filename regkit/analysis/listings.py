"""Layer listings kept in the blob cache by layer digest: a layer listed once is read back, not decompressed again.

A listing is ``<cache>/listings/<algorithm>/<hex of the layer digest>``: one header line (the
format, the layer's ``diff_id``, its uncompressed size, the bytes it charged to the budgets, a
CRC-32 of the rest and the lengths of its sections), then the columns of :class:`~regkit.analysis.entries.Entries`
as stored in memory, then the side tables in :mod:`marshal` form: reading one back is a few copies,
not an object per entry. Files enter by atomic rename, so a reader sees
a whole listing or none; one whose header or checksum does not match is ignored (and replaced by
the next analysis). A listing is only as trusted as the cache directory it sits in, like the blobs.
"""

from __future__ import annotations

import marshal
import os
import zlib
from pathlib import Path

from ..oci.digest import Digest
from ..oci.manifest import Descriptor
from ..storage.cache import default_cache_dir
from ..storage.output import keep_file
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


_FIELDS = 11  # format, diff_id, uncompressed, charged, CRC-32, the lengths of the five columns and the side tables


def _head(head: bytes, diff_id: Digest) -> list[int] | None:
    """The numbers of a listing's header line when it is one of this format for ``diff_id``."""
    fields = head.split(b" ")
    if len(fields) != _FIELDS or fields[0] != FORMAT or fields[1] != str(diff_id).encode():
        return None
    try:
        return [int(field) for field in fields[2:]]
    except ValueError:
        return None


def whole(layer: Descriptor, diff_id: Digest, cache_dir: Path | None = None) -> bool:
    """Whether a listing of ``layer`` for ``diff_id`` is kept at its full length (its header and size only read)."""
    path = listing_path(layer.digest, cache_dir)
    try:
        with path.open("rb") as handle:
            head = handle.readline(4096)
            size = os.fstat(handle.fileno()).st_size
    except OSError:
        return False
    numbers = _head(head.rstrip(b"\n"), diff_id)
    return numbers is not None and size == len(head) + sum(numbers[3:])


def load(layer: Descriptor, diff_id: Digest, cache_dir: Path | None = None) -> Listing | None:
    """The kept listing of ``layer`` when there is a whole one for this ``diff_id``, else None."""
    try:
        data = listing_path(layer.digest, cache_dir).read_bytes()
    except OSError:
        return None
    head = data[: data.find(b"\n")]
    numbers = _head(head, diff_id)
    if numbers is None:
        return None
    uncompressed, charged, checksum, *lengths = numbers
    sections, position = [], len(head) + 1
    for length in lengths:
        sections.append(data[position : position + length])
        position += length
    if position != len(data) or _checksum(sections) != checksum:
        return None  # torn or damaged: read the layer again
    try:
        paths, ends, kinds, numbers_column, digests, tables = sections
        links, odd = marshal.loads(tables)
        entries = from_columns(paths, ends, kinds, numbers_column, digests, links, odd)
    except (ValueError, EOFError, TypeError):
        return None
    return Listing(uncompressed, charged, entries)


def _checksum(sections: list[bytes]) -> int:
    crc = 0
    for section in sections:
        crc = zlib.crc32(section, crc)
    return crc


def save(layer: Descriptor, diff_id: Digest, listing: Listing, cache_dir: Path | None = None) -> None:
    """Keep ``listing`` for ``layer``; a cache that cannot be written is left as it is (it only saves time)."""
    *columns, links, odd = listing.entries.columns()
    sections = [*columns, marshal.dumps((links, odd))]
    numbers = (listing.uncompressed, listing.charged, _checksum(sections), *map(len, sections))
    head = b" ".join((FORMAT, str(diff_id).encode(), *(b"%d" % n for n in numbers)))
    keep_file(listing_path(layer.digest, cache_dir), [head + b"\n", *sections])
