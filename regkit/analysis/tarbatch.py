"""Runs of plain tar headers parsed together with numpy: the usual member costs one step of Python, not twenty.

Most members of a layer are plain: an ASCII ustar header with no prefix, no extended header before
it, numbers in octal, a tidy name, and (for a regular file) content that lies in the buffer. The
reader walks such a run only to find where each header is (its size field says where the next
one starts); the checksums, names and numbers of the whole run are then checked and parsed at
once. The run ends before the first member that is not plain in every way numpy checks: that
member, and any member these checks would read differently from :class:`~regkit.analysis.tarscan.TarReader`'s
own loop, is left to that loop, so the listing is the same entry for entry (``tests/test_tarscan.py``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

BLOCK = 512
MIN_RUN = 32  # members: below that, numpy's cost per call outweighs what it saves
MAX_RUN = 4096  # members gathered at a time (2 MiB of headers)
_REGULAR = frozenset(b"0\x007")  # typeflags of a plain regular file (as ints)
_PLAIN = frozenset(b"0\x007123456")  # typeflags a member header describes on its own (sparse "S" is not plain)
_ASCII_0, _ASCII_7, _SPACE = 0x30, 0x37, 0x20
_NUMBER_FIELDS = ((100, 108), (108, 116), (116, 124), (136, 148), (148, 156))  # mode, uid, gid, mtime, checksum
_NO_DIGEST = bytes(32)


@dataclass
class Run:
    """A run of plain members: their columns, and where the header after the run is."""

    count: int
    paths: bytes
    lengths: list[int]
    kinds: bytes  # typeflags
    numbers: np.ndarray  # (count, 5): size (0 unless a regular file), mode, uid, gid, mtime
    links: dict[int, str]
    digests: bytes
    end: int  # offset in the buffer of the header after the run
    last: str  # the last member's name


def _walk(data: bytes, start: int) -> tuple[list[int], list[int]]:
    """Offsets and sizes of the headers from ``start`` while each is whole in ``data`` with its content."""
    offsets: list[int] = []
    sizes: list[int] = []
    position, limit = start, len(data)
    while len(offsets) < MAX_RUN and position + BLOCK <= limit:
        kind = data[position + 156]
        if kind not in _PLAIN:
            break
        try:
            size = int(data[position + 124 : position + 136].split(b"\0", 1)[0], 8)
        except ValueError:
            break  # an end block (no digits at all), or a field the loop reads its own way
        if kind in _REGULAR:
            if size < 0 or position + BLOCK + size > limit:
                break
            following = position + BLOCK + -(-size // BLOCK) * BLOCK
        else:
            size, following = 0, position + BLOCK  # tarscan ignores other members' size fields
        offsets.append(position)
        sizes.append(size)
        position = following
    return offsets, sizes


def _octal(fields: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values of octal number fields as ``int(field.split(b"\\0")[0], 8)`` reads them, and which it reads plainly.

    A field is plain when, before its first NUL, it holds one run of octal digits with at most spaces
    around it; any other field (base-256, signs, underscores, tabs, no digits) is not, and its member
    goes to the general reader.
    """
    import numpy as np

    width = fields.shape[1]
    column = np.arange(width)
    ended = np.where((fields == 0).any(axis=1), (fields == 0).argmax(axis=1), width)
    inside = column < ended[:, None]
    digit = (fields >= _ASCII_0) & (fields <= _ASCII_7) & inside
    space = (fields == _SPACE) & inside
    count = digit.sum(axis=1)
    first = np.where(count > 0, digit.argmax(axis=1), 0)
    last = np.where(count > 0, width - 1 - digit[:, ::-1].argmax(axis=1), -1)
    plain = (count > 0) & ((digit | space).sum(axis=1) == ended) & (last - first + 1 == count)
    # Each digit weighs 8 to the power of the digits after it.
    weights = np.where(digit, np.left_shift(np.int64(1), 3 * (last[:, None] - column).clip(0)), 0)
    values = ((fields.astype(np.int64) - _ASCII_0) * weights).sum(axis=1)
    return values, plain


def plain_run(data: bytes, start: int) -> Run | None:
    """The run of plain members whose first header is at ``start`` in ``data``, or None if it is too short."""
    offsets, sizes = _walk(data, start)
    if len(offsets) < MIN_RUN:
        return None
    import numpy as np

    count = len(offsets)
    # Headers lie at whole blocks from the first: rows of the buffer seen as blocks, not a byte gather.
    blocks = (offsets[-1] - start) // BLOCK + 1
    rows = np.frombuffer(data, np.uint8, blocks * BLOCK, start).reshape(blocks, BLOCK)
    headers = rows[(np.asarray(offsets) - start) // BLOCK]
    kinds = headers[:, 156]
    plain = headers.max(axis=1) < 0x80  # ASCII
    plain &= headers[:, 345] == 0  # no prefix
    # mode, uid, gid, mtime and the checksum, each padded to 12 bytes with NULs: one parse for all.
    fields = np.zeros((count, len(_NUMBER_FIELDS), 12), np.uint8)
    for column, (low, high) in enumerate(_NUMBER_FIELDS):
        fields[:, column, : high - low] = headers[:, low:high]
    values, readable = _octal(fields.reshape(-1, 12))
    values, readable = values.reshape(count, -1), readable.reshape(count, -1)
    numbers = np.zeros((count, 5), np.int64)
    numbers[:, 1:] = values[:, :4]
    summed = headers.sum(axis=1, dtype=np.int64) - headers[:, 148:156].sum(axis=1, dtype=np.int64) + 8 * _SPACE
    plain &= readable.all(axis=1) & (values[:, 4] == summed)
    names = headers[:, :100]
    lengths = np.where((names == 0).any(axis=1), (names == 0).argmax(axis=1), 100)
    directory = kinds == ord("5")
    # A directory's trailing slash is dropped (one; names with more, or other untidy names, are the loop's).
    lengths = lengths - (directory & (names[np.arange(len(offsets)), (lengths - 1).clip(0)] == ord("/")))
    tail = names[np.arange(len(offsets)), (lengths - 1).clip(0)]
    plain &= (lengths > 0) & (tail != ord("/"))
    plain &= ~((names[:, 0] == ord(".")) & (names[:, 1] == ord("/")))
    stop = int(np.argmin(plain)) if not plain.all() else len(offsets)
    if stop < MIN_RUN:
        return None
    headers, names, lengths, kinds, numbers = headers[:stop], names[:stop], lengths[:stop], kinds[:stop], numbers[:stop]
    regular = np.isin(kinds, np.frombuffer(bytes(_REGULAR), np.uint8))
    numbers[:, 0] = np.where(regular, np.asarray(sizes[:stop]), 0)
    paths = names[np.arange(100) < lengths[:, None]].tobytes()  # row-major: the names one after another
    links = {
        int(i): headers[i, 157:257].tobytes().split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        for i in np.flatnonzero(headers[:, 157] != 0)
    }
    view = memoryview(data)
    sha256 = hashlib.sha256
    digests = b"".join(
        [
            sha256(view[offset + BLOCK : offset + BLOCK + size]).digest() if is_file else _NO_DIGEST
            for offset, size, is_file in zip(offsets[:stop], sizes[:stop], regular.tolist(), strict=True)
        ]
    )
    last_length = int(lengths[-1])
    last = paths[len(paths) - last_length :].decode("ascii")
    following = offsets[stop] if stop < len(offsets) else _after(offsets[-1], sizes[-1], int(kinds[-1]))
    return Run(stop, paths, lengths.tolist(), kinds.tobytes(), numbers, links, digests, following, last)


def _after(offset: int, size: int, kind: int) -> int:
    """Where the header after the member at ``offset`` is."""
    return offset + BLOCK + (-(-size // BLOCK) * BLOCK if kind in _REGULAR else 0)
