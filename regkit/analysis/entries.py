"""A layer's file table in columns: one name buffer with end offsets, numbers in one array, digests as bytes.

A :class:`~regkit.analysis.tarscan.FileEntry` per member costs about 450 bytes (a tuple, its path
string, its digest string, its ints); at 600,000 members that is most of an analysis' memory. Here
an entry costs its path's UTF-8 bytes plus 81 bytes: an 8-byte end offset, a 1-byte type code, five
8-byte numbers (size, mode, uid, gid, mtime) and a 32-byte SHA-256. Numbers that do not fit a signed
64-bit integer (a hostile base-256 field) or are not integers (a pax ``mtime`` with a fraction) and
link targets are rare, and kept in small side tables. :class:`Entries` is a sequence of ``FileEntry``
made on demand; the analysis reads its columns without making one.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, NamedTuple, overload

if TYPE_CHECKING:
    import numpy as np

KINDS = ("file", "dir", "symlink", "hardlink", "char", "block", "fifo", "other")
KIND_CODE = {kind: code for code, kind in enumerate(KINDS)}
FILE, DIR = KIND_CODE["file"], KIND_CODE["dir"]
NUMBERS = 5  # size, mode, uid, gid, mtime
DIGEST = 32  # a SHA-256; all zeros for an entry without content digest
NO_DIGEST = bytes(DIGEST)
_ODD = (1 << 63) - 1
_COLUMNS = (
    "digests",
    "ends",
    "kinds",
    "links",
    "numbers",
    "odd",
    "paths",
)  # the numbers of an entry whose real values are in ``odd``


class FileEntry(NamedTuple):
    """One tar member as listed (no content kept); ``path`` and ``link`` are hostile data, shown as written.

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


class Entries(Sequence[FileEntry]):
    """A layer's entries in tar order, stored in columns; indexing makes a :class:`FileEntry`.

    Parameters
    ----------
    paths : bytes or bytearray
        Every path's UTF-8 bytes (undecodable ones as written), one after another.
    ends : array
        Where each path ends in ``paths`` (``array('Q')``).
    kinds : bytes or bytearray
        Each entry's type, an index into :data:`KINDS`.
    numbers : array
        Size, mode, uid, gid and mtime of each entry, one after another (``array('q')``).
    digests : bytes or bytearray
        Each entry's 32-byte SHA-256 (zeros when it has none).
    links : dict, optional
        ``{index: link target}`` of the entries that have one.
    odd : dict, optional
        ``{index: (size, mode, uid, gid, mtime)}`` for numbers ``numbers`` cannot hold.
    """

    __slots__ = ("_load", "_stats", *_COLUMNS)

    def __init__(
        self,
        paths: bytes | bytearray,
        ends: array[int],
        kinds: bytes | bytearray,
        numbers: array[int],
        digests: bytes | bytearray,
        links: dict[int, str] | None = None,
        odd: dict[int, tuple[int | float, ...]] | None = None,
    ) -> None:
        self.paths = paths
        self.ends = ends
        self.kinds = kinds
        self.numbers = numbers
        self.digests = digests
        self.links = links or {}
        self.odd = odd or {}
        self._load: Callable[[], Entries] | None = None
        self._stats = (0, 0, 0)

    @classmethod
    def kept(cls, load: Callable[[], Entries], count: int, files: int, content: int) -> Entries:
        """Entries read by ``load`` when first needed; their count, regular files and content bytes known before.

        Parameters
        ----------
        load : callable
            Returns the entries (from where they are kept).
        count, files, content : int
            How many entries, how many regular files, and their content bytes.

        Returns
        -------
        Entries
            Entries whose columns are loaded on first use.
        """
        entries = cls.__new__(cls)
        entries._load = load
        entries._stats = (count, files, content)
        return entries

    def __getattr__(self, name: str) -> object:
        # Only called for a slot not set yet: the columns of kept entries, loaded now.
        if name not in _COLUMNS or self._load is None:
            raise AttributeError(name)
        loaded = self._load()
        for column in _COLUMNS:
            setattr(self, column, getattr(loaded, column))
        return getattr(self, name)

    def release(self) -> None:
        """Let go of the columns of kept entries (loaded again when next needed); nothing for other entries."""
        if self._load is None:
            return
        for column in _COLUMNS:
            with suppress(AttributeError):  # not loaded
                delattr(self, column)

    def __len__(self) -> int:
        return self._stats[0] if self._load is not None else len(self.ends)

    @overload
    def __getitem__(self, index: int) -> FileEntry: ...

    @overload
    def __getitem__(self, index: slice) -> list[FileEntry]: ...

    def __getitem__(self, index: int | slice) -> FileEntry | list[FileEntry]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("entry index out of range")
        return self._entry(index, self.path_at(index))

    def path_at(self, index: int) -> str:
        """The path of entry ``index`` (from 0), without making the whole entry."""
        start = self.ends[index - 1] if index else 0
        return self.paths[start : self.ends[index]].decode("utf-8", "surrogateescape")

    def __iter__(self) -> Iterator[FileEntry]:
        entry = self._entry
        for index, path in enumerate(self.path_list()):
            yield entry(index, path)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Entries):
            return self.columns() == other.columns()
        if isinstance(other, Sequence):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable columns, like a list

    def __repr__(self) -> str:
        return f"<Entries: {len(self)} entries>"

    def _entry(self, index: int, path: str) -> FileEntry:
        kind = self.kinds[index]
        size, mode, uid, gid, mtime = self.numbers_of(index)
        digest = self.digests[index * DIGEST : (index + 1) * DIGEST]
        sha256 = digest.hex() if kind == FILE and digest != NO_DIGEST else ""
        return FileEntry(path, KINDS[kind], size, mode, uid, gid, mtime, self.links.get(index, ""), sha256)  # type: ignore[arg-type]

    def numbers_of(self, index: int) -> tuple[int | float, ...]:
        """Size, mode, uid, gid and mtime of entry ``index``."""
        values = self.numbers[index * NUMBERS : (index + 1) * NUMBERS]
        return self.odd[index] if values[0] == _ODD and index in self.odd else tuple(values)

    def path_list(self) -> list[str]:
        """Every path as a string, in order (decoded at once when they are all ASCII, the usual case)."""
        ends, paths = self.ends, self.paths
        if paths.isascii():
            text = paths.decode("ascii")
            return [text[start:end] for start, end in zip((0, *ends), ends)]  # noqa: B905 (one longer on purpose)
        return [bytes(paths[start:end]).decode("utf-8", "surrogateescape") for start, end in zip((0, *ends), ends)]  # noqa: B905

    def sizes(self) -> array[int]:
        """Each entry's content size (0 for anything but a regular file)."""
        sizes = self.numbers[0::NUMBERS]
        for index, values in self.odd.items():
            # Only a regular file has a size, and one past 64 bits never gets here: its content would
            # pass the byte budget first. The side table is for mode, owner and time.
            sizes[index] = int(values[0])
        return sizes

    def count_of(self, kind: str) -> int:
        """How many entries are of ``kind`` (``file``, ``dir``, …)."""
        if kind == "file" and self._load is not None:
            return self._stats[1]
        return self.kinds.count(KIND_CODE[kind])

    def content_size(self) -> int:
        """Bytes of regular-file content, added up."""
        return self._stats[2] if self._load is not None else sum(self.sizes())

    def columns(self) -> tuple[bytes, bytes, bytes, bytes, bytes, dict[int, str], dict[int, tuple[int | float, ...]]]:
        """The columns as bytes and side tables, for storing (see :func:`from_columns`)."""
        return (
            bytes(self.paths),
            self.ends.tobytes(),
            bytes(self.kinds),
            self.numbers.tobytes(),
            bytes(self.digests),
            self.links,
            self.odd,
        )


def from_columns(
    paths: bytes, ends: bytes, kinds: bytes, numbers: bytes, digests: bytes, links: dict[int, str], odd: dict
) -> Entries:
    """Entries from what :meth:`Entries.columns` gave; ValueError when the columns do not agree."""
    ends_array, numbers_array = array("Q"), array("q")
    ends_array.frombytes(ends)
    numbers_array.frombytes(numbers)
    count = len(ends_array)
    if (
        len(kinds) != count
        or len(numbers_array) != count * NUMBERS
        or len(digests) != count * DIGEST
        or (count and ends_array[-1] != len(paths))
        or any(code >= len(KINDS) for code in set(kinds))
    ):
        raise ValueError("the columns of a listing do not agree")
    return Entries(paths, ends_array, kinds, numbers_array, digests, links, odd)


class Builder:
    """Entries appended one at a time (by the tar scanner), then :meth:`done`."""

    __slots__ = ("digests", "ends", "kinds", "links", "numbers", "odd", "paths")

    def __init__(self) -> None:
        self.paths = bytearray()
        self.ends: array[int] = array("Q")
        self.kinds = bytearray()
        self.numbers: array[int] = array("q")
        self.digests = bytearray()
        self.links: dict[int, str] = {}
        self.odd: dict[int, tuple[int | float, ...]] = {}

    def add_entry(self, entry: FileEntry) -> None:
        """One :class:`FileEntry` (the general reader's)."""
        digest = bytes.fromhex(entry.sha256) if entry.sha256 else NO_DIGEST
        path = entry.path.encode("utf-8", "surrogateescape")
        numbers = (entry.size, entry.mode, entry.uid, entry.gid, entry.mtime)
        self.add(path, KIND_CODE[entry.type], *numbers, link=entry.link, digest=digest)

    def add(
        self,
        path: bytes,
        kind: int,
        size: int,
        mode: int,
        uid: int,
        gid: int,
        mtime: int | float,
        link: str = "",
        digest: bytes = NO_DIGEST,
    ) -> None:
        """One entry: its path's bytes, its :data:`KINDS` code, numbers, link target and binary digest."""
        index = len(self.kinds)
        self.paths += path
        self.ends.append(len(self.paths))
        self.kinds.append(kind)
        try:
            self.numbers.extend((size, mode, uid, gid, mtime))  # type: ignore[arg-type]  # a float: TypeError
        except (OverflowError, TypeError):  # a float mtime or a number past 64 bits: rare, kept aside
            del self.numbers[index * NUMBERS :]
            self.numbers.extend((_ODD, 0, 0, 0, 0))
            self.odd[index] = (size, mode, uid, gid, mtime)
        self.digests += digest
        if link:
            self.links[index] = link

    def extend(
        self,
        paths: bytes,
        lengths: list[int],
        kinds: bytes,
        numbers: np.ndarray,
        digests: bytes,
        links: dict[int, str],
    ) -> None:
        """Many entries at once: their paths one after another with each one's length, their codes,
        numbers (``(count, 5)`` 64-bit integers), digests, and link targets by position among them."""
        import numpy as np

        base = len(self.kinds)
        self.ends.frombytes((np.cumsum(lengths, dtype=np.uint64) + len(self.paths)).tobytes())
        self.paths += paths
        self.kinds += kinds
        self.numbers.frombytes(np.ascontiguousarray(numbers, np.int64).tobytes())
        self.digests += digests
        for index, link in links.items():
            self.links[base + index] = link

    def done(self) -> Entries:
        """The entries added so far."""
        return Entries(self.paths, self.ends, self.kinds, self.numbers, self.digests, self.links, self.odd)


def as_entries(entries: Sequence[FileEntry]) -> Entries:
    """``entries`` in columns (itself when it is :class:`Entries` already)."""
    if isinstance(entries, Entries):
        return entries
    built = Builder()
    for entry in entries:
        built.add_entry(entry)
    return built.done()
