"""One layer read as it streams: decompressed, walked as a tar and listed, never held or written.

The compressed body arrives in chunks and is checked against the layer's digest on the way; the
tar inside (gzip, zstd or plain) is read forward only by :class:`~regkit.analysis.tarscan.TarReader` and
checked against the config's ``diff_id``. File contents pass through a SHA-256 straight from the
decompressed buffer, and the tar's metadata (extended headers, GNU long names, sparse maps) is
refused unread past the caps of :mod:`~regkit.analysis.tarscan`, so memory depends on
the number of entries, never on the size of the layer. Uncompressed bytes and entries are charged to
the image's :class:`~regkit.oci.budgets.Meter` as they are read, and a sparse file's holes at the size
they claim before its content is hashed, so a bomb is refused as soon as it passes a budget.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .._repr import HtmlRepr
from ..errors import BudgetExceeded, DigestMismatch, ManifestError, SizeMismatch, VerificationError
from ..http.client import Client
from ..http.exchange import Exchange
from ..http.transport import HttpResponse
from ..oci import mediatypes as mt
from ..oci.budgets import Budgets, Meter
from ..oci.digest import Digest, Verifier
from ..oci.manifest import Descriptor
from ..oci.reference import Reference
from ..steps.auth import Token
from ..steps.fetcher import Fetcher
from ..storage.cache import cached_blob, cached_chunks
from ..storage.interrupt import checkpoint
from ..storage.layerformat import corrupt_stream_errors, uncompressed
from .entries import DIGEST, FILE, KINDS, NUMBERS, Entries
from .tarscan import BadTar, TarReader

if TYPE_CHECKING:
    import pandas as pd

_CHUNK = 2 << 20  # what the tar reader asks for at a time
# Columns of every file listing (a layer's entries, or the merged tree where ``layer`` is the origin).
COLUMNS = ("path", "type", "size", "mode", "uid", "gid", "mtime", "link", "sha256", "layer")


def scan(tar: TarReader, meter: Meter | None = None) -> Entries:
    """Every member of a tar in columns, regular files with their content digest.

    Each member is charged to ``meter`` (default budgets when None) before it is read, a sparse file's holes included.
    """
    return tar.listing(meter or Meter())


@dataclass(frozen=True)
class LayerReport(HtmlRepr):
    """One layer, read once: its entries, uncompressed size and ``diff_id``.

    Attributes
    ----------
    index : int
        The layer's index, from 0 (the bottom one).
    descriptor : Descriptor
        The layer blob.
    uncompressed_size : int
        The bytes of its tar.
    diff_id : Digest
        The digest of its tar (the config's ``rootfs.diff_ids`` entry).
    entries : Entries
        Its tar entries, in order (a sequence of :class:`FileEntry`, stored in columns).
    created_by : str
        The build step that made it.
    exchanges : tuple of Exchange
        The exchanges that fetched it.
    """

    index: int
    descriptor: Descriptor
    uncompressed_size: int
    diff_id: Digest
    entries: Entries
    created_by: str = ""
    exchanges: tuple[Exchange, ...] = ()

    @property
    def compressed_size(self) -> int:
        """Bytes of the blob as stored in the registry (the manifest's size)."""
        return self.descriptor.size

    @property
    def compression(self) -> str:
        """``gzip``, ``zstd`` or ``tar``."""
        return mt.layer_compression(self.descriptor.media_type) or "unknown"

    @property
    def file_count(self) -> int:
        """Tar members of every type (what ``tar -t`` lists)."""
        return len(self.entries)

    @property
    def regular_files(self) -> int:
        """Regular files only."""
        return self.entries.count_of("file")

    @property
    def content_size(self) -> int:
        """Bytes of regular-file content (the tar also holds headers and padding)."""
        return self.entries.content_size()

    def summary(self) -> dict[str, object]:
        """The layer's sizes and step as JSON-ready values (entries left out).

        Returns
        -------
        dict
            Index, digest, media type, sizes, ``diff_id``, entry counts and ``created_by``.
        """
        return {
            "index": self.index,
            "digest": str(self.descriptor.digest),
            "media_type": self.descriptor.media_type,
            "compressed_size": self.compressed_size,
            "uncompressed_size": self.uncompressed_size,
            "diff_id": str(self.diff_id),
            "files": self.file_count,
            "regular_files": self.regular_files,
            "content_size": self.content_size,
            "created_by": self.created_by,
        }

    def rows(self) -> Iterator[tuple[object, ...]]:
        """The entries as file-listing rows (``COLUMNS``; ``layer`` is this layer's index).

        Returns
        -------
        iterator of tuple
            One row per entry, in tar order.
        """
        return ((*entry, self.index) for entry in self.entries)

    def frame(self) -> pd.DataFrame:
        """The entries as a DataFrame, made from the columns (numbers are not made into a Python int each).

        Returns
        -------
        pandas.DataFrame
            One row per entry (``COLUMNS``), in tar order.
        """
        import numpy as np
        import pandas as pd

        entries = self.entries
        count = len(entries)
        numbers = np.frombuffer(entries.numbers, np.int64).reshape(count, NUMBERS)
        kinds = pd.Categorical.from_codes(np.frombuffer(entries.kinds, np.uint8), KINDS)
        columns: dict[str, Any] = {"path": entries.path_list(), "type": kinds}
        for position, name in enumerate(("size", "mode", "uid", "gid", "mtime")):
            column = numbers[:, position]
            if entries.odd:  # numbers past 64 bits, or a fractional mtime: that column holds Python numbers
                column = column.astype(object)
                for index, values in entries.odd.items():
                    column[index] = values[position]
            columns[name] = column
        links = np.full(count, "", dtype=object)
        for index, link in entries.links.items():
            links[index] = link
        columns["link"] = links
        columns["sha256"] = _hex_digests(entries)
        columns["layer"] = np.full(count, self.index)
        return pd.DataFrame(columns)


def _hex_digests(entries: Entries) -> list[str]:
    """Each entry's SHA-256 in hex, empty for those without one."""
    digests = entries.digests
    return [
        digests[i * DIGEST : (i + 1) * DIGEST].hex() if kind == FILE else "" for i, kind in enumerate(entries.kinds)
    ]


def duplicates(layers: Sequence[LayerReport]) -> list[tuple[str, int, list[tuple[int, str]]]]:
    """Contents stored more than once across ``layers``: ``(sha256, size, [(layer, path), …])``, largest first.

    Grouped by digest with numpy over the digest columns: no Python object per file.
    """
    import numpy as np

    # Two passes over the layers, each loading a kept layer's columns and letting them go again: the
    # first 64 bits of every file's digest, then whole digests and paths for those that repeat.
    firsts, sizes, layer_of, ordinals = [], [], [], []
    for layer in layers:
        entries = layer.entries
        kinds = np.frombuffer(entries.kinds, np.uint8)
        layer_sizes = np.frombuffer(entries.sizes(), np.int64)
        chosen = np.flatnonzero((kinds == FILE) & (layer_sizes > 0))
        # Sorted as numbers, 64 bits take a tenth of the time and memory of whole digests.
        firsts.append(np.frombuffer(entries.digests, np.uint64)[chosen * (DIGEST // 8)])
        sizes.append(layer_sizes[chosen])
        layer_of.append(np.full(len(chosen), layer.index, np.int32))
        ordinals.append(chosen)
        entries.release()
    if not firsts:
        return []
    first = np.concatenate(firsts)
    by_first = np.argsort(first, kind="stable")
    same = first[by_first[1:]] == first[by_first[:-1]]
    shared = np.zeros(len(first), bool)
    shared[by_first[1:][same]] = shared[by_first[:-1][same]] = True
    candidates = np.flatnonzero(shared)  # in layer and tar order; only these need whole digests
    candidate_layers, candidate_ordinals = np.concatenate(layer_of)[candidates], np.concatenate(ordinals)[candidates]
    whole = np.empty((len(candidates), DIGEST // 8), np.uint64)
    paths: dict[tuple[int, int], str] = {}
    for layer in layers:
        here = candidate_layers == layer.index
        if not here.any():
            continue
        entries = layer.entries
        whole[here] = np.frombuffer(entries.digests, np.uint64).reshape(-1, DIGEST // 8)[candidate_ordinals[here]]
        paths.update(
            ((layer.index, ordinal), entries.path_at(ordinal)) for ordinal in candidate_ordinals[here].tolist()
        )
        entries.release()
    order = np.lexsort(whole.T[::-1])  # stable: equal digests stay in layer and tar order
    ordered = whole[order]
    starts = np.flatnonzero(np.concatenate(([True], np.any(ordered[1:] != ordered[:-1], axis=1))))
    counts = np.diff(np.append(starts, len(order)))
    starts, counts = starts[counts > 1], counts[counts > 1]
    # Every member of a repeated group, in one gather (numpy's cost is per call, not per element).
    members = order[np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))]
    origins_of: list[list[int]] = np.stack([candidate_layers[members], candidate_ordinals[members]], 1).tolist()
    group_sizes: list[int] = np.concatenate(sizes)[candidates[order[starts]]].tolist()
    hexes = ordered[starts].tobytes().hex()
    found: list[tuple[str, int, list[tuple[int, str]]]] = []
    position = 0
    for group, count in enumerate(counts.tolist()):
        group_origins = origins_of[position : position + count]
        places = [(layer, paths[layer, ordinal]) for layer, ordinal in group_origins]
        found.append((hexes[group * 2 * DIGEST : (group + 1) * 2 * DIGEST], group_sizes[group], places))
        position += count
    return sorted(found, key=lambda d: (-(len(d[2]) - 1) * d[1], d[2]))


def frame_of(rows: Iterator[tuple[object, ...]] | list[tuple[object, ...]]) -> pd.DataFrame:
    """A file-listing DataFrame from ``COLUMNS``-shaped rows (pandas is imported on use)."""
    import pandas as pd

    return pd.DataFrame.from_records(list(rows), columns=list(COLUMNS))


class _Body(io.RawIOBase):
    """The response body as a file, hashed and counted by ``verifier`` as it is read (if there is one)."""

    def __init__(self, chunks: Iterator[bytes], verifier: Verifier | None) -> None:
        self.chunks = chunks
        self.verifier = verifier
        self.pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self.pending:  # an empty chunk is not the end of the body
            chunk = next(self.chunks, None)
            if chunk is None:
                return 0
            if self.verifier is not None:
                self.verifier.update(chunk)
            self.pending = memoryview(chunk)
        count = min(len(buffer), len(self.pending))
        buffer[:count] = self.pending[:count]
        self.pending = self.pending[count:]
        return count


class TarStream:
    """The uncompressed tar as it is read: counted and hashed, for the size and the ``diff_id``."""

    def __init__(self, source: IO[bytes], algorithm: str, meter: Meter) -> None:
        self.source = source
        self.count = 0
        self.meter = meter
        self._hash = hashlib.new(algorithm)

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (a chunk at most: a budget and a pending signal are checked before more is read)."""
        checkpoint()  # every layer byte an analysis or export reads passes here
        data = self.source.read(_CHUNK if size < 0 else min(size, _CHUNK))
        self.count += len(data)
        self.meter.bytes(len(data))
        self._hash.update(data)
        return data

    def drain(self) -> None:
        """Read to the end: tar stops at its end marker, the layer may pad beyond it."""
        while self.read(_CHUNK):
            pass

    @property
    def digest(self) -> Digest:
        """The digest of what was read (the ``diff_id`` once drained)."""
        return Digest(self._hash.name, self._hash.hexdigest())


def _broken() -> tuple[type[Exception], ...]:
    """What a layer that is not a readable compressed tar raises (asked when raised: readers import on use)."""
    return (*corrupt_stream_errors(), BadTar)


@contextmanager
def open_layer(
    client: Client,
    ref: Reference,
    layer: Descriptor,
    token: Token,
    exchanges: list[Exchange],
    *,
    index: int,
    diff_id: Digest | None = None,
    meter: Meter | None = None,
    cache_dir: Path | None = None,
) -> Iterator[tuple[TarReader, TarStream]]:
    """The layer's tar, read as it downloads; on leaving, the rest is read and verified.

    Raises :class:`VerificationError` when the blob or the tar inside does not match its digest
    or is not a readable tar, :class:`BudgetExceeded` as soon as it passes a budget of ``meter``.
    """
    meter = (meter or Meter()).layer(f"layer {index} ({layer.digest})")
    compression = mt.layer_compression(layer.media_type)
    if compression is None:
        raise ManifestError(f"layer {index} has media type {layer.media_type}, which regkit cannot read")
    cached = cached_blob(layer, cache_dir)
    # A blob a pull put in the cache is read from there (and still hashed on the way), else streamed.
    response: HttpResponse | None = None
    if cached is None:
        fetcher = Fetcher(client, ref, token=token)
        try:
            response = fetcher.open_blob(layer)
        finally:
            exchanges.extend(fetcher.exchanges)
        chunks = response.iter_bytes()
    else:
        chunks = cached_chunks(cached, layer.size, _CHUNK)
    # A blob from the cache is used on the strength of its verification record (see storage/store.py),
    # as a pull uses it: hashing it again would cost a SHA-256 pass over the compressed layer.
    verifier = Verifier(layer.digest, layer.size, f"layer {index}") if cached is None else None
    body = _Body(chunks, verifier)
    tar: TarReader | None = None
    try:
        with uncompressed(io.BufferedReader(body, _CHUNK), compression) as plain:
            stream = TarStream(plain, diff_id.algorithm if diff_id else "sha256", meter)
            tar = TarReader(stream.read)
            yield tar, stream
            stream.drain()
        if verifier is not None:
            while body.read(_CHUNK):  # trailing bytes after the compressed stream still count for the digest
                pass
            verifier.check()
        if diff_id is not None and stream.digest != diff_id:
            raise DigestMismatch(
                f"layer {index} ({layer.digest}) uncompresses to {stream.digest}, not diff_id {diff_id}"
            )
    except (DigestMismatch, SizeMismatch, BudgetExceeded) as exc:
        exc.exchange = exc.exchange or (response.exchange if response else None)
        raise
    except _broken() as exc:
        where = ""
        if not isinstance(exc, BadTar):  # a reader may decompress ahead: the last entry listed, not the one broken
            where = f" (after entry {tar.last!r})" if tar is not None and tar.last else " (before its first entry)"
        raise VerificationError(
            f"layer {index} ({layer.digest}) is not a readable {compression} tar: {exc}{where}",
            exchange=response.exchange if response else None,
        ) from None
    finally:
        if response:
            response.close()


def read_layer(
    client: Client,
    ref: Reference,
    layer: Descriptor,
    token: Token,
    *,
    index: int = 0,
    diff_id: Digest | None = None,
    created_by: str = "",
    budgets: Budgets | None = None,
    meter: Meter | None = None,
    cache_dir: Path | None = None,
) -> LayerReport:
    """Stream one layer (or read it from the blob cache at ``cache_dir``) and list it: sizes, entries, exchanges.

    ``meter`` carries what the image has spent so far (a new one, with ``budgets``, when None).
    """
    exchanges: list[Exchange] = []
    meter = meter or Meter(budgets)
    opened = open_layer(
        client, ref, layer, token, exchanges, index=index, diff_id=diff_id, meter=meter, cache_dir=cache_dir
    )
    with opened as (tar, stream):
        entries = scan(tar, meter)
    return LayerReport(index, layer, stream.count, stream.digest, entries, created_by, tuple(exchanges))
