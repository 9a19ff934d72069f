"""One layer read as it streams: decompressed, walked as a tar and listed, never held or written.

The compressed body arrives in chunks and is checked against the layer's digest on the way; the
tar inside (gzip, zstd or plain) is read forward only by ``tarfile`` in stream mode (``r|``) and
checked against the config's ``diff_id``. File contents pass through a SHA-256 and are dropped,
and the tar's metadata (extended headers, GNU long names, sparse maps) is refused unread past
``MAX_EXTENDED_HEADER`` bytes a piece and ``MAX_LAYER_METADATA`` bytes a layer, so memory depends on
the number of entries, never on the size of the layer. Uncompressed bytes and entries are charged to
the image's :class:`~regkit.oci.budgets.Meter` as they are read, and a sparse file's holes at the size
they claim before its content is hashed, so a bomb is refused as soon as it passes a budget.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, NamedTuple

import zstandard

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
from ..steps.blobs import follow_blob
from ..storage.cache import cached_blob, cached_chunks
from ..storage.interrupt import checkpoint
from ..storage.layerformat import uncompressed

if TYPE_CHECKING:
    import pandas as pd

_CHUNK = 1 << 20
# tarfile's stream mode slices off the rest of its buffer on every read, so each 512-byte header
# copies the buffer: with a MiB buffer, a million empty files cost minutes of memcpy.
_TAR_BUFFER = 32 << 10
# Modes (permission bits) and the usual uids and gids, one int object each for every entry that has them.
_SMALL = tuple(range(1 << 12))
_KINDS = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.CONTTYPE: "file",
    tarfile.GNUTYPE_SPARSE: "file",  # an old GNU sparse file: a regular file with holes
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block",
    tarfile.FIFOTYPE: "fifo",
}
# tarfile reads a pax extended header or a GNU long-name/long-link header whole into one bytes
# object, whatever size it declares: a 300 MiB pax header gzips to a few hundred KB. Real ones hold
# a path, a link target or a few xattrs (Linux caps an xattr value at 64 KiB), far below this.
MAX_EXTENDED_HEADER = 1 << 20
# Pieces under that cap still add up: every long path stays in the listing, a chain of extended
# headers keeps each buffer until the member it describes, global pax headers last for the whole
# layer. Real layers carry at most a few MiB of such metadata (long paths, a few xattrs); a hostile
# one must not make regkit allocate more than a bounded amount however large it is, so every
# extended header and sparse map of a layer is charged to this one budget before it is read.
MAX_LAYER_METADATA = 64 << 20
# tarfile copies the global pax headers into every later member, so their cost multiplies by the
# number of entries; real tars carry at most a comment there (git archive's commit id).
MAX_GLOBAL_HEADERS = 64 << 10
_EXTENDED = {
    tarfile.XHDTYPE: "pax extended",
    tarfile.XGLTYPE: "pax global",
    tarfile.SOLARIS_XHDTYPE: "Solaris extended",
    tarfile.GNUTYPE_LONGNAME: "GNU long-name",
    tarfile.GNUTYPE_LONGLINK: "GNU long-link",
}
# Columns of every file listing (a layer's entries, or the merged tree where ``layer`` is the origin).
COLUMNS = ("path", "type", "size", "mode", "uid", "gid", "mtime", "link", "sha256", "layer")
# tarfile reads a chain of extended headers recursively: a few hundred in a row exhaust the stack.
_BROKEN = (EOFError, zlib.error, gzip.BadGzipFile, zstandard.ZstdError, tarfile.TarError, RecursionError)


class FileEntry(NamedTuple):
    """One entry of a layer's tar, as listed (no content kept).

    Attributes
    ----------
    path : str
        The normalised path.
    type : str
        ``file``, ``dir``, ``symlink``, ``hardlink``, ``char``, ``block``, ``fifo`` or ``other``.
    size : int
        The content's size in bytes.
    mode, uid, gid : int
        Permissions and owner.
    mtime : float
        Modification time (seconds since the epoch).
    link : str
        A link's target, else empty.
    sha256 : str
        The SHA-256 of a regular file's content, else empty.
    """

    path: str
    type: str  # file, dir, symlink, hardlink, char, block, fifo, other
    size: int
    mode: int
    uid: int
    gid: int
    mtime: float
    link: str
    sha256: str  # of a regular file's content, else ""


class BoundedTarInfo(tarfile.TarInfo):
    """A tar header whose metadata is admitted before tarfile reads it, or refused with the layer.

    Each extended header (pax, Solaris, GNU long name or link) and each member's sparse map may
    take ``MAX_EXTENDED_HEADER`` bytes, and all of a layer's together ``MAX_LAYER_METADATA`` bytes,
    counted on the :class:`BoundedTarFile` being read. The :class:`tarfile.HeaderError` passes
    through ``TarFile.next`` unchanged (or as a ``ReadError`` when it is the header after another
    extended one), both ``TarError``.
    """

    def _admit(self, archive: tarfile.TarFile, kind: str, size: int, new: int) -> None:
        """Let ``size`` bytes of ``kind`` be read, ``new`` of them not yet charged to the layer."""
        if not isinstance(archive, BoundedTarFile):
            raise TypeError("a BoundedTarInfo is read by a BoundedTarFile, which keeps the layer's budget")
        archive.metadata += new
        if size > MAX_EXTENDED_HEADER:
            limit = f"more than {MAX_EXTENDED_HEADER} bytes"
        elif archive.metadata > MAX_LAYER_METADATA:
            limit = f"the layer's headers and sparse maps pass {MAX_LAYER_METADATA} bytes"
        else:
            return
        raise tarfile.HeaderError(f"{kind} of {size} bytes at offset {self.offset}: refused, {limit}")

    def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
        kind = _EXTENDED.get(self.type)
        if kind is not None:
            self._admit(archive, f"{kind} header", self.size, self.size)
        if self.type == tarfile.XGLTYPE and isinstance(archive, BoundedTarFile):
            archive.global_headers += self.size
            if archive.global_headers > MAX_GLOBAL_HEADERS:
                raise tarfile.HeaderError(
                    f"pax global headers pass {MAX_GLOBAL_HEADERS} bytes at offset {self.offset}: refused, "
                    "each later entry would copy them"
                )
        return super()._proc_member(archive)  # type: ignore[misc,no-any-return]

    def _sparse_map(self, archive: tarfile.TarFile) -> Iterator[bytes]:
        """The blocks of this member's sparse map, each admitted before it is read."""
        size = 0
        while True:
            size += tarfile.BLOCKSIZE
            self._admit(archive, "GNU sparse map", size, tarfile.BLOCKSIZE)
            block = archive.fileobj.read(tarfile.BLOCKSIZE)
            if len(block) < tarfile.BLOCKSIZE:
                raise tarfile.HeaderError(f"GNU sparse map at offset {self.offset}: truncated")
            yield block

    def _proc_sparse(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
        """An old GNU sparse member: tarfile's own reading, its extension blocks read by :meth:`_sparse_map`.

        The header holds 4 regions, each extension block 21 more and a flag saying whether another
        follows; tarfile alone reads them for as long as the flag is set.
        """
        regions, more, size = self._sparse_structs  # type: ignore[attr-defined]
        del self._sparse_structs  # type: ignore[attr-defined]
        number = tarfile.nti  # type: ignore[attr-defined]
        blocks = self._sparse_map(archive)
        while more:
            block = next(blocks)
            for pos in range(0, 21 * 24, 24):
                try:
                    offset, length = number(block[pos : pos + 12]), number(block[pos + 12 : pos + 24])
                except ValueError:
                    break
                if offset and length:
                    regions.append((offset, length))
            more = bool(block[504])
        self.sparse = regions
        self.offset_data = archive.fileobj.tell()
        archive.offset = self.offset_data + self._block(self.size)  # type: ignore[attr-defined]
        self.size = size
        return self

    def _proc_gnusparse_10(self, member: tarfile.TarInfo, pax_headers: object, archive: tarfile.TarFile) -> None:
        """A pax 1.0 sparse map: tarfile's own parsing, the blocks read by :meth:`_sparse_map`.

        The map is lines at the start of the member's data: the number of regions, then each one's
        offset and length; tarfile alone reads as many lines as the first one says, however long.
        """
        text = bytearray()
        lines, wanted = 0, 1  # the number of regions, then an offset and a length for each
        blocks = self._sparse_map(archive)
        while lines < wanted:
            block = next(blocks)
            text += block
            lines += block.count(b"\n")
            if lines:
                wanted = 1 + 2 * self._sparse_number(text[: text.index(b"\n")])
        numbers = [self._sparse_number(line) for line in text.split(b"\n")[1:wanted]]
        member.offset_data = archive.fileobj.tell()
        member.sparse = list(zip(numbers[::2], numbers[1::2], strict=True))  # type: ignore[assignment]

    def _sparse_number(self, line: bytearray) -> int:
        """A line of a pax 1.0 sparse map: a decimal of at most 20 digits, as 64-bit offsets and lengths are."""
        if not (line.isdigit() and len(line) <= 20):
            raise tarfile.HeaderError(f"GNU sparse map at offset {self.offset}: {bytes(line[:24])!r} is not a number")
        return int(line)


class BoundedTarFile(tarfile.TarFile):
    """A tar read with :class:`BoundedTarInfo` headers, counting the layer's metadata against its budget."""

    tarinfo = BoundedTarInfo
    metadata = 0  # bytes charged so far (a class default: TarFile.__init__ already reads the first header)
    global_headers = 0  # bytes of pax global headers so far


def tidy(name: str) -> str:
    """A member name without ``./`` prefixes or a trailing slash; absolute paths and ``..`` stay visible."""
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/") or ("/" if name.startswith("/") else ".")


def _shared(number: int) -> int:
    """One object for each common mode, uid and gid: CPython caches only the ints up to 256."""
    return _SMALL[number] if 0 <= number < len(_SMALL) else number


def entry_of(info: tarfile.TarInfo, sha256: str = "") -> FileEntry:
    """The listing of one tar member; link targets, digests and small numbers are shared: entries repeat them."""
    kind = _KINDS.get(info.type, "other")
    size = info.size if kind == "file" else 0
    link, digest = sys.intern(info.linkname), sys.intern(sha256)
    mode, uid, gid = _shared(info.mode), _shared(info.uid), _shared(info.gid)
    return FileEntry(tidy(info.name), kind, size, mode, uid, gid, info.mtime, link, digest)


def members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """Members in stream order; tarfile keeps each for random access, which a stream cannot use: drop them."""
    while (info := tar.next()) is not None:
        tar.members.clear()  # type: ignore[attr-defined]
        yield info


def content_digest(tar: tarfile.TarFile, info: tarfile.TarInfo) -> str:
    """SHA-256 of the current member's content, read in chunks."""
    handle = tar.extractfile(info)
    digest = hashlib.sha256()
    if handle is not None:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def regions(info: tarfile.TarInfo) -> list[tuple[int, int]]:
    """The ``(offset, length)`` pieces of a member's content its tar holds: all of it unless sparse."""
    if info.issparse():
        return list(info.sparse or ())  # type: ignore[arg-type]  # typeshed types it loosely
    return [(0, info.size)]


def holes(info: tarfile.TarInfo) -> int:
    """Bytes of a member's content that its tar does not hold: the size a sparse file's holes claim."""
    return max(0, info.size - sum(length for _, length in regions(info)))


def scan(tar: tarfile.TarFile, meter: Meter | None = None) -> Iterator[FileEntry]:
    """Every member of a tar opened in stream mode, regular files with their content digest.

    Each member is charged to ``meter`` (default budgets when None) before it is read, a sparse file's holes included.
    """
    meter = meter or Meter()
    for info in members(tar):
        meter.entries()
        meter.bytes(holes(info))
        yield entry_of(info, content_digest(tar, info) if info.isreg() else "")


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
    entries : tuple of FileEntry
        Its tar entries, in order.
    created_by : str
        The build step that made it.
    exchanges : tuple of Exchange
        The exchanges that fetched it.
    """

    index: int
    descriptor: Descriptor
    uncompressed_size: int
    diff_id: Digest
    entries: tuple[FileEntry, ...]
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
        return sum(1 for e in self.entries if e.type == "file")

    @property
    def content_size(self) -> int:
        """Bytes of regular-file content (the tar also holds headers and padding)."""
        return sum(e.size for e in self.entries)

    def summary(self) -> dict[str, object]:
        """The layer's sizes and step as JSON-ready values (entries left out)."""
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
        """The entries as file-listing rows (``COLUMNS``; ``layer`` is this layer's index)."""
        return ((*entry, self.index) for entry in self.entries)

    def frame(self) -> pd.DataFrame:
        """The entries as a DataFrame."""
        return frame_of(self.rows())


def frame_of(rows: Iterator[tuple[object, ...]] | list[tuple[object, ...]]) -> pd.DataFrame:
    """A file-listing DataFrame from ``COLUMNS``-shaped rows (pandas is imported on use)."""
    import pandas as pd

    return pd.DataFrame.from_records(list(rows), columns=list(COLUMNS))


class _Body(io.RawIOBase):
    """The response body as a file, hashed and counted by ``verifier`` as it is read."""

    def __init__(self, chunks: Iterator[bytes], verifier: Verifier) -> None:
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
) -> Iterator[tuple[tarfile.TarFile, TarStream]]:
    """The layer's tar in stream mode, read as it downloads; on leaving, the rest is read and verified.

    Raises :class:`VerificationError` when the blob or the tar inside does not match its digest
    or is not a readable tar, :class:`BudgetExceeded` as soon as it passes a budget of ``meter``.
    """
    meter = (meter or Meter()).layer(f"layer {index} ({layer.digest})")
    compression = mt.layer_compression(layer.media_type)
    if compression is None:
        raise ManifestError(f"layer {index} has media type {layer.media_type}, which regkit cannot read")
    cached = cached_blob(layer)
    # A blob a pull put in the cache is read from there (and still hashed on the way), else streamed.
    response: HttpResponse | None = None
    if cached is None:
        response = follow_blob(client, ref, layer, token, exchanges)
        chunks = response.iter_bytes()
    else:
        chunks = cached_chunks(cached, layer.size, _CHUNK)
    body = _Body(chunks, Verifier(layer.digest, layer.size, f"layer {index}"))
    try:
        with uncompressed(io.BufferedReader(body, _CHUNK), compression) as plain:
            stream = TarStream(plain, diff_id.algorithm if diff_id else "sha256", meter)
            with BoundedTarFile.open(fileobj=stream, mode="r|", bufsize=_TAR_BUFFER) as tar:  # type: ignore[call-overload]
                yield tar, stream
            stream.drain()
        while body.read(_CHUNK):  # trailing bytes after the compressed stream still count for the digest
            pass
        body.verifier.check()
        if diff_id is not None and stream.digest != diff_id:
            raise DigestMismatch(
                f"layer {index} ({layer.digest}) uncompresses to {stream.digest}, not diff_id {diff_id}"
            )
    except (DigestMismatch, SizeMismatch, BudgetExceeded) as exc:
        exc.exchange = exc.exchange or (response.exchange if response else None)
        raise
    except _BROKEN as exc:
        raise VerificationError(
            f"layer {index} ({layer.digest}) is not a readable {compression} tar: {exc}",
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
) -> LayerReport:
    """Stream one layer and list it: sizes, entries (with content digests), exchanges.

    ``meter`` carries what the image has spent so far (a new one, with ``budgets``, when None).
    """
    exchanges: list[Exchange] = []
    meter = meter or Meter(budgets)
    with open_layer(client, ref, layer, token, exchanges, index=index, diff_id=diff_id, meter=meter) as (tar, stream):
        entries = tuple(scan(tar, meter))
    return LayerReport(index, layer, stream.count, stream.digest, entries, created_by, tuple(exchanges))
