"""A forward-only tar reader over a decompressed layer: headers parsed in place, file data never copied.

It reads what ``tarfile`` reads, the way ``tarfile`` reads it (ustar, GNU long names and links,
old GNU and pax 0.0/0.1/1.0 sparse maps, pax extended and global headers, with the same
precedence when they chain), but over one buffer of decompressed bytes: a header is parsed where it
lies, a file's content is handed out as memoryviews of that buffer (for a digest or a write) and
skipped when nobody asks. Where ``tarfile`` quietly ends the archive at a damaged header (a bad
checksum or a truncated header after the first), or takes a pax record whose length lies, this
reader refuses the layer instead, naming the entry and its offset: a damaged layer is not a short one.

Metadata is admitted before it is read: an extended header or a sparse map may take
``MAX_EXTENDED_HEADER`` bytes, all of a layer's ``MAX_LAYER_METADATA``, pax global headers
``MAX_GLOBAL_HEADERS``, and at most ``MAX_CHAIN`` extended headers may precede one member.
"""

from __future__ import annotations

import hashlib
import re
import struct
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..oci.budgets import Meter
from .entries import KIND_CODE, NO_DIGEST, Builder, Entries, FileEntry
from .tarbatch import MIN_RUN, plain_run

BLOCK = 512
_CHUNK = 2 << 20  # decompressed bytes a read: runs of plain headers are parsed a buffer at a time
# tarfile reads a pax extended header or a GNU long-name/long-link header whole into one bytes
# object, whatever size it declares: a 300 MiB pax header gzips to a few hundred KB. Real ones hold
# a path, a link target or a few xattrs (Linux caps an xattr value at 64 KiB), far below this.
MAX_EXTENDED_HEADER = 1 << 20
# Pieces under that cap still add up: every long path stays in the listing, global pax headers last
# for the whole layer. Real layers carry at most a few MiB of such metadata (long paths, a few
# xattrs); every extended header and sparse map of a layer is charged to this one budget before it is read.
MAX_LAYER_METADATA = 64 << 20
# Global pax headers apply to every later entry, so their cost multiplies by the number of entries;
# real tars carry at most a comment there (git archive's commit id).
MAX_GLOBAL_HEADERS = 64 << 10
# Real tars put at most a long name, a long link and a pax header before a member.
MAX_CHAIN = 32

_HEADER = struct.Struct("100s8s8s8s12s12s8xc100s88x155s")  # name … prefix (uname to devminor unused)
_EXTENDED = {
    b"x": "pax extended",
    b"g": "pax global",
    b"X": "Solaris extended",
    b"L": "GNU long-name",
    b"K": "GNU long-link",
}
_REGULAR = frozenset((b"0", b"\0", b"7", b"S"))
_SUPPORTED = _REGULAR | frozenset((b"1", b"2", b"3", b"4", b"5", b"6", b"L", b"K"))
_GNU = frozenset((b"L", b"K", b"S"))
_PLAIN = _SUPPORTED - _GNU  # the types a member header describes on its own
_NUMBERS_CACHED = 1 << 14
_UNTIDY = ("", "/")
_UNTIDY_BYTES = (b"", b"/")
KINDS = {
    b"0": "file",
    b"\0": "file",
    b"7": "file",
    b"S": "file",  # an old GNU sparse file: a regular file with holes
    b"5": "dir",
    b"2": "symlink",
    b"1": "hardlink",
    b"3": "char",
    b"4": "block",
    b"6": "fifo",
}
_PAX_RECORD = re.compile(rb"(\d+) ([^=]+)=")
_SPARSE_00 = (re.compile(rb"\d+ GNU.sparse.offset=(\d+)\n"), re.compile(rb"\d+ GNU.sparse.numbytes=(\d+)\n"))
_PAX_NUMBERS: dict[str, Callable[[str], float]] = {"mtime": float, "uid": int, "gid": int, "size": int}
_KIND_CODES = {raw: KIND_CODE[name] for raw, name in KINDS.items()}
_KIND_TABLE = bytes(_KIND_CODES.get(bytes((byte,)), KIND_CODE["other"]) for byte in range(256))  # typeflag -> code
_ZEROS = bytes(_CHUNK)
_ZERO_BLOCK = bytes(BLOCK)
_SPACES = b" " * 8


def tidy(name: str) -> str:
    """A member name without ``./`` prefixes or a trailing slash; absolute paths and ``..`` stay visible."""
    if name[-1:] not in _UNTIDY and name[:2] != "./":
        return name  # the usual name: nothing to take off
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/") or ("/" if name.startswith("/") else ".")


class BadTar(ValueError):
    """The tar is malformed or over a metadata cap; the message names the entry and the offset."""


@dataclass(slots=True)
class Member:
    """One tar member as ``tarfile`` would list it: names as written (hostile), sizes as claimed."""

    name: str
    type: bytes
    size: int  # the content's size (a sparse file's with its holes)
    mode: int
    uid: int
    gid: int
    mtime: float
    link: str
    offset: int  # of its first header (extended ones included)
    data: int  # stream offset of its stored content
    sparse: list[tuple[int, int]] | None = field(default=None)

    @property
    def kind(self) -> str:
        """file, dir, symlink, hardlink, char, block, fifo or other."""
        return KINDS.get(self.type, "other")

    def isreg(self) -> bool:
        """A regular file (one whose content the tar holds)."""
        return self.type in _REGULAR

    def regions(self) -> list[tuple[int, int]]:
        """The ``(offset, length)`` pieces of its content the tar holds: all of it unless sparse."""
        return [(0, self.size)] if self.sparse is None else list(self.sparse)

    def holes(self) -> int:
        """Bytes of its content the tar does not hold: the size a sparse file's holes claim."""
        return 0 if self.sparse is None else max(0, self.size - sum(length for _, length in self.sparse))


def entry_of(member: Member, sha256: str = "") -> FileEntry:
    """The listing of one tar member; links and digests are shared (entries repeat them, and numbers: see TarReader)."""
    kind = KINDS.get(member.type, "other")
    link = sys.intern(member.link) if member.link else ""
    size = member.size if kind == "file" else 0
    digest = sys.intern(sha256)
    return FileEntry(tidy(member.name), kind, size, member.mode, member.uid, member.gid, member.mtime, link, digest)


def _text(raw: bytes) -> str:
    """A NUL-terminated field as tarfile decodes it (UTF-8, undecodable bytes kept as surrogates)."""
    end = raw.find(0)
    return (raw if end < 0 else raw[:end]).decode("utf-8", "surrogateescape")


def _number(raw: bytes) -> int:
    """A numeric header field: octal text, or GNU base-256 when the first byte says so."""
    try:
        return int(raw.split(b"\0", 1)[0], 8)  # the usual field: digits, maybe spaces, then a NUL
    except ValueError:
        pass
    if raw[0] in (0o200, 0o377):
        value = int.from_bytes(raw[1:], "big")
        return value - 256 ** (len(raw) - 1) if raw[0] == 0o377 else value
    end = raw.find(0)
    text = (raw if end < 0 else raw[:end]).strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise BadTar(f"invalid number field {raw!r}") from None


def _block(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def _checksum_ok(header: bytes) -> bool:
    """tarfile's test: the unsigned or signed sum of the header, its checksum field counted as spaces."""
    try:
        claimed = _number(header[148:156])
    except BadTar:
        return False
    if header.isascii():  # every byte below 128: the sum is under 65521, so Adler-32's low half is it plus 1
        return claimed == (zlib.adler32(header[156:], zlib.adler32(_SPACES, zlib.adler32(header[:148]))) & 0xFFFF) - 1
    rest = header[:148] + header[156:]
    unsigned = 256 + sum(rest)
    return claimed in (unsigned, unsigned - 256 * sum(1 for byte in rest if byte >= 128))


class TarReader:
    """The members of one tar stream, in order; ``read`` gives the next decompressed bytes (empty at the end).

    Iterate it for :class:`Member` objects; while one is current, :meth:`content` hands out its
    content, else it is skipped when the next is asked for.
    """

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self._data = b""
        self._view = memoryview(b"")
        self._pos = 0
        self._base = 0  # stream offset of _data[0]
        self.metadata = 0  # bytes of extended headers and sparse maps charged so far
        self.global_headers = 0
        self._global: dict[str, str] = {}
        # Modes, owners and times repeat across a layer: each raw field is parsed once, one int object shared.
        self._numbers: dict[bytes, int] = {}
        self.last = ""  # the last member's name, for errors about what follows it

    @property
    def offset(self) -> int:
        """Stream offset of the next byte to read."""
        return self._base + self._pos

    def _fill(self, size: int) -> bool:
        """Make ``size`` bytes available at the position; False at the end of the stream with fewer."""
        while len(self._data) - self._pos < size:
            chunk = self._read(_CHUNK)
            if not chunk:
                return False
            rest = self._data[self._pos :]
            self._base += self._pos
            self._data = rest + chunk if rest else chunk
            self._view = memoryview(self._data)
            self._pos = 0
        return True

    def _take(self, size: int, what: str) -> bytes:
        """``size`` bytes as one object (for metadata only, admitted beforehand)."""
        if not self._fill(size):
            raise BadTar(f"the layer ends inside {what} at offset {self.offset}")
        data = self._data[self._pos : self._pos + size]
        self._pos += size
        return data

    def _pieces(self, size: int, what: str) -> Iterator[memoryview]:
        """The next ``size`` bytes as views of the buffer, not copied."""
        while size > 0:
            if self._pos >= len(self._data):
                self._data = self._read(_CHUNK)
                self._base += self._pos
                self._view = memoryview(self._data)
                self._pos = 0
                if not self._data:
                    raise BadTar(f"the layer ends inside {what} ({size} bytes missing)")
            count = min(size, len(self._data) - self._pos)
            yield self._view[self._pos : self._pos + count]
            self._pos += count
            size -= count

    def _skip_to(self, offset: int, what: str) -> None:
        gap = offset - self._base
        if self._pos <= gap <= len(self._data):  # the usual case: within the buffer
            self._pos = gap
            return
        if offset < self.offset:
            raise BadTar(f"{what} claims more data than it has room for")
        for _ in self._pieces(offset - self.offset, what):
            pass

    def _number(self, raw: bytes) -> int:
        """A numeric field through the layer's cache of the repeating ones (bounded: a hostile tar varies them)."""
        value = _number(raw)
        if len(self._numbers) < _NUMBERS_CACHED:
            self._numbers[raw] = value
        return value

    def _admit(self, kind: str, size: int, new: int, offset: int) -> None:
        """Let ``size`` bytes of ``kind`` be read, ``new`` of them not yet charged to the layer."""
        self.metadata += new
        if size > MAX_EXTENDED_HEADER:
            limit = f"more than {MAX_EXTENDED_HEADER} bytes"
        elif self.metadata > MAX_LAYER_METADATA:
            limit = f"the layer's headers and sparse maps pass {MAX_LAYER_METADATA} bytes"
        else:
            return
        raise BadTar(f"{kind} of {size} bytes at offset {offset}: refused, {limit}")

    def __iter__(self) -> Iterator[Member]:
        next_header = 0
        while True:
            self._skip_to(next_header, f"entry {self.last!r}")
            member, next_header = self._member()
            if member is None:
                return
            self.last = member.name
            yield member

    def listing(self, meter: Meter) -> Entries:
        """Every member in columns, regular files with the SHA-256 of their content, each charged to ``meter`` first.

        The usual member (a header in the buffer, ASCII, nothing to apply) is taken in this loop
        alone; anything else goes through :meth:`_member`, which reads what tarfile reads.
        """
        sha256 = hashlib.sha256
        charge = meter.entries
        unpack = _HEADER.unpack_from
        adler = zlib.adler32
        numbers = self._numbers
        built = Builder()
        add = built.add
        next_header = 0
        alone = 0  # members to take one at a time before a run is tried again
        while True:
            data = self._data
            gap = next_header - self._base
            fast = self._pos <= gap and gap + BLOCK <= len(data) and not self._global
            if fast and alone <= 0:
                run = plain_run(data, gap)
                if run is not None:
                    charge(run.count)
                    kinds = run.kinds.translate(_KIND_TABLE)
                    built.extend(run.paths, run.lengths, kinds, run.numbers, run.digests, run.links)
                    self.last = run.last
                    self._pos = run.end
                    next_header = self._base + run.end
                    continue
                alone = MIN_RUN
            alone -= 1
            if fast:
                header = data[gap : gap + BLOCK]
                raw_name, mode, uid, gid, size, mtime, kind, link, prefix = unpack(header)
                fast = kind in _PLAIN and not prefix[0] and header.isascii()
            if fast:
                try:
                    checksum = int(header[148:156].split(b"\0", 1)[0], 8)
                    length = int(size.split(b"\0", 1)[0], 8)
                except ValueError:
                    checksum = length = -1
                summed = adler(header[156:], adler(_SPACES, adler(header[:148]))) & 0xFFFF
                fast = checksum == summed - 1 and length >= 0 and not (kind == b"\0" and raw_name.endswith(b"/\0"))
            if not fast:  # the general reader, which also tells the end and every error
                self._skip_to(next_header, f"entry {self.last!r}")
                member, next_header = self._member()
                if member is None:
                    return built.done()
                self.last = member.name
                charge()
                if member.sparse is not None:
                    meter.bytes(member.holes())
                built.add_entry(entry_of(member, self.digest(member, sha256) if member.isreg() else ""))
                continue
            name = raw_name.split(b"\0", 1)[0]
            if kind == b"5":
                name = name.rstrip(b"/")
            self.last = name.decode("ascii")
            charge()
            start = gap + BLOCK
            self._pos = start
            next_header = self._base + start
            digest = NO_DIGEST
            if kind in _REGULAR:
                end = start + length
                if end <= len(data):
                    digest = sha256(self._view[start:end]).digest()
                    self._pos = end
                else:
                    member = Member(self.last, kind, length, 0, 0, 0, 0, "", 0, next_header)
                    digest = bytes.fromhex(self.digest(member, sha256))
                next_header += _block(length)
            else:
                length = 0
            add(
                name if name[-1:] not in _UNTIDY_BYTES and name[:2] != b"./" else tidy(self.last).encode("ascii"),
                _KIND_CODES[kind],
                length,
                numbers[mode] if mode in numbers else self._number(mode),
                numbers[uid] if uid in numbers else self._number(uid),
                numbers[gid] if gid in numbers else self._number(gid),
                numbers[mtime] if mtime in numbers else self._number(mtime),
                _text(link) if link[0] else "",
                digest,
            )

    def content(self, member: Member) -> Iterator[tuple[int, memoryview]]:
        """The current member's stored content as ``(file offset, piece)``, in order; holes are not in it."""
        if self.offset != member.data:
            raise BadTar(f"entry {member.name!r}: its content was already read")
        what = f"entry {member.name!r}"
        position = 0
        for start, length in member.regions():
            if length <= 0:
                continue
            if start < position:
                raise BadTar(f"{what}: its sparse map is out of order at offset {start}")
            position = start
            for piece in self._pieces(length, what):
                yield position, piece
                position += len(piece)

    def digest(self, member: Member, hasher: Callable[[], object]) -> str:
        """The hex digest of the member's whole content (holes as zeros, as extracting it would give)."""
        digest = hasher()
        update = digest.update  # type: ignore[attr-defined]
        if member.sparse is None:
            start = member.data - self._base
            if self._pos == start and start + member.size <= len(self._data):  # all of it in the buffer
                self._pos += member.size
                digest.update(self._view[start : self._pos])  # type: ignore[attr-defined]
                return digest.hexdigest()  # type: ignore[attr-defined,no-any-return]
            for piece in self._pieces(member.size, f"entry {member.name!r}"):
                update(piece)
            return digest.hexdigest()  # type: ignore[attr-defined,no-any-return]
        position = 0
        for start, piece in self.content(member):
            _zeros(update, start - position)
            update(piece[: max(0, member.size - start)])
            position = min(member.size, start + len(piece))
        _zeros(update, member.size - position)
        return digest.hexdigest()  # type: ignore[attr-defined,no-any-return]

    def _header(self) -> tuple[bytes, int] | None:
        """The next 512-byte header and its offset, or None at the end of the archive."""
        offset = self._base + self._pos
        if len(self._data) - self._pos < BLOCK and not self._fill(BLOCK):
            if self._pos == len(self._data):
                if offset == 0:
                    raise BadTar("empty file: not a tar")
                return None  # no end marker: tarfile and GNU tar accept that
            raise BadTar(f"truncated tar header at offset {offset}, after entry {self.last!r}")
        header = self._data[self._pos : self._pos + BLOCK]
        self._pos += BLOCK
        if not _checksum_ok(header):
            if header == _ZERO_BLOCK:
                return None
            name = header[:100].split(b"\0", 1)[0][:120]
            raise BadTar(f"bad tar header checksum at offset {offset} (name field {name!r}), after entry {self.last!r}")
        return header, offset

    def _member(self) -> tuple[Member | None, int]:
        """The next member with its extended headers applied, and the offset of the header after it."""
        chain: list[tuple[bytes, bytes | dict[str, str]]] = []
        start = self.offset
        while True:
            found = self._header()
            if found is None:
                if chain:
                    raise BadTar(f"the archive ends after an extended header at offset {start}")
                return None, 0
            header, offset = found
            kind = header[156:157]
            label = _EXTENDED.get(kind)
            if label is None:
                break
            if len(chain) >= MAX_CHAIN:
                raise BadTar(f"a chain of more than {MAX_CHAIN} extended headers at offset {start}: refused")
            size = _number(header[124:136])
            self._admit(f"{label} header", size, size, offset)
            if kind == b"g":
                self.global_headers += size
                if self.global_headers > MAX_GLOBAL_HEADERS:
                    raise BadTar(
                        f"pax global headers pass {MAX_GLOBAL_HEADERS} bytes at offset {offset}: refused, "
                        "each later entry would copy them"
                    )
            body = self._take(_block(size), f"the {label} header at offset {offset}")
            if kind in (b"L", b"K"):
                chain.append((kind, body))
            else:
                chain.append((kind, self._pax(body, kind, offset)))
        return self._apply(header, offset, start, chain)

    def _pax(self, body: bytes, kind: bytes, offset: int) -> dict[str, str]:
        """The records of a pax header over the global ones (the global dict itself for a global header)."""
        headers = self._global if kind == b"g" else dict(self._global)
        pos = 0
        while match := _PAX_RECORD.match(body, pos):
            length = int(match.group(1))
            end = match.start(1) + length
            if length < 5 or end > len(body) or body[end - 1] != 0x0A or end <= match.end():
                raise BadTar(f"pax header at offset {offset}: its record at {pos} claims {length} bytes, it has not")
            keyword = match.group(2).decode("utf-8", "surrogateescape")
            headers[keyword] = body[match.end() : end - 1].decode("utf-8", "surrogateescape")
            pos = end
        if "GNU.sparse.size" in headers:  # version 0.0 keeps every region in its own pair of records
            headers["\0sparse00"] = ",".join(
                f"{a.decode()},{b.decode()}"
                for a, b in zip(_SPARSE_00[0].findall(body), _SPARSE_00[1].findall(body), strict=False)
            )
        return headers

    def _apply(
        self, header: bytes, offset: int, start: int, chain: list[tuple[bytes, bytes | dict[str, str]]]
    ) -> tuple[Member, int]:
        """The member of ``header`` with the extended headers before it applied, innermost first, as tarfile does."""
        raw_name, mode, uid, gid, size, mtime, kind, link, prefix = _HEADER.unpack_from(header)
        name = raw_name.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        if kind == b"\0" and name.endswith("/"):
            kind = b"5"  # an old V7 directory
        if kind == b"5":
            name = name.rstrip("/")
        if prefix[0] and kind not in _GNU and (prefix_text := _text(prefix)):
            name = f"{prefix_text}/{name}"
        numbers = self._numbers
        member = Member(
            name,
            kind,
            _number(size),
            numbers[mode] if mode in numbers else self._number(mode),
            numbers[uid] if uid in numbers else self._number(uid),
            numbers[gid] if gid in numbers else self._number(gid),
            numbers[mtime] if mtime in numbers else self._number(mtime),
            _text(link) if link[0] else "",
            start,
            self._base + self._pos,
        )
        if not chain and kind in _PLAIN and not self._global:  # the usual member, nothing to apply
            return member, member.data + (_block(member.size) if kind in _REGULAR else 0)
        if kind == b"S":
            self._old_sparse(member, header, offset)
            next_header = self.offset + _block(member.size)
            member.data = self.offset
            member.size = _number(header[483:495])
        else:
            next_header = member.data + (_block(member.size) if kind in _REGULAR or kind not in _SUPPORTED else 0)
            if self._global:
                _apply_pax(member, self._global)
            if kind == b"5":
                member.name = member.name.rstrip("/")
        for level, extension in reversed(chain):
            if isinstance(extension, bytes):
                value = _text(extension)
                if level == b"L":
                    member.name = value
                else:
                    member.link = value
                if member.type == b"5":
                    member.name = member.name.removesuffix("/")
                continue
            self._pax_sparse(member, extension, start)
            if level != b"g":
                _apply_pax(member, extension)
                if "size" in extension:
                    skipped = member.type in _REGULAR or member.type not in _SUPPORTED
                    next_header = member.data + (_block(member.size) if skipped else 0)
        return member, next_header

    def _sparse_blocks(self, offset: int) -> Iterator[bytes]:
        """The blocks of a sparse map, each admitted before it is read."""
        size = 0
        while True:
            size += BLOCK
            self._admit("GNU sparse map", size, BLOCK, offset)
            yield self._take(BLOCK, f"the GNU sparse map at offset {offset}")

    def _old_sparse(self, member: Member, header: bytes, offset: int) -> None:
        """An old GNU sparse member: 4 regions in the header, 21 in each extension block while a flag says more."""
        regions = [(_number(header[p : p + 12]), _number(header[p + 12 : p + 24])) for p in range(386, 482, 24)]
        more = bool(header[482])
        blocks = self._sparse_blocks(offset)
        while more:
            block = next(blocks)
            for pos in range(0, 21 * 24, 24):
                start, length = _number(block[pos : pos + 12]), _number(block[pos + 12 : pos + 24])
                if start and length:
                    regions.append((start, length))
            more = bool(block[504])
        member.sparse = regions

    def _pax_sparse(self, member: Member, headers: dict[str, str], offset: int) -> None:
        """The sparse map a pax header describes (GNU versions 0.1, 0.0 and 1.0), as tarfile takes it."""
        if "GNU.sparse.map" in headers:
            numbers = _sparse_numbers(headers["GNU.sparse.map"].split(","), offset)
        elif "GNU.sparse.size" in headers:
            pairs = headers["\0sparse00"]
            numbers = _sparse_numbers(pairs.split(",") if pairs else [], offset)
        elif headers.get("GNU.sparse.major") == "1" and headers.get("GNU.sparse.minor") == "0":
            text = bytearray()  # pax 1.0: the map is lines at the start of the member's data
            lines, wanted = 0, 1  # the number of regions, then an offset and a length for each
            blocks = self._sparse_blocks(offset)
            while lines < wanted:
                block = next(blocks)
                text += block
                lines += block.count(b"\n")
                if lines:
                    wanted = 1 + 2 * _sparse_number(text[: text.index(b"\n")], offset)
            numbers = [_sparse_number(line, offset) for line in text.split(b"\n")[1:wanted]]
            member.data = self.offset
        else:
            return
        member.sparse = list(zip(numbers[::2], numbers[1::2], strict=False))


def _sparse_number(line: bytes | bytearray | str, offset: int) -> int:
    """A number of a pax sparse map: a decimal of at most 20 digits, as 64-bit offsets and lengths are."""
    if not (line.isdigit() and len(line) <= 20):
        shown = bytes(line[:24]) if not isinstance(line, str) else line[:24].encode("utf-8", "surrogateescape")
        raise BadTar(f"GNU sparse map at offset {offset}: {shown!r} is not a number")
    return int(line)


def _sparse_numbers(texts: list[str], offset: int) -> list[int]:
    return [_sparse_number(text, offset) for text in texts]


def _apply_pax(member: Member, headers: dict[str, str]) -> None:
    """Pax records over a member's header fields, in the order tarfile applies them."""
    for keyword, value in headers.items():
        if keyword == "GNU.sparse.name":
            member.name = value
        elif keyword in ("GNU.sparse.size", "GNU.sparse.realsize"):
            member.size = _sparse_number(value, member.offset)
        elif keyword == "path":
            member.name = value.rstrip("/")
        elif keyword == "linkpath":
            member.link = value
        elif keyword in _PAX_NUMBERS:
            try:
                number = _PAX_NUMBERS[keyword](value)
            except ValueError:
                number = 0
            setattr(member, keyword, number)


def _zeros(update: Callable[[bytes], object], count: int) -> None:
    """Feed ``count`` zero bytes (a sparse file's hole) to a digest."""
    while count > 0:
        update(_ZEROS[: min(count, _CHUNK)])
        count -= _CHUNK
